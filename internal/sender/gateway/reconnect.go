package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// readiness tells the calls that failed on the connection when the client
// is ready again. Ready() alone cannot: it still says ready for a moment
// after the connection dropped, until gotd notices the drop, so a call that
// failed on a dead connection and only checked Ready() would run again on
// the same dead connection at once, over and over.
type readiness struct {
	mu    sync.Mutex
	ready bool
	// next is closed, and replaced, each time the client becomes ready.
	next chan struct{}
}

// set records the client's state; a change to ready wakes the waiters.
func (r *readiness) set(ready bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = make(chan struct{})
	}
	if ready && !r.ready {
		close(r.next)
		r.next = make(chan struct{})
	}
	r.ready = ready
}

// nextReady is closed the next time the client becomes ready, counting
// from now.
func (r *readiness) nextReady() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = make(chan struct{})
	}
	return r.next
}

// WaitReady waits until the client is ready or ctx is done; it returns an
// unavailable error in the latter case.
func (g *Gateway) WaitReady(ctx context.Context) error {
	for {
		next := g.readiness.nextReady()
		if g.Ready() {
			return nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return send.Unavailable("the Telegram client did not reconnect within the request's time limit", ctx.Err())
		}
	}
}

const (
	// maxReconnectRetries bounds the runs of one call across reconnects.
	maxReconnectRetries = 20
	// reconnectRecheck is how long a call that failed on the connection
	// waits for a new one before it tries again on the current one (for a
	// failure that did not take the connection down).
	reconnectRecheck = time.Second
)

// whileConnected runs call, and when it fails because of the connection
// (the client not connected yet, the connection dropped before or while the
// request was on it) waits for the client's next connection and runs it
// again, until ctx is done; then the last error is returned. Only a ctx
// with a deadline waits; without one call runs once. call must be safe to
// repeat: sends keep their random_id, so Telegram drops a resend of a
// message it already has (RANDOM_ID_DUPLICATE).
func (g *Gateway) whileConnected(ctx context.Context, call func() error) error {
	if _, ok := ctx.Deadline(); !ok {
		return call()
	}
	for try := 0; ; try++ {
		// Taken before the call: a reconnection during the call counts.
		next := g.readiness.nextReady()
		err := call()
		if try == maxReconnectRetries || !connectionLost(ctx, err) {
			return err
		}
		g.log.Debug("call failed on the connection, waiting for the next one to run it again", zap.Int("try", try+1), zap.Error(err))
		recheck := time.NewTimer(reconnectRecheck)
		select {
		case <-next:
		case <-recheck.C:
		case <-ctx.Done():
			recheck.Stop()
			return err
		}
		recheck.Stop()
	}
}

// connectionLost reports whether err comes from the connection rather than
// from Telegram or ctx. A cancellation while ctx is live is the
// connection's: gotd cancels the requests on a connection that closed after
// acknowledging them, as the answer may never come.
func connectionLost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if errors.Is(err, errNotConnected) {
		return true
	}
	se := send.As(err)
	if se.Kind != send.KindUnavailable || se.Err == nil {
		return false
	}
	_, fromTelegram := tgerr.As(se.Err)
	return !fromTelegram
}
