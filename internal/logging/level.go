package logging

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// AtLeast returns log with entries below lvl dropped. zap.IncreaseLevel
// refuses to lower a level and prints "failed to IncreaseLevel" on the
// logger's error output when asked to, so the option is applied only when
// log would pass entries below lvl (LOG_LEVEL=warn with lvl=info keeps log
// as it is). It caps chatty libraries such as gotd.
func AtLeast(log *zap.Logger, lvl zapcore.Level) *zap.Logger {
	if zapcore.LevelOf(log.Core()) >= lvl {
		return log
	}
	return log.WithOptions(zap.IncreaseLevel(lvl))
}
