package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"
)

func waitN(t *testing.T, l *Limiter, peers ...tg.InputPeerClass) time.Duration {
	t.Helper()
	start := time.Now()
	for _, p := range peers {
		require.NoError(t, wait(l, context.Background(), p))
	}
	return time.Since(start)
}

func TestGlobalRate(t *testing.T) {
	l := New(Config{GlobalPerSecond: 50}, nil)
	peers := make([]tg.InputPeerClass, 11)
	for i := range peers {
		peers[i] = &tg.InputPeerUser{UserID: int64(i + 1)}
	}
	// Burst 1: the first is free, the next ten wait 20 ms each.
	require.GreaterOrEqual(t, waitN(t, l, peers...), 190*time.Millisecond)
}

func TestPerChatAndGroup(t *testing.T) {
	l := New(Config{PerChatPerSecond: 10, GroupPerMinute: 600}, nil)
	user := &tg.InputPeerUser{UserID: 1}
	require.GreaterOrEqual(t, waitN(t, l, user, user, user), 190*time.Millisecond)
	// Other chats are not held up by the busy one.
	require.Less(t, waitN(t, l, &tg.InputPeerUser{UserID: 2}, &tg.InputPeerUser{UserID: 3}), 50*time.Millisecond)
	// A group has the per-group bucket on top (600/min = 10/s here).
	group := &tg.InputPeerChat{ChatID: 5}
	require.GreaterOrEqual(t, waitN(t, l, group, group), 90*time.Millisecond)
}

func TestUnlimitedAndCancel(t *testing.T) {
	l := New(Config{}, nil)
	user := &tg.InputPeerUser{UserID: 1}
	require.Less(t, waitN(t, l, user, user, user, user), 20*time.Millisecond)
	require.Zero(t, l.Len(), "no buckets are kept when no limit applies")
	groups := New(Config{GroupPerMinute: 60}, nil)
	require.NoError(t, wait(groups, context.Background(), user))
	require.Zero(t, groups.Len(), "users have no group limit")
	require.NoError(t, wait(groups, context.Background(), &tg.InputPeerChat{ChatID: 1}))
	require.Equal(t, 1, groups.Len(), "a group has its bucket without a per-chat limit")

	slow := New(Config{GlobalPerSecond: 0.1}, nil)
	require.NoError(t, wait(slow, context.Background(), user))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := wait(slow, ctx, user)
	require.ErrorIs(t, err, ErrDeadline, "a wait longer than the deadline fails at once")
}

func TestMiddlewareOnlyThrottlesSends(t *testing.T) {
	l := New(Config{GlobalPerSecond: 1}, nil)
	calls := 0
	next := tg.Invoker(invokerFunc(func(context.Context, bin.Encoder, bin.Decoder) error { calls++; return nil }))
	h := l.Handle(next)
	start := time.Now()
	for range 5 {
		require.NoError(t, h(context.Background(), &tg.UsersGetUsersRequest{}, nil))
	}
	require.Less(t, time.Since(start), 100*time.Millisecond, "non-send RPCs are not throttled")
	send := &tg.MessagesSendMessageRequest{Peer: &tg.InputPeerUser{UserID: 1}}
	require.NoError(t, h(context.Background(), send, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.Error(t, h(ctx, send, nil), "the second send within a second must wait")
	require.Equal(t, 6, calls)
}

type invokerFunc func(ctx context.Context, in bin.Encoder, out bin.Decoder) error

func (f invokerFunc) Invoke(ctx context.Context, in bin.Encoder, out bin.Decoder) error {
	return f(ctx, in, out)
}

func TestSweep(t *testing.T) {
	l := New(Config{PerChatPerSecond: 1}, nil)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range sweepEvery - 1 {
		l.entry(&tg.InputPeerUser{UserID: int64(i)})
	}
	require.Equal(t, sweepEvery-1, l.Len())
	now = now.Add(3 * time.Minute)
	l.entry(&tg.InputPeerUser{UserID: -1})
	require.Equal(t, 1, l.Len(), "idle buckets are dropped")
}

// TestWindowCountsUntilTheAnswer: a slot is reusable one span after the
// answer of the send that held it, not after its start.
func TestWindowCountsUntilTheAnswer(t *testing.T) {
	w := newWindow(2, 100*time.Millisecond)
	ctx := context.Background()
	require.NoError(t, w.acquire(ctx))
	require.NoError(t, w.acquire(ctx))
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	require.Error(t, w.acquire(short), "both slots in flight")
	time.Sleep(50 * time.Millisecond) // a slow answer
	w.release(time.Now())
	start := time.Now()
	require.NoError(t, w.acquire(ctx))
	require.GreaterOrEqual(t, time.Since(start), 90*time.Millisecond, "one span after the answer")
	require.Nil(t, newWindow(0, time.Second))
	half := newWindow(0.5, time.Second)
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
