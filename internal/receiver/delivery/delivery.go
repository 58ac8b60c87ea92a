// Package delivery takes committed events from the outbox to the driver:
// one ordered queue per chat, chats delivered concurrently, and the one retry
// stage of the receiver (exponential backoff with jitter, Retry-After
// honoured, dead letters on a permanent error or when the attempts or the
// age run out), in the spirit of alertmanager's notify/retry stage.
//
// An event that keeps failing holds up the later events of its own chat only:
// each chat has its own goroutine while it has events, and the concurrency
// limit applies to driver calls, not to the waits between them.
//
// Limitations:
//   - Every undelivered event is held in memory (they are all in the outbox
//     on disk as well); a downstream outage of days at high volume needs
//     memory in proportion.
//   - A replayed dead letter goes to the end of its chat's queue.
package delivery

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// Config of the dispatcher. Zero values mean the defaults in brackets.
type Config struct {
	// MaxAttempts before an event is dead-lettered [0 = no limit].
	MaxAttempts int
	// MaxAge of an event before it is dead-lettered [0 = no limit].
	MaxAge time.Duration
	// InitialBackoff is the wait after the first failure [1 s]; it doubles
	// with each attempt, with jitter, up to MaxBackoff [5 min].
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRetryAfter caps a Retry-After requested by the downstream [1 h].
	MaxRetryAfter time.Duration
	// Concurrency is how many driver calls run at once [64].
	Concurrency int
	// ShutdownGrace is how long in-flight calls may finish after the
	// dispatcher is told to stop [5 s].
	ShutdownGrace time.Duration
}

func (c *Config) setDefaults() {
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = c.InitialBackoff
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = time.Hour
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 5 * time.Second
	}
}

// Store is what the dispatcher needs from the outbox.
type Store interface {
	Ack(id string)
	Update(r outbox.Record)
	Dead(r outbox.Record)
}

type chatQueue struct {
	recs    []outbox.Record
	running bool
}

// Dispatcher delivers events per chat in order.
type Dispatcher struct {
	cfg   Config
	drv   driver.Driver
	store Store
	m     *metrics.Metrics
	log   *zap.Logger
	sem   chan struct{}

	mu      sync.Mutex
	chats   map[int64]*chatQueue
	runCtx  context.Context // set by Run
	callCtx context.Context
	wg      sync.WaitGroup
}

// New returns a dispatcher; call Run to start delivering.
func New(cfg Config, drv driver.Driver, store Store, m *metrics.Metrics, log *zap.Logger) *Dispatcher {
	cfg.setDefaults()
	return &Dispatcher{
		cfg:   cfg,
		drv:   drv,
		store: store,
		m:     m,
		log:   log.Named("delivery"),
		sem:   make(chan struct{}, cfg.Concurrency),
		chats: map[int64]*chatQueue{},
	}
}

// Push queues committed records (in sequence order). Safe for concurrent
// use; it never blocks on delivery.
func (d *Dispatcher) Push(recs []outbox.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range recs {
		key := r.Event.ChatID()
		q := d.chats[key]
		if q == nil {
			q = &chatQueue{}
			d.chats[key] = q
		}
		q.recs = append(q.recs, r)
		d.startLocked(key, q)
	}
}

func (d *Dispatcher) startLocked(key int64, q *chatQueue) {
	if q.running || d.runCtx == nil || d.runCtx.Err() != nil {
		return
	}
	q.running = true
	d.wg.Add(1)
	go d.runChat(key, q)
}

// Run delivers until ctx is done, then lets in-flight driver calls finish
// for up to ShutdownGrace and returns. Undelivered events stay in the
// outbox for the next start.
func (d *Dispatcher) Run(ctx context.Context) error {
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	d.mu.Lock()
	d.runCtx, d.callCtx = ctx, callCtx
	for key, q := range d.chats {
		d.startLocked(key, q)
	}
	d.mu.Unlock()

	<-ctx.Done()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d.cfg.ShutdownGrace):
		cancel()
		<-done
	}
	return nil
}

func (d *Dispatcher) runChat(key int64, q *chatQueue) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		if len(q.recs) == 0 || d.runCtx.Err() != nil {
			q.running = false
			if len(q.recs) == 0 {
				delete(d.chats, key)
			}
			d.mu.Unlock()
			return
		}
		rec := q.recs[0]
		d.mu.Unlock()

		if !d.deliver(rec) {
			d.mu.Lock()
			q.running = false
			d.mu.Unlock()
			return
		}
		d.mu.Lock()
		q.recs[0] = outbox.Record{}
		q.recs = q.recs[1:]
		d.mu.Unlock()
	}
}

// deliver is the retry stage: it returns true once rec was delivered or
// dead-lettered, false when stopped first.
func (d *Dispatcher) deliver(rec outbox.Record) bool {
	log := d.log.With(zap.String("event_id", rec.Event.ID), zap.Int64("chat_id", rec.Event.ChatID()))
	for {
		attempt := rec.Attempts + 1
		select {
		case d.sem <- struct{}{}:
		case <-d.runCtx.Done():
			return false
		}
		start := time.Now()
		err := d.drv.Deliver(driver.WithAttempt(d.callCtx, attempt), rec.Event)
		<-d.sem
		d.m.AttemptLatency.Observe(time.Since(start).Seconds())
		if err == nil {
			d.store.Ack(rec.Event.ID)
			d.m.Delivered.Inc()
			d.m.DeliveryLatency.Observe(time.Since(rec.Enqueued).Seconds())
			return true
		}
		if d.callCtx.Err() != nil {
			return false
		}
		rec.Attempts, rec.LastError = attempt, err.Error()
		if reason := d.deadReason(rec, err); reason != "" {
			log.Warn("event dead-lettered", zap.String("reason", reason), zap.Int("attempts", attempt), zap.Error(err))
			d.store.Dead(rec)
			d.m.DeadLettered.Inc()
			return true
		}
		d.store.Update(rec)
		d.m.Retried.Inc()
		wait := d.backoff(attempt, err)
		log.Info("delivery failed, will retry", zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.runCtx.Done():
			t.Stop()
			return false
		}
	}
}

func (d *Dispatcher) deadReason(rec outbox.Record, err error) string {
	switch {
	case driver.IsPermanent(err):
		return "permanent error"
	case d.cfg.MaxAttempts > 0 && rec.Attempts >= d.cfg.MaxAttempts:
		return "max attempts reached"
	case d.cfg.MaxAge > 0 && time.Since(rec.Enqueued) >= d.cfg.MaxAge:
		return "max age reached"
	}
	return ""
}

// backoff is InitialBackoff*2^(attempt-1) capped at MaxBackoff, with "equal
// jitter" (half fixed, half random) so that chats failing together do not
// retry together, or the downstream's Retry-After when that is longer.
func (d *Dispatcher) backoff(attempt int, err error) time.Duration {
	exp := d.cfg.InitialBackoff
	for i := 1; i < attempt && exp < d.cfg.MaxBackoff; i++ {
		exp *= 2
	}
	exp = min(exp, d.cfg.MaxBackoff)
	wait := exp/2 + rand.N(exp/2+1)
	if ra, ok := driver.RetryAfterOf(err); ok {
		wait = max(wait, min(ra, d.cfg.MaxRetryAfter))
	}
	return wait
}
