package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClassification(t *testing.T) {
	base := errors.New("boom")
	require.False(t, IsPermanent(base))
	require.True(t, IsPermanent(Permanent(base)))
	require.True(t, IsPermanent(fmt.Errorf("deliver: %w", Permanent(base))), "survives wrapping")
	require.ErrorIs(t, Permanent(base), base)
	require.NoError(t, Permanent(nil))

	_, ok := RetryAfterOf(base)
	require.False(t, ok)
	d, ok := RetryAfterOf(fmt.Errorf("x: %w", RetryAfter(base, 3*time.Second)))
	require.True(t, ok)
	require.Equal(t, 3*time.Second, d)
	require.False(t, IsPermanent(RetryAfter(base, time.Second)))
	require.NoError(t, RetryAfter(nil, time.Second))
}

func TestAttempt(t *testing.T) {
	require.Equal(t, 1, Attempt(context.Background()))
	require.Equal(t, 4, Attempt(WithAttempt(context.Background(), 4)))
}
