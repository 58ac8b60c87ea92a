package delivery

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

type fakeStore struct {
	mu      sync.Mutex
	acked   []string
	updated []outbox.Record
	dead    []outbox.Record
}

func (s *fakeStore) Ack(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked = append(s.acked, id)
}

func (s *fakeStore) Update(r outbox.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updated = append(s.updated, r)
}

func (s *fakeStore) Dead(r outbox.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = append(s.dead, r)
}

func (s *fakeStore) counts() (acked, dead int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked), len(s.dead)
}

func rec(seq uint64, chat int64) outbox.Record {
	return outbox.Record{Seq: seq, Enqueued: time.Now(), Event: event.Event{
		ID: fmt.Sprint(seq), Type: event.TypeMessage, Chat: &event.Chat{ID: chat},
	}}
}

// run starts d.Run; cancel stops it, done is closed when it returned.
func run(d *Dispatcher) (cancel context.CancelFunc, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan struct{})
	go func() {
		defer close(c)
		_ = d.Run(ctx)
	}()
	return cancel, c
}

func newDispatcher(t *testing.T, cfg Config, drv driver.Driver, st Store) *Dispatcher {
	return New(cfg, drv, st, metrics.New(func() float64 { return 0 }), zaptest.NewLogger(t))
}

func start(t *testing.T, cfg Config, drv driver.Driver, st Store) *Dispatcher {
	t.Helper()
	d := newDispatcher(t, cfg, drv, st)
	cancel, done := run(d)
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return d
}

func TestOrderPerChatAndIsolation(t *testing.T) {
	var mu sync.Mutex
	var got []string
	failA := 3
	drv := driver.Func(func(_ context.Context, ev event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if ev.ChatID() == 1 && failA > 0 {
			failA--
			return errors.New("503")
		}
		got = append(got, ev.ID)
		return nil
	})
	st := &fakeStore{}
	d := start(t, Config{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}, drv, st)
	d.Push([]outbox.Record{rec(1, 1), rec(2, 2), rec(3, 1), rec(4, 2)})
	d.Push([]outbox.Record{rec(5, 1)})

	// Chat 2 is not held up by chat 1's retries.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	}, 2*time.Second, 5*time.Millisecond)
	mu.Lock()
	first := append([]string(nil), got[:2]...)
	mu.Unlock()
	require.Equal(t, []string{"2", "4"}, first)

	require.Eventually(t, func() bool { a, _ := st.counts(); return a == 5 }, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	var chat1 []string
	for _, id := range got {
		if id == "1" || id == "3" || id == "5" {
			chat1 = append(chat1, id)
		}
	}
	require.Equal(t, []string{"1", "3", "5"}, chat1)
	st.mu.Lock()
	defer st.mu.Unlock()
	require.Len(t, st.updated, 3)
	require.Equal(t, 3, st.updated[2].Attempts)
}

func TestDeadLetterRules(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  error
	}{
		{name: "permanent", err: driver.Permanent(errors.New("400"))},
		{name: "max attempts", cfg: Config{MaxAttempts: 2}, err: errors.New("500")},
		{name: "max age", cfg: Config{MaxAge: time.Nanosecond}, err: errors.New("500")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.InitialBackoff = time.Millisecond
			drv := driver.Func(func(_ context.Context, ev event.Event) error {
				if ev.ID == "1" {
					return tc.err
				}
				return nil
			})
			st := &fakeStore{}
			d := start(t, tc.cfg, drv, st)
			d.Push([]outbox.Record{rec(1, 7), rec(2, 7)})
			require.Eventually(t, func() bool { a, dd := st.counts(); return a == 1 && dd == 1 }, 5*time.Second, 5*time.Millisecond)
			st.mu.Lock()
			defer st.mu.Unlock()
			require.Equal(t, "1", st.dead[0].Event.ID)
			require.NotEmpty(t, st.dead[0].LastError)
			require.Equal(t, []string{"2"}, st.acked)
		})
	}
}

func TestBackoff(t *testing.T) {
	d := New(Config{InitialBackoff: time.Second, MaxBackoff: 8 * time.Second}, nil, nil, nil, zaptest.NewLogger(t))
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		got := d.backoff(attempt, errors.New("x"))
		require.GreaterOrEqual(t, got, want/2, "attempt %d", attempt)
		require.LessOrEqual(t, got, want, "attempt %d", attempt)
	}
	require.Equal(t, 30*time.Second, d.backoff(1, driver.RetryAfter(errors.New("429"), 30*time.Second)))
}

// countingStore counts acks without keeping them, for loads.
type countingStore struct{ acked atomic.Int64 }

func (s *countingStore) Ack(string)           { s.acked.Add(1) }
func (s *countingStore) Update(outbox.Record) {}
func (s *countingStore) Dead(outbox.Record)   {}

