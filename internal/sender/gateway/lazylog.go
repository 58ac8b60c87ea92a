package gateway

import (
	"context"

	"github.com/gotd/log"
)

// lazyLogger is a gotd logger whose With, Named and caller skips cost
// nothing until a record is actually logged. gotd derives a logger with
// attributes (msg_id, type, ...) for every MTProto message it writes or
// reads and logs almost none of them at info; through logzap each of those
// derivations cloned a zap.Logger and encoded the fields at once. Here a
// derivation is one small node pointing at its parent (the attributes of
// the parents are not copied), and the caller skip log.For adds to every
// derived logger is a view kept inside the node (no allocation); Log walks
// the chain.
type lazyLogger struct {
	next   log.Logger
	parent *lazyLogger // nil for the root
	// One derivation: a name, attributes or a caller skip.
	name  string
	attrs []log.Attr
	skip  int
	// plus1 is this logger skipping one caller frame more.
	plus1 skipped
}

// skipped is a lazyLogger that skips one caller frame more: what log.For
// (every log.Helper) asks of each logger.
type skipped struct{ l *lazyLogger }

// withNode is a With's node with room for its attributes, so that a With
// of up to two is one allocation.
type withNode struct {
	lazyLogger
	inline [2]log.Attr
}

var (
	_ log.Wither        = (*lazyLogger)(nil)
	_ log.Namer         = (*lazyLogger)(nil)
	_ log.CallerSkipper = (*lazyLogger)(nil)
	_ log.Wither        = (*skipped)(nil)
	_ log.Namer         = (*skipped)(nil)
	_ log.CallerSkipper = (*skipped)(nil)
)

func newLazyLogger(next log.Logger) log.Logger {
	if next == nil {
		return nil
	}
	return newNode(&lazyLogger{next: next})
}

func newNode(l *lazyLogger) *lazyLogger {
	l.plus1.l = l
	return l
}

// Enabled implements log.Logger.
func (l *lazyLogger) Enabled(ctx context.Context, level log.Level) bool {
	return l.next.Enabled(ctx, level)
}

// Log implements log.Logger: only now are the names, the attributes and
// the caller skips applied, in the order they were given.
func (l *lazyLogger) Log(ctx context.Context, level log.Level, msg string, attrs ...log.Attr) {
	if !l.next.Enabled(ctx, level) {
		return
	}
	l.resolve(0).Log(ctx, level, msg, attrs...)
}

// resolve is the next logger with the names, attributes and caller skips
// of the chain applied, skipping extra frames more and this package's.
func (l *lazyLogger) resolve(extra int) log.Logger {
	var chain []*lazyLogger
	for n := l; n.parent != nil; n = n.parent {
		chain = append(chain, n)
	}
	out := l.next
	skip := extra
	var with []log.Attr
	for i := len(chain) - 1; i >= 0; i-- {
		n := chain[i]
		if n.name != "" {
			out = log.Named(out, n.name)
		}
		with = append(with, n.attrs...)
		skip += n.skip
	}
	// One frame more: the Log method sits between the caller and next.
	return log.With(log.AddCallerSkip(out, skip+1), with...)
}

// With implements log.Wither.
func (l *lazyLogger) With(attrs ...log.Attr) log.Logger {
	if len(attrs) == 0 {
		return l
	}
	w := &withNode{lazyLogger: lazyLogger{next: l.next, parent: l}}
	if len(attrs) <= len(w.inline) {
		w.attrs = w.inline[:copy(w.inline[:], attrs)]
	} else {
		w.attrs = append([]log.Attr(nil), attrs...)
	}
	return newNode(&w.lazyLogger)
}

// Named implements log.Namer.
func (l *lazyLogger) Named(name string) log.Logger {
	if name == "" {
		return l
	}
	return newNode(&lazyLogger{next: l.next, parent: l, name: name})
}

// WithCallerSkip implements log.CallerSkipper.
func (l *lazyLogger) WithCallerSkip(skip int) log.Logger {
	switch skip {
	case 0:
		return l
	case 1:
		return &l.plus1
	}
	return newNode(&lazyLogger{next: l.next, parent: l, skip: skip})
}

// node is the skipped logger as a node of its own, to derive from.
func (s *skipped) node() *lazyLogger {
	return newNode(&lazyLogger{next: s.l.next, parent: s.l, skip: 1})
}

// Enabled implements log.Logger.
func (s *skipped) Enabled(ctx context.Context, level log.Level) bool {
	return s.l.next.Enabled(ctx, level)
}

// Log implements log.Logger.
func (s *skipped) Log(ctx context.Context, level log.Level, msg string, attrs ...log.Attr) {
	if !s.l.next.Enabled(ctx, level) {
		return
	}
	s.l.resolve(1).Log(ctx, level, msg, attrs...)
}

// With implements log.Wither.
func (s *skipped) With(attrs ...log.Attr) log.Logger {
	if len(attrs) == 0 {
		return s
	}
	return s.node().With(attrs...)
}

// Named implements log.Namer.
func (s *skipped) Named(name string) log.Logger {
	if name == "" {
		return s
	}
	return s.node().Named(name)
}

// WithCallerSkip implements log.CallerSkipper.
func (s *skipped) WithCallerSkip(skip int) log.Logger {
	if skip == 0 {
		return s
	}
	return newNode(&lazyLogger{next: s.l.next, parent: s.l, skip: 1 + skip})
}
