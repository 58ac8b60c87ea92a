// Package lifecycle is the one shape both services share: New (validates,
// opens stores, listens), Run(ctx) (serves until ctx ends, then shuts down
// within a bound), Addr, Ready / WaitReady and Close (for a service whose
// Run was never called). It holds the helpers those methods have in
// common.
package lifecycle

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Shutdown stops srv gracefully: no new connections, requests in flight get
// up to grace to finish, then the rest are closed. It returns the error of
// the graceful part when it timed out.
func Shutdown(srv *http.Server, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	return err
}

// ErrNotReady is returned by WaitReady when ctx ends first.
var ErrNotReady = errors.New("not ready")

// WaitReady polls ready every poll until it reports true or ctx ends.
func WaitReady(ctx context.Context, ready func() bool, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for !ready() {
		select {
		case <-ctx.Done():
			return errors.Join(ErrNotReady, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
