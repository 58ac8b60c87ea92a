// Package ratelimit keeps the sender inside Telegram's limits before
// Telegram has to say so: token buckets (golang.org/x/time/rate) for the
// whole bot, for each chat and for each group, applied as a gotd middleware
// to every message-sending RPC, so retries after a FLOOD_WAIT pass through
// the buckets again and no call site can forget them.
//
// Limitations:
//   - The buckets live in memory: right after a restart the first sends may
//     come closer together than the limits allow across the restart.
//   - Groups and channels share the per-group bucket (Telegram documents
//     about 20 messages a minute in one group).
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/gotd/td/bin"
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
}

// Limiter is the set of buckets. The zero value is not usable: call New.
type Limiter struct {
	cfg     Config
	global  *rate.Limiter
	metrics *metrics.Metrics

	mu        sync.Mutex
	chats     map[chatKey]*entry
	inserted  int
	sweepIdle time.Duration
	now       func() time.Time
}

type chatKey struct {
	kind byte // 'u', 'c' (group), 'C' (channel)
	id   int64
}

type entry struct {
	chat, group *rate.Limiter
	last        time.Time
}

// sweepEvery bounds the bucket map: each time this many chats were added,
// buckets idle long enough to be full again are dropped (a full bucket is
// the same as a new one).
const sweepEvery = 4096

// New returns a Limiter; m may be nil.
func New(cfg Config, m *metrics.Metrics) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 1
	}
	idle := time.Minute
	if cfg.GroupPerMinute > 0 {
		idle = max(idle, time.Duration(float64(cfg.Burst)*60/cfg.GroupPerMinute*float64(time.Second)))
	}
	return &Limiter{
		cfg:       cfg,
		global:    rate.NewLimiter(limit(cfg.GlobalPerSecond), cfg.Burst),
		metrics:   m,
		chats:     map[chatKey]*entry{},
		sweepIdle: idle,
		now:       time.Now,
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
		if peer, ok := SendTarget(input); ok {
			if err := l.Wait(ctx, peer); err != nil {
				return err
			}
		}
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

// Wait blocks until a message to peer is within every limit, or ctx ends.
// The chat's own buckets come first so that a send waiting for a busy chat
// does not hold a token of the global bucket meanwhile.
func (l *Limiter) Wait(ctx context.Context, peer tg.InputPeerClass) error {
	e := l.entry(peer)
	if e != nil {
		if err := l.wait(ctx, "chat", e.chat); err != nil {
			return err
		}
		if e.group != nil {
			if err := l.wait(ctx, "group", e.group); err != nil {
				return err
			}
		}
	}
	return l.wait(ctx, "global", l.global)
}

func (l *Limiter) wait(ctx context.Context, bucket string, lim *rate.Limiter) error {
	if lim.Limit() == rate.Inf {
		return nil
	}
	start := time.Now()
	err := lim.Wait(ctx)
	if l.metrics != nil {
		l.metrics.RateLimitWait.WithLabelValues(bucket).Observe(time.Since(start).Seconds())
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

func (l *Limiter) entry(peer tg.InputPeerClass) *entry {
	k, ok := keyOf(peer)
	if !ok {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.chats[k]
	if e == nil {
		e = &entry{chat: rate.NewLimiter(limit(l.cfg.PerChatPerSecond), l.cfg.Burst), last: now}
		if k.kind != 'u' {
			e.group = rate.NewLimiter(limit(l.cfg.GroupPerMinute/60), l.cfg.Burst)
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
