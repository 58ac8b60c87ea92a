package gateway

import (
	"context"
	"testing"

	"github.com/gotd/log"
	"github.com/gotd/log/logzap"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLazyLogger(t *testing.T) {
	ctx := context.Background()
	obs, logs := observer.New(zapcore.InfoLevel)
	base := log.For(newLazyLogger(logzap.New(zap.New(obs, zap.AddCaller()))))

	conn := base.Named("conn").With(log.Int("a", 1))
	left := conn.With(log.Int("b", 2))
	right := conn.Named("rpc").With(log.Int("c", 3))
	left.Debug(ctx, "dropped", log.Int("d", 4))
	require.Zero(t, logs.Len())
	eager := log.For(logzap.New(zap.New(obs))).With(log.Int("a", 1))
	derive := func(h log.Helper) func() {
		return func() { h.With(log.Int("e", 5)).Debug(ctx, "dropped", log.Int("d", 4)) }
	}
	lazyAllocs, eagerAllocs := testing.AllocsPerRun(100, derive(left)), testing.AllocsPerRun(100, derive(eager))
	require.LessOrEqual(t, lazyAllocs, 5.0, "a derived logger and a disabled record: a few small allocations, no encoding")
	require.Less(t, lazyAllocs, eagerAllocs)

	left.Info(ctx, "left", log.Int("d", 4))
	right.Warn(ctx, "right")
	all := logs.AllUntimed()
	require.Len(t, all, 2)
	require.Equal(t, "left", all[0].Message)
	require.Equal(t, "conn", all[0].LoggerName)
	require.Equal(t, map[string]any{"a": int64(1), "b": int64(2), "d": int64(4)}, all[0].ContextMap())
	require.Contains(t, all[0].Caller.File, "lazylog_test.go", "the caller is the call site")
	require.Equal(t, "right", all[1].Message)
	require.Equal(t, "conn.rpc", all[1].LoggerName)
	require.Equal(t, zapcore.WarnLevel, all[1].Level)
	require.Equal(t, map[string]any{"a": int64(1), "c": int64(3)}, all[1].ContextMap(), "siblings do not share attributes")
	require.Contains(t, all[1].Caller.File, "lazylog_test.go")
}
