package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotd/neo"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// With a fake clock, backoff and age are exact: nothing is retried before
// its wait has passed on the clock, whatever the wall time, and an event
// older than MaxAge on the clock is dead-lettered.
func TestBackoffAndAgeFollowTheClock(t *testing.T) {
	clk := neo.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var calls atomic.Int32
	drv := driver.Func(func(context.Context, event.Event) error {
		calls.Add(1)
		return errors.New("503")
	})
	st := &fakeStore{}
	d := start(t, Config{InitialBackoff: time.Minute, MaxBackoff: time.Minute, MaxAge: time.Hour, Clock: clk}, drv, st)
	r := outbox.Record{Seq: 1, Enqueued: clk.Now(), Event: event.Event{ID: "1", Type: event.TypeMessage, Chat: &event.Chat{ID: 5}}}
	d.Push([]outbox.Record{r})

	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, d.inBackoff, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // wall time passes, the clock does not
	require.Equal(t, int32(1), calls.Load(), "no retry before the backoff passed on the clock")

	for want := int32(2); want <= 3; want++ {
		require.Eventually(t, d.inBackoff, 5*time.Second, time.Millisecond)
		clk.Travel(time.Minute) // the jittered wait is at most a minute
		require.Eventually(t, func() bool { return calls.Load() == want }, 5*time.Second, time.Millisecond)
	}
	_, dead := st.counts()
	require.Zero(t, dead)

	require.Eventually(t, d.inBackoff, 5*time.Second, time.Millisecond)
	clk.Travel(time.Hour)
	require.Eventually(t, func() bool { _, dead := st.counts(); return dead == 1 }, 5*time.Second, time.Millisecond,
		"older than MaxAge on the clock: dead-lettered at its next attempt")
}

// inBackoff reports whether a chat waits on its backoff timer.
func (d *Dispatcher) inBackoff() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.chats {
		if q.state == chatBackoff {
			return true
		}
	}
	return false
}
