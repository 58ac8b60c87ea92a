package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotd/neo"
	"github.com/gotd/td/bin"
	"github.com/gotd/td/clock"
	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"
)

// fakeClock is a neo clock that also records the waits asked of it.
type fakeClock struct {
	*neo.Time
	mu    sync.Mutex
	waits []time.Duration
}

func newClock() *fakeClock {
	return &fakeClock{Time: neo.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
}

func (c *fakeClock) Timer(d time.Duration) clock.Timer {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return c.Time.Timer(d)
}

func (c *fakeClock) lastWait() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waits[len(c.waits)-1]
}

func (c *fakeClock) waited() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waits)
}

// run calls f in a goroutine and moves the clock through every wait f asks
// for until f returns; it returns f's error and the time that passed on the
// clock. Wall time plays no part, except as a guard against a hang.
func (c *fakeClock) run(t *testing.T, f func() error) (time.Duration, error) {
	t.Helper()
	start := c.Now()
	planned := c.Observe()
	done := make(chan error, 1)
	go func() { done <- f() }()
	for {
		select {
		case err := <-done:
			return c.Now().Sub(start), err
		case <-planned:
			// Observe before moving on: the next wait may be planned as
			// soon as this one is over.
			planned = c.Observe()
			c.Travel(c.lastWait())
		case <-time.After(10 * time.Second):
			t.Fatal("blocked on something other than the clock")
		}
	}
}

// pass sends to each peer in turn and returns the time that passed on the
// clock.
func (c *fakeClock) pass(t *testing.T, l *Limiter, peers ...tg.InputPeerClass) time.Duration {
	t.Helper()
	var total time.Duration
	for _, p := range peers {
		d, err := c.run(t, func() error { return wait(l, context.Background(), p) })
		require.NoError(t, err)
		total += d
	}
	return total
}

// about is d up to the rounding of x/time/rate's float arithmetic.
func about(t *testing.T, want, got time.Duration, msg string) {
	t.Helper()
	require.InDelta(t, float64(want), float64(got), float64(time.Microsecond), "%s: %s", msg, got)
}

func TestGlobalRate(t *testing.T) {
	clk := newClock()
	l := New(Config{GlobalPerSecond: 50, Clock: clk}, nil)
	peers := make([]tg.InputPeerClass, 11)
	for i := range peers {
		peers[i] = &tg.InputPeerUser{UserID: int64(i + 1)}
	}
	about(t, 200*time.Millisecond, clk.pass(t, l, peers...), "burst 1: the first is free, the next ten wait 20 ms each")
}

func TestPerChatAndGroup(t *testing.T) {
	clk := newClock()
	l := New(Config{PerChatPerSecond: 10, GroupPerMinute: 600, Clock: clk}, nil)
	user := &tg.InputPeerUser{UserID: 1}
	about(t, 200*time.Millisecond, clk.pass(t, l, user, user, user), "10 a second in one chat")
	// Other chats are not held up by the busy one.
	before := clk.waited()
	require.Zero(t, clk.pass(t, l, &tg.InputPeerUser{UserID: 2}, &tg.InputPeerUser{UserID: 3}), "other chats wait for nothing")
	require.Equal(t, before, clk.waited())
	// A group has the per-group bucket on top (600/min = 10/s here).
	group := &tg.InputPeerChat{ChatID: 5}
	about(t, 100*time.Millisecond, clk.pass(t, l, group, group), "a group's second send")
}

func TestUnlimitedAndDeadline(t *testing.T) {
	clk := newClock()
	l := New(Config{Clock: clk}, nil)
	user := &tg.InputPeerUser{UserID: 1}
	for range 4 {
		require.NoError(t, wait(l, context.Background(), user))
	}
	require.Zero(t, clk.waited(), "no limit, no wait")
	require.Zero(t, l.Len(), "no buckets are kept when no limit applies")
	groups := New(Config{GroupPerMinute: 60, Clock: clk}, nil)
	require.NoError(t, wait(groups, context.Background(), user))
	require.Zero(t, groups.Len(), "users have no group limit")
	require.NoError(t, wait(groups, context.Background(), &tg.InputPeerChat{ChatID: 1}))
	require.Equal(t, 1, groups.Len(), "a group has its bucket without a per-chat limit")

	slow := New(Config{GlobalPerSecond: 0.1, Clock: clk}, nil)
	require.NoError(t, wait(slow, context.Background(), user))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.ErrorIs(t, wait(slow, ctx, user), ErrDeadline, "a wait of 10 s past a deadline 1 s away fails at once")
	require.Zero(t, clk.waited(), "without waiting")
	// The refused send took nothing: 10 s after the first, the next is due.
	clk.Travel(10 * time.Second)
	about(t, 0, clk.pass(t, slow, user), "due 10 s after the first")
}

