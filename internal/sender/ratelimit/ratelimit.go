// Package ratelimit keeps the sender inside Telegram's limits before
// Telegram has to say so, for the whole bot, for each chat and for each
// group, applied as a gotd middleware to every message-sending RPC, so
// retries after a FLOOD_WAIT pass through the limits again and no call site
// can forget them.
//
// Each limit is two mechanisms with the same rate:
//   - a token bucket (golang.org/x/time/rate, burst 1 by default) that
//     spaces sends evenly;
//   - a sliding window of N sends per span, counted the safe way round:
//     a send takes a slot when it starts and gives it back, to be reused one
//     span later, only when its answer has arrived. Telegram (or the
//     emulator) counts each send at some moment between those two, so no
//     window on its side can ever hold more than N, whatever the network
//     jitter or the reordering of concurrent requests on the connection.
//     The bucket alone, at exactly Telegram's rate, would earn FLOOD_WAITs
//     whenever two sends one second apart arrive a millisecond closer.
//
// Limitations:
//   - The buckets live in memory: right after a restart the first sends may
//     come closer together than the limits allow across the restart.
//   - Groups and channels share the per-group bucket (Telegram documents
//     about 20 messages a minute in one group).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/clock"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
	"golang.org/x/time/rate"

	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
)

// Config sets the rates; zero or negative means no limit for that bucket.
// Bursts of 1 keep sends evenly spaced, which is what Telegram's flood
// control rewards.
type Config struct {
	GlobalPerSecond  float64
	PerChatPerSecond float64
	GroupPerMinute   float64
	Burst            int // 0 means 1
	// Clock drives the buckets and windows [the system clock]; tests pass
	// a fake one (github.com/gotd/neo).
	Clock clock.Clock
}

// Limiter is the set of buckets. The zero value is not usable: call New.
type Limiter struct {
	cfg       Config
	global    *rate.Limiter
	globalWin *window
	metrics   *metrics.Metrics

	mu        sync.Mutex
	chats     map[chatKey]*entry
	inserted  int
	sweepIdle time.Duration
}

type chatKey struct {
	kind byte // 'u', 'c' (group), 'C' (channel)
	id   int64
}

type entry struct {
	chat, group       *rate.Limiter
	chatWin, groupWin *window
	last              time.Time
}

// ErrDeadline is returned when a send would have to wait for the limits
// past the deadline of its context.
var ErrDeadline = errors.New("rate limit wait exceeds the deadline")

// sweepEvery bounds the bucket map: each time this many chats were added,
// buckets idle long enough to be full again are dropped (a full bucket is
// the same as a new one).
const sweepEvery = 4096

// New returns a Limiter; m may be nil.
func New(cfg Config, m *metrics.Metrics) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 1
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System
	}
	// A bucket idle this long is full again and a window empty again (they
	// restart from scratch without changing what may be sent).
	idle := 2 * time.Minute
	for _, perSpan := range []struct {
		rate float64
		span time.Duration
	}{{cfg.PerChatPerSecond, time.Second}, {cfg.GroupPerMinute, time.Minute}} {
		if perSpan.rate > 0 && perSpan.rate < float64(cfg.Burst) {
			idle = max(idle, 2*time.Duration(float64(cfg.Burst)/perSpan.rate*float64(perSpan.span)))
		}
	}
	return &Limiter{
		cfg:       cfg,
		global:    rate.NewLimiter(limit(cfg.GlobalPerSecond), cfg.Burst),
		globalWin: newWindow(cfg.GlobalPerSecond, time.Second, cfg.Clock),
		metrics:   m,
		chats:     map[chatKey]*entry{},
		sweepIdle: idle,
	}
}

func limit(perSecond float64) rate.Limit {
	if perSecond <= 0 || math.IsInf(perSecond, 1) {
		return rate.Inf
	}
	return rate.Limit(perSecond)
}

// Handle implements telegram.Middleware.
func (l *Limiter) Handle(next tg.Invoker) telegram.InvokeFunc {
	return func(ctx context.Context, input bin.Encoder, output bin.Decoder) error {
		peer, ok := SendTarget(input)
		if !ok {
			return next.Invoke(ctx, input, output)
		}
		release, err := l.Acquire(ctx, peer)
		if err != nil {
			return err
		}
		// Failed sends count too: Telegram may have counted them.
		defer release()
		return next.Invoke(ctx, input, output)
	}
}

// SendTarget returns the chat a message-sending request writes to.
func SendTarget(input bin.Encoder) (tg.InputPeerClass, bool) {
	switch r := input.(type) {
	case *tg.MessagesSendMessageRequest:
		return r.Peer, true
	case *tg.MessagesSendMediaRequest:
		return r.Peer, true
	case *tg.MessagesSendMultiMediaRequest:
		return r.Peer, true
	case *tg.MessagesForwardMessagesRequest:
		return r.ToPeer, true
	}
	return nil, false
}

