// Package logging builds the zap logger every binary uses: JSON or console on
// stdout at LOG_LEVEL, plus an optional rotating JSON file (LOG_FILE) kept by
// lumberjack, which is the same rotation the original service had
// (5 MiB x 10 by default) without writing our own.
package logging

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/tgbotsvc/tgbot/internal/config"
)

// New returns a logger for cfg and a function that flushes and closes it.
func New(cfg config.Log) (*zap.Logger, func(), error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(strings.ToLower(cfg.Level))); err != nil {
		return nil, nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder

	var stdoutEnc zapcore.Encoder
	switch cfg.Format {
	case "console":
		c := encCfg
		c.EncodeLevel = zapcore.CapitalColorLevelEncoder
		stdoutEnc = zapcore.NewConsoleEncoder(c)
	case "json", "":
		stdoutEnc = zapcore.NewJSONEncoder(encCfg)
	default:
		return nil, nil, fmt.Errorf("LOG_FORMAT: %q is not one of json, console", cfg.Format)
	}
	cores := []zapcore.Core{zapcore.NewCore(stdoutEnc, zapcore.Lock(os.Stdout), level)}

	closeFn := func() {}
	if cfg.File != "" {
		lj := &lumberjack.Logger{
			Filename:   cfg.File,
			MaxSize:    cfg.FileMaxSizeMB,
			MaxBackups: cfg.FileMaxBackups,
		}
		cores = append(cores, zapcore.NewCore(zapcore.NewJSONEncoder(encCfg), zapcore.AddSync(lj), level))
		closeFn = func() { _ = lj.Close() }
	}
	log := zap.New(zapcore.NewTee(cores...), zap.AddCaller())
	return log, func() {
		_ = log.Sync()
		closeFn()
	}, nil
}
