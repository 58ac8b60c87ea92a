package natslimit

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/gotd/td/tgerr"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Flood spreads one bot's FLOOD_WAITs between replicas (it implements
// gateway.FloodGate).
type Flood struct {
	b   *Buckets
	bot string
	log *zap.Logger

	mu     sync.Mutex
	until  time.Time
	change chan struct{} // closed when until moves
}

// NewFlood returns the flood gate of bot; Run follows the other replicas'
// reports.
func (b *Buckets) NewFlood(bot int64, log *zap.Logger) *Flood {
	return &Flood{b: b, bot: strconv.FormatInt(bot, 10), log: log, change: make(chan struct{})}
}

func (f *Flood) extend(until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if until.After(f.until) {
		f.until = until
		close(f.change)
		f.change = make(chan struct{})
	}
}

// Wait implements gateway.FloodGate: it returns at once unless a
// FLOOD_WAIT of this bot is in force; then it waits for its end, or
// returns a FLOOD_WAIT error when ctx's deadline comes first.
func (f *Flood) Wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		until, change := f.until, f.change
		f.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
			secs := int((d + time.Second - 1) / time.Second)
			return tgerr.New(420, fmt.Sprintf("FLOOD_WAIT_%d", secs))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-change:
			t.Stop()
		}
	}
}

// Report implements gateway.FloodGate: the wait holds this replica at
// once and the others as soon as they see the key.
func (f *Flood) Report(ctx context.Context, secs int) {
	if secs <= 0 {
		return
	}
	d := time.Duration(secs) * time.Second
	until := time.Now().Add(d)
	f.extend(until)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(until.UnixMilli()))
	key := f.bot + "." + strconv.FormatUint(rand.Uint64(), 36)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := f.b.flood.Create(ctx, key, b[:], jetstream.KeyTTL(d+time.Second)); err != nil {
		f.log.Warn("share flood wait", zap.Error(err))
	}
}

// Run follows the bot's FLOOD_WAITs reported by every replica until ctx
// ends.
func (f *Flood) Run(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := f.b.flood.Watch(ctx, f.bot+".*", jetstream.IgnoreDeletes())
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
	updates:
		for {
			select {
			case <-ctx.Done():
				break updates
			case e, ok := <-w.Updates():
				if !ok {
					break updates
				}
				if e != nil && len(e.Value()) == 8 {
					f.extend(time.UnixMilli(int64(binary.BigEndian.Uint64(e.Value()))))
				}
			}
		}
		_ = w.Stop()
	}
}
