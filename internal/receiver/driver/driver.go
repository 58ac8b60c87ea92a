// Package driver is the boundary between the receiver and the company's
// other services: a Driver delivers one event, and says through its error
// whether trying again can help.
//
// Drivers do not retry: the delivery stage (internal/receiver/delivery)
// retries with backoff in one place for all of them, the way alertmanager's
// retry stage wraps its notifiers. A driver only classifies its failures:
// Permanent(err) for "never retry" (the event goes to the dead letters) and
// RetryAfter(err, d) when the other side said when to come back. Any other
// error is retryable.
package driver

import (
	"context"
	"errors"
	"time"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Driver delivers events to a downstream service.
type Driver interface {
	// Deliver sends ev once. It returns nil when the service accepted it, an
	// error wrapped by Permanent when retrying cannot succeed, and any other
	// error (optionally with RetryAfter) when a later attempt may.
	// Implementations must be safe for concurrent use.
	Deliver(ctx context.Context, ev event.Event) error
}

// Func adapts a function to Driver.
type Func func(ctx context.Context, ev event.Event) error

// Deliver implements Driver.
func (f Func) Deliver(ctx context.Context, ev event.Event) error { return f(ctx, ev) }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not retryable.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no sooner than d from now.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// RetryAfterOf returns the delay requested with RetryAfter, if any.
func RetryAfterOf(err error) (time.Duration, bool) {
	var re *retryAfterError
	if errors.As(err, &re) {
		return re.after, true
	}
	return 0, false
}

type attemptKey struct{}

// WithAttempt records the attempt number (1-based) in ctx, for drivers' logs.
func WithAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
}

// Attempt returns the attempt number recorded by WithAttempt, or 1.
func Attempt(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}
