package gateway

import (
	"context"

	"github.com/gotd/log"
)

// lazyLogger is a gotd logger whose With, Named and caller skips cost
// nothing until a record is actually logged. gotd derives a logger with
// attributes (msg_id, type, ...) for every MTProto message it writes or
// reads and logs almost none of them at info; through logzap each of those
// derivations cloned a zap.Logger and encoded the fields at once: about 60
// of the 420 allocations per send_message (BenchmarkSendMessage).
type lazyLogger struct {
	next  log.Logger
	name  []string
	attrs []log.Attr
	skip  int
}

var (
	_ log.Wither        = (*lazyLogger)(nil)
	_ log.Namer         = (*lazyLogger)(nil)
	_ log.CallerSkipper = (*lazyLogger)(nil)
)

func newLazyLogger(next log.Logger) log.Logger {
	if next == nil {
		return nil
	}
	return &lazyLogger{next: next}
}

// Enabled implements log.Logger.
func (l *lazyLogger) Enabled(ctx context.Context, level log.Level) bool {
	return l.next.Enabled(ctx, level)
}

// Log implements log.Logger: only now are the name, the attributes and the
// caller skip applied, in the order they were given.
func (l *lazyLogger) Log(ctx context.Context, level log.Level, msg string, attrs ...log.Attr) {
	if !l.next.Enabled(ctx, level) {
		return
	}
	out := l.next
	for _, n := range l.name {
		out = log.Named(out, n)
	}
	// One frame more: this method sits between the caller and next.
	out = log.With(log.AddCallerSkip(out, l.skip+1), l.attrs...)
	out.Log(ctx, level, msg, attrs...)
}

func (l *lazyLogger) clone() *lazyLogger {
	c := *l
	// Capped, so that appends of two children never share a backing array.
	c.name = c.name[:len(c.name):len(c.name)]
	c.attrs = c.attrs[:len(c.attrs):len(c.attrs)]
	return &c
}

// With implements log.Wither.
func (l *lazyLogger) With(attrs ...log.Attr) log.Logger {
	if len(attrs) == 0 {
		return l
	}
	c := l.clone()
	c.attrs = append(c.attrs, attrs...)
	return c
}

// Named implements log.Namer.
func (l *lazyLogger) Named(name string) log.Logger {
	if name == "" {
		return l
	}
	c := l.clone()
	c.name = append(c.name, name)
	return c
}

// WithCallerSkip implements log.CallerSkipper.
func (l *lazyLogger) WithCallerSkip(skip int) log.Logger {
	if skip == 0 {
		return l
	}
	c := l.clone()
	c.skip += skip
	return c
}
