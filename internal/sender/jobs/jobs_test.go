package jobs

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

func openStore(t *testing.T, path string) *store.Store {
	st, err := store.Open(path)
	require.NoError(t, err)
	return st
}

func items(n int) []store.Item {
	out := make([]store.Item, n)
	for i := range out {
		out[i] = store.Item{Recipient: send.Recipient{ChatID: int64(i + 1)}, RandomID: int64(1000 + i)}
	}
	return out
}

// runUntilDone runs r until the job is done.
func runUntilDone(t *testing.T, r *Runner, st *store.Store, id string) store.Job {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var j store.Job
	require.Eventually(t, func() bool {
		var err error
		j, err = st.Job(id)
		return err == nil && j.Status == store.JobDone
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	return j
}

func TestJobOutcomes(t *testing.T) {
	defer goleak.VerifyNone(t)
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	defer st.Close()
	var mu sync.Mutex
	attempts := map[int64]int{}
	sender := SenderFunc(func(_ context.Context, req send.Request, _ int64) (send.Result, error) {
		mu.Lock()
		attempts[req.ChatID]++
		n := attempts[req.ChatID]
		mu.Unlock()
		switch req.ChatID {
		case 2: // one long flood wait, then fine
			if n == 1 {
				return send.Result{}, &send.Error{Kind: send.KindFlood, Code: "flood_wait", RetryAfter: 10 * time.Millisecond}
			}
		case 3:
			return send.Result{}, &send.Error{Kind: send.KindRefused, Code: "blocked_by_user", Message: "USER_IS_BLOCKED"}
		case 4: // never reachable: gives up after MaxAttempts
			return send.Result{}, send.Unavailable("down", nil)
		}
		require.Equal(t, "hello", req.Text)
		return send.Result{ChatID: req.ChatID, MessageID: int(req.ChatID) * 10, Date: 1}, nil
	})
	r := New(Config{Workers: 3, MaxAttempts: 3, RetryPause: time.Millisecond}, st, sender, metrics.New().ForBot("1"), zaptest.NewLogger(t))
	created, err := r.Submit(store.Job{ID: "j1", Template: &send.Request{Text: "hello"}}, items(5))
	require.NoError(t, err)
	require.True(t, created)
	created, err = r.Submit(store.Job{ID: "j1"}, items(5))
	require.NoError(t, err)
	require.False(t, created, "same ID: nothing new")

	j := runUntilDone(t, r, st, "j1")
	require.Equal(t, 3, j.Sent)
	require.Equal(t, 2, j.Failed)
	got, err := st.Items("j1", 0, 10)
	require.NoError(t, err)
	require.Equal(t, store.ItemSent, got[0].Status)
	require.Equal(t, 10, got[0].MessageID)
	require.Equal(t, store.ItemSent, got[1].Status)
	require.Equal(t, 2, got[1].Attempts)
	require.Equal(t, "blocked_by_user", got[2].Error.Code)
	require.Equal(t, 1, got[2].Attempts)
	require.Equal(t, store.ItemFailed, got[3].Status)
	require.Equal(t, 3, got[3].Attempts)
	require.Zero(t, r.depth.Load())
}

// TestStopAndResume: a stop in the middle of a job commits what was sent;
// the next Run sends the rest, each recipient once, with its stored
// random_id.
func TestStopAndResume(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "s.db")
	st := openStore(t, path)
	var mu sync.Mutex
	sent := map[int64]int64{} // chat -> random id
	var calls atomic.Int64
	sender := SenderFunc(func(ctx context.Context, req send.Request, randomID int64) (send.Result, error) {
		calls.Add(1)
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		_, dup := sent[req.ChatID]
		require.False(t, dup, "chat %d sent twice", req.ChatID)
		sent[req.ChatID] = randomID
		return send.Result{ChatID: req.ChatID, MessageID: 1}, nil
	})
	r := New(Config{Workers: 2}, st, sender, nil, zaptest.NewLogger(t))
	_, err := r.Submit(store.Job{ID: "j", Template: &send.Request{Text: "x"}}, items(200))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return calls.Load() >= 20 }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	j, err := st.Job("j")
	require.NoError(t, err)
	require.Equal(t, store.JobRunning, j.Status)
	require.Less(t, j.Sent, 200)
	require.Equal(t, int(calls.Load()), j.Sent, "every send that happened is committed")
	require.NoError(t, st.Close())

	st = openStore(t, path)
	defer st.Close()
	r = New(Config{Workers: 4}, st, sender, nil, zaptest.NewLogger(t))
	j = runUntilDone(t, r, st, "j")
	require.Equal(t, 200, j.Sent)
	require.Len(t, sent, 200)
	for chat, rid := range sent {
		require.Equal(t, 1000+chat-1, rid)
	}
}

func TestSendAllKeepsOrder(t *testing.T) {
	r := New(Config{Workers: 4}, nil, SenderFunc(func(_ context.Context, req send.Request, _ int64) (send.Result, error) {
		if req.ChatID%2 == 0 {
			return send.Result{}, &send.Error{Kind: send.KindRefused, Code: "chat_not_found"}
		}
		return send.Result{ChatID: req.ChatID}, nil
	}), nil, zaptest.NewLogger(t))
	tasks := make([]Task, 9)
	for i := range tasks {
		tasks[i] = Task{Index: i, Request: send.Request{Recipient: send.Recipient{ChatID: int64(i)}}}
	}
	out := r.SendAll(context.Background(), tasks)
	for i, o := range out {
		require.Equal(t, i, o.Index)
		require.Equal(t, i%2 == 0, o.Err != nil)
	}
}