// Acquire blocks until a message to peer is within every limit, or ctx
// ends. The caller sends, then calls release once the answer is in. The
// chat's own limits come first so that a send waiting for a busy chat does
// not hold a slot of the global limit meanwhile.
func (l *Limiter) Acquire(ctx context.Context, peer tg.InputPeerClass) (release func(), err error) {
	e := l.entry(peer)
	if e == nil && l.globalWin == nil && l.global.Limit() == rate.Inf {
		return noRelease, nil // no limit applies: nothing to take or give back
	}
	var held []*window
	release = func() {
		now := l.cfg.Clock.Now()
		for _, w := range held {
			w.release(now)
		}
	}
	// The bucket first: a slot of the window is held from its acquisition
	// to the answer, so it must not wait in the bucket's queue meanwhile.
	take := func(bucket string, w *window, lim *rate.Limiter) error {
		if lim != nil && lim.Limit() != rate.Inf {
			if err := l.timed(bucket, func() error { return l.waitBucket(ctx, bucket, lim) }); err != nil {
				return err
			}
		}
		if w == nil {
			return nil
		}
		if err := l.timed(bucket, func() error { return w.acquire(ctx) }); err != nil {
			return err
		}
		held = append(held, w)
		return nil
	}
	if e != nil {
		if err := take("chat", e.chatWin, e.chat); err != nil {
			release()
			return nil, err
		}
		if e.group != nil {
			if err := take("group", e.groupWin, e.group); err != nil {
				release()
				return nil, err
			}
		}
	}
	if err := take("global", l.globalWin, l.global); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

func noRelease() {}

// waitBucket is lim.Wait(ctx) on the limiter's clock: it takes a token,
// waiting for it if need be, and fails at once with ErrDeadline, taking
// nothing, when the wait would outlast ctx's deadline.
func (l *Limiter) waitBucket(ctx context.Context, bucket string, lim *rate.Limiter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.cfg.Clock.Now()
	r := lim.ReserveN(now, 1) // burst >= 1: always OK
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	// The deadline is wall time, like every context's.
	if deadline, ok := ctx.Deadline(); ok && d > time.Until(deadline) {
		r.CancelAt(now)
		return fmt.Errorf("%w (%s): a wait of %s", ErrDeadline, bucket, d)
	}
	if err := sleep(ctx, l.cfg.Clock, d); err != nil {
		r.CancelAt(l.cfg.Clock.Now())
		return err
	}
	return nil
}

// sleep waits for d to pass on c, or for ctx to end.
func sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	t := c.Timer(d)
	defer clock.StopTimer(t)
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Limiter) timed(bucket string, wait func() error) error {
	start := l.cfg.Clock.Now()
	err := wait()
	if l.metrics != nil {
		l.metrics.RateLimitWait.WithLabelValues(bucket).Observe(l.cfg.Clock.Now().Sub(start).Seconds())
	}
	return err
}

func keyOf(peer tg.InputPeerClass) (chatKey, bool) {
	switch p := peer.(type) {
	case *tg.InputPeerUser:
		return chatKey{'u', p.UserID}, true
	case *tg.InputPeerChat:
		return chatKey{'c', p.ChatID}, true
	case *tg.InputPeerChannel:
		return chatKey{'C', p.ChannelID}, true
	}
	return chatKey{}, false
}

// entry returns the buckets of peer's chat, nil when no per-chat or
// per-group limit applies to it (then no bucket is kept for it either).
func (l *Limiter) entry(peer tg.InputPeerClass) *entry {
	k, ok := keyOf(peer)
	if !ok || (l.cfg.PerChatPerSecond <= 0 && (k.kind == 'u' || l.cfg.GroupPerMinute <= 0)) {
		return nil
	}
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.chats[k]
	if e == nil {
		e = &entry{
			chat:    rate.NewLimiter(limit(l.cfg.PerChatPerSecond), l.cfg.Burst),
			chatWin: newWindow(l.cfg.PerChatPerSecond, time.Second, l.cfg.Clock),
			last:    now,
		}
		if k.kind != 'u' {
			e.group = rate.NewLimiter(limit(l.cfg.GroupPerMinute/60), l.cfg.Burst)
			e.groupWin = newWindow(l.cfg.GroupPerMinute, time.Minute, l.cfg.Clock)
		}
		l.chats[k] = e
		l.inserted++
		if l.inserted%sweepEvery == 0 {
			l.sweepLocked(now)
		}
	}
	e.last = now
	return e
}

func (l *Limiter) sweepLocked(now time.Time) {
	for k, e := range l.chats {
		if now.Sub(e.last) > l.sweepIdle {
			delete(l.chats, k)
		}
	}
}

// Len is the number of chats with a bucket in memory (for tests).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.chats)
}

// window allows n sends per span, counting each from its start to its
// answer plus span. Slots are tokens in a channel that carry the time they
// become usable; a channel is FIFO, so the slot given back first (the one
// usable soonest) is taken first.
type window struct {
	span  time.Duration
	slots chan time.Time
	clock clock.Clock
}

// newWindow is the window for perSpan sends per span, nil for no limit.
// Fractional rates round down (n >= 1), stretching the span when below 1.
func newWindow(perSpan float64, span time.Duration, c clock.Clock) *window {
	if perSpan <= 0 || math.IsInf(perSpan, 1) {
		return nil
	}
	n := int(perSpan)
	if n < 1 {
		span = time.Duration(float64(span) / perSpan)
		n = 1
	}
	w := &window{span: span, slots: make(chan time.Time, n), clock: c}
	for range n {
		w.slots <- time.Time{}
	}
	return w
}

func (w *window) acquire(ctx context.Context) error {
	var usable time.Time
	select {
	case usable = <-w.slots:
	case <-ctx.Done():
		return ctx.Err()
	}
	if d := usable.Sub(w.clock.Now()); d > 0 {
		if err := sleep(ctx, w.clock, d); err != nil {
			w.slots <- usable
			return err
		}
	}
	return nil
}

func (w *window) release(done time.Time) {
	w.slots <- done.Add(w.span)
}