// A send whose context ends while it waits gives its place back.
func TestCancelWhileWaiting(t *testing.T) {
	clk := newClock()
	l := New(Config{GlobalPerSecond: 1, Clock: clk}, nil)
	user := &tg.InputPeerUser{UserID: 1}
	require.NoError(t, wait(l, context.Background(), user))
	ctx, cancel := context.WithCancel(context.Background())
	planned := clk.Observe()
	done := make(chan error, 1)
	go func() { done <- wait(l, ctx, user) }()
	<-planned
	require.Equal(t, time.Second, clk.lastWait())
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	clk.Travel(time.Second)
	about(t, 0, clk.pass(t, l, user), "one second after the first send, the cancelled one took nothing")
}

func TestMiddlewareOnlyThrottlesSends(t *testing.T) {
	clk := newClock()
	l := New(Config{GlobalPerSecond: 1, Clock: clk}, nil)
	calls := 0
	next := tg.Invoker(invokerFunc(func(context.Context, bin.Encoder, bin.Decoder) error { calls++; return nil }))
	h := l.Handle(next)
	for range 5 {
		require.NoError(t, h(context.Background(), &tg.UsersGetUsersRequest{}, nil))
	}
	require.Zero(t, clk.waited(), "non-send RPCs are not throttled")
	send := &tg.MessagesSendMessageRequest{Peer: &tg.InputPeerUser{UserID: 1}}
	require.NoError(t, h(context.Background(), send, nil))
	waited, err := clk.run(t, func() error { return h(context.Background(), send, nil) })
	require.NoError(t, err)
	about(t, time.Second, waited, "the second send within a second waits")
	require.Equal(t, 7, calls)
}

type invokerFunc func(ctx context.Context, in bin.Encoder, out bin.Decoder) error

func (f invokerFunc) Invoke(ctx context.Context, in bin.Encoder, out bin.Decoder) error {
	return f(ctx, in, out)
}

func TestSweep(t *testing.T) {
	clk := newClock()
	l := New(Config{PerChatPerSecond: 1, Clock: clk}, nil)
	for i := range sweepEvery - 1 {
		l.entry(&tg.InputPeerUser{UserID: int64(i)})
	}
	require.Equal(t, sweepEvery-1, l.Len())
	clk.Travel(3 * time.Minute)
	l.entry(&tg.InputPeerUser{UserID: -1})
	require.Equal(t, 1, l.Len(), "idle buckets are dropped")
}

// TestWindowCountsUntilTheAnswer: a slot is reusable one span after the
// answer of the send that held it, not after its start.
func TestWindowCountsUntilTheAnswer(t *testing.T) {
	clk := newClock()
	w := newWindow(2, 100*time.Millisecond, clk)
	ctx := context.Background()
	require.NoError(t, w.acquire(ctx))
	require.NoError(t, w.acquire(ctx))
	ended, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, w.acquire(ended), context.Canceled, "both slots in flight")
	clk.Travel(50 * time.Millisecond) // a slow answer
	w.release(clk.Now())
	waited, err := clk.run(t, func() error { return w.acquire(ctx) })
	require.NoError(t, err)
	require.Equal(t, 100*time.Millisecond, waited, "one span after the answer")
	require.Nil(t, newWindow(0, time.Second, clk))
	half := newWindow(0.5, time.Second, clk)
	require.Equal(t, 2*time.Second, half.span)
}

// wait acquires the limits for peer and gives them back at once.
func wait(l *Limiter, ctx context.Context, peer tg.InputPeerClass) error {
	release, err := l.Acquire(ctx, peer)
	if err != nil {
		return err
	}
	release()
	return nil
}
