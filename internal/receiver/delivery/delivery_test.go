package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

func start(t *testing.T, cfg Config, drv driver.Driver, st Store) *Dispatcher {
	t.Helper()
	d := New(cfg, drv, st, metrics.New(func() float64 { return 0 }), zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
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