func TestBackedUpChatsDoNotCostGoroutines(t *testing.T) {
	const chats, concurrency = 10000, 8
	release := make(chan struct{})
	var inFlight atomic.Int64
	drv := driver.Func(func(ctx context.Context, _ event.Event) error {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	st := &countingStore{}
	before := runtime.NumGoroutine()
	d := start(t, Config{Concurrency: concurrency}, drv, st)
	recs := make([]outbox.Record, 0, chats)
	for i := range chats {
		recs = append(recs, rec(uint64(i+1), int64(i+1)))
	}
	d.Push(recs)

	// Every worker holds a delivery; the other chats wait in the queue,
	// not in goroutines of their own.
	require.Eventually(t, func() bool { return inFlight.Load() == concurrency }, 5*time.Second, time.Millisecond)
	require.Less(t, runtime.NumGoroutine()-before, concurrency+20)

	close(release)
	require.Eventually(t, func() bool { return st.acked.Load() == chats }, 30*time.Second, 5*time.Millisecond)
	require.Less(t, runtime.NumGoroutine()-before, concurrency+20)

	// Drained, the dispatcher lets go of what it grew for the backlog.
	require.Eventually(t, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.chats) == 0 && len(d.ready.buf) == 0
	}, 5*time.Second, time.Millisecond)
	d.Push([]outbox.Record{rec(chats+1, 1)})
	require.Eventually(t, func() bool { return st.acked.Load() == chats+1 }, 5*time.Second, time.Millisecond)
}

func TestChatInBackoffHoldsNoWorker(t *testing.T) {
	var mu sync.Mutex
	var got []string
	drv := driver.Func(func(_ context.Context, ev event.Event) error {
		if ev.ChatID() == 1 {
			return driver.RetryAfter(errors.New("429"), time.Hour)
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev.ID)
		return nil
	})
	st := &fakeStore{}
	// One worker: chat 1 waiting out its Retry-After must not keep it.
	d := start(t, Config{Concurrency: 1, InitialBackoff: time.Hour}, drv, st)
	d.Push([]outbox.Record{rec(1, 1), rec(2, 1), rec(3, 2), rec(4, 3), rec(5, 2)})
	require.Eventually(t, func() bool { a, _ := st.counts(); return a == 3 }, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"3", "4", "5"}, got)
	st.mu.Lock()
	defer st.mu.Unlock()
	require.Len(t, st.updated, 1)
	require.Equal(t, "1", st.updated[0].Event.ID)
}

func TestShutdownCancelsCallsAfterGrace(t *testing.T) {
	started := make(chan struct{})
	drv := driver.Func(func(ctx context.Context, _ event.Event) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	st := &fakeStore{}
	d := newDispatcher(t, Config{ShutdownGrace: 50 * time.Millisecond}, drv, st)
	d.Push([]outbox.Record{rec(1, 1), rec(2, 1)})
	cancel, done := run(d)
	<-started
	t0 := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the grace period")
	}
	require.GreaterOrEqual(t, time.Since(t0), 50*time.Millisecond)
	// The cut-short attempt is neither a retry nor a dead letter, and the
	// chat's next event was not started.
	st.mu.Lock()
	defer st.mu.Unlock()
	require.Empty(t, st.updated)
	require.Empty(t, st.dead)
	require.Empty(t, st.acked)
}

func TestShutdownLetsInFlightCallsFinish(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	drv := driver.Func(func(ctx context.Context, ev event.Event) error {
		if ev.ID == "1" {
			close(started)
			<-finish
			return ctx.Err()
		}
		return nil
	})
	st := &fakeStore{}
	d := newDispatcher(t, Config{ShutdownGrace: 5 * time.Second}, drv, st)
	d.Push([]outbox.Record{rec(1, 1), rec(2, 1)})
	cancel, done := run(d)
	<-started
	cancel()
	time.Sleep(20 * time.Millisecond)
	close(finish)
	<-done
	// The call in flight completed within the grace period and was acked;
	// the next event of the chat waits for the next start.
	st.mu.Lock()
	defer st.mu.Unlock()
	require.Equal(t, []string{"1"}, st.acked)
}

// BenchmarkDelivery pushes one event per iteration, to 1000 chats in turn,
// with at most 1024 waiting, through a driver that accepts everything: the
// dispatcher's own cost per event (allocations included).
func BenchmarkDelivery(b *testing.B) {
	drv := driver.Func(func(context.Context, event.Event) error { return nil })
	st := &countingStore{}
	d := New(Config{}, drv, st, metrics.New(func() float64 { return 0 }), zap.NewNop())
	cancel, done := run(d)
	defer func() {
		cancel()
		<-done
	}()
	chats := make([]event.Chat, 1000)
	batch := make([]outbox.Record, 1)
	now := time.Now()
	b.ReportAllocs()
	n := int64(0)
	for b.Loop() {
		c := &chats[n%int64(len(chats))]
		c.ID = n%int64(len(chats)) + 1
		batch[0] = outbox.Record{Seq: uint64(n), Enqueued: now, Event: event.Event{ID: "e", Type: event.TypeMessage, Chat: c}}
		d.Push(batch)
		n++
		// A bounded backlog, as in a steady stream.
		for n-st.acked.Load() > 1024 {
			runtime.Gosched()
		}
	}
	for st.acked.Load() < n {
		runtime.Gosched()
	}
}
