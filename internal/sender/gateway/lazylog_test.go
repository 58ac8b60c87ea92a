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

	// A logger skipping a frame (what log.For keeps) derives like any
	// other: its frame skip, names and attributes all apply.
	skip1 := log.AddCallerSkip(conn.Logger(), 1)
	logVia(ctx, log.Named(log.With(skip1, log.Int("f", 6)), "via"))
	logVia(ctx, log.AddCallerSkip(log.AddCallerSkip(skip1, 0), 0))
	all = logs.AllUntimed()
	require.Len(t, all, 4)
	require.Equal(t, "conn.via", all[2].LoggerName)
	require.Equal(t, map[string]any{"a": int64(1), "f": int64(6)}, all[2].ContextMap())
	require.Contains(t, all[2].Caller.File, "lazylog_test.go")
	require.Contains(t, all[2].Caller.Function, "TestLazyLogger", "the frame of logVia is skipped")
	require.Equal(t, "conn", all[3].LoggerName)
	require.Equal(t, all[2].Caller.Line+1, all[3].Caller.Line)
}

// logVia logs through l from a frame of its own, which l skips.
func logVia(ctx context.Context, l log.Logger) {
	l.Log(ctx, log.LevelInfo, "via")
}

// BenchmarkLazyLoggerDerive is what gotd does for most MTProto messages:
// derive a logger with a type, then with a size, and log at debug.
func BenchmarkLazyLoggerDerive(b *testing.B) {
	ctx := context.Background()
	base := log.For(newLazyLogger(logzap.New(zap.NewNop()))).Named("mtproto").With(log.Int("conn", 1))
	b.ReportAllocs()
	for b.Loop() {
		base.With(log.Group("type", log.Int("id", 1), log.String("name", "x"))).With(log.Int("size_bytes", 10)).
			Debug(ctx, "Handle message", log.Int64("msg_id", 1))
	}
}
