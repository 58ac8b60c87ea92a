package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/receiver/lease"
)

const ttl = time.Second

// replica is one Manager on its own connection, running until stopped.
type replica struct {
	m      *lease.Manager
	conn   *natsx.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, url, name string) *replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := natsx.Connect(ctx, config.NATS{URL: url, Replicas: 1}, name, zaptest.NewLogger(t))
	require.NoError(t, err)
	m, err := lease.New(ctx, c, lease.Config{TTL: ttl, Replica: name, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	rctx, rcancel := context.WithCancel(context.Background())
	r := &replica{m: m, conn: c, cancel: rcancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = m.Run(rctx)
	}()
	t.Cleanup(func() {
		rcancel()
		<-r.done
		c.NC.Close()
	})
	return r
}

// crash stops the replica without giving anything back.
func (r *replica) crash() {
	r.conn.NC.Close()
	r.cancel()
	<-r.done
}

// hold acquires bots in the background, counting what it holds.
func (r *replica) hold(ctx context.Context, bots ...int64) {
	for _, b := range bots {
		go func() {
			for ctx.Err() == nil {
				term, err := r.m.Acquire(ctx, b)
				if err != nil {
					continue
				}
				select {
				case <-term.Done():
				case <-ctx.Done():
				}
				r.m.Yield(context.Background(), b)
			}
		}()
	}
}

func (r *replica) count(bots []int64) int {
	n := 0
	for _, b := range bots {
		if r.m.Holds(b) {
			n++
		}
	}
	return n
}

func TestStandbyTakesOverWithinTTL(t *testing.T) {
	url := natstest.Start(t).ClientURL()
	a, b := start(t, url, "a"), start(t, url, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.hold(ctx, 1)
	require.Eventually(t, func() bool { return a.m.Holds(1) }, 5*time.Second, 5*time.Millisecond)
	b.hold(ctx, 1)
	require.Eventually(t, func() bool { return b.m.Holder(1) == "a" }, 5*time.Second, 5*time.Millisecond)
	// Renewals keep it with a for longer than a TTL.
	time.Sleep(2 * ttl)
	require.True(t, a.m.Holds(1))
	require.False(t, b.m.Holds(1))

	a.crash()
	killed := time.Now()
	require.Eventually(t, func() bool { return b.m.Holds(1) }, ttl+time.Second, 5*time.Millisecond)
	t.Logf("takeover after %s", time.Since(killed))
}

func TestYieldHandsOverAtOnce(t *testing.T) {
	url := natstest.Start(t).ClientURL()
	a, b := start(t, url, "a"), start(t, url, "b")
	ctx := context.Background()
	term, err := a.m.Acquire(ctx, 7)
	require.NoError(t, err)
	b.hold(ctx, 7)
	a.m.Forget(ctx, 7)
	require.ErrorIs(t, context.Cause(term), lease.ErrLost)
	given := time.Now()
	require.Eventually(t, func() bool { return b.m.Holds(7) }, ttl, 5*time.Millisecond)
	t.Logf("handed over after %s", time.Since(given))
}

func TestLeasesSpreadOverReplicas(t *testing.T) {
	url := natstest.Start(t).ClientURL()
	bots := []int64{11, 12, 13, 14, 15, 16}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := start(t, url, "a")
	a.hold(ctx, bots...)
	require.Eventually(t, func() bool { return a.count(bots) == len(bots) }, 5*time.Second, 10*time.Millisecond)

	// Two more replicas join: each ends with two bots, each bot held once.
	b, c := start(t, url, "b"), start(t, url, "c")
	b.hold(ctx, bots...)
	c.hold(ctx, bots...)
	require.Eventually(t, func() bool {
		return a.count(bots) == 2 && b.count(bots) == 2 && c.count(bots) == 2
	}, 20*time.Second, 20*time.Millisecond)

	// One dies: the two left share its bots, three each.
	c.crash()
	require.Eventually(t, func() bool { return a.count(bots) == 3 && b.count(bots) == 3 }, 10*time.Second, 20*time.Millisecond)
}
