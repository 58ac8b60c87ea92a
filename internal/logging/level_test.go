package logging

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestAtLeastNeverLowersOrComplains(t *testing.T) {
	for _, tc := range []struct {
		name      string
		level     zapcore.Level
		cap       zapcore.Level
		debugSeen bool
		infoSeen  bool
	}{
		{"debug capped at info", zapcore.DebugLevel, zapcore.InfoLevel, false, true},
		{"info capped at info", zapcore.InfoLevel, zapcore.InfoLevel, false, true},
		{"warn capped at info", zapcore.WarnLevel, zapcore.InfoLevel, false, false},
		{"error capped at info", zapcore.ErrorLevel, zapcore.InfoLevel, false, false},
		{"warn capped at warn", zapcore.WarnLevel, zapcore.WarnLevel, false, false},
		{"error capped at warn", zapcore.ErrorLevel, zapcore.WarnLevel, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&out), tc.level)
			log := AtLeast(zap.New(core, zap.ErrorOutput(zapcore.AddSync(&errOut))), tc.cap)
			log.Debug("debug-entry")
			log.Info("info-entry")
			log.Error("error-entry")
			require.Empty(t, errOut.String(), "no 'failed to IncreaseLevel'")
			require.Equal(t, tc.debugSeen, bytes.Contains(out.Bytes(), []byte("debug-entry")))
			require.Equal(t, tc.infoSeen, bytes.Contains(out.Bytes(), []byte("info-entry")))
			require.Contains(t, out.String(), "error-entry")
		})
	}
}
