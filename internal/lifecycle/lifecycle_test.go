package lifecycle_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/lifecycle"
)

func TestWaitReady(t *testing.T) {
	var n atomic.Int32
	require.NoError(t, lifecycle.WaitReady(context.Background(), func() bool { return n.Add(1) >= 3 }, time.Millisecond))
	require.Equal(t, int32(3), n.Load())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := lifecycle.WaitReady(ctx, func() bool { return false }, time.Millisecond)
	require.ErrorIs(t, err, lifecycle.ErrNotReady)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// A request that outlives the grace is cut off: Shutdown is bounded.
func TestShutdownIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-started
	t0 := time.Now()
	require.ErrorIs(t, lifecycle.Shutdown(srv, 50*time.Millisecond), context.DeadlineExceeded)
	require.Less(t, time.Since(t0), 5*time.Second)
}
