package buildinfo

import (
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/logging"
)

// LoggedConfig is a binary's configuration struct: it embeds config.Log.
type LoggedConfig interface {
	LogSettings() config.Log
}

// Setup is the start of every binary's run: it loads T from vars (the
// process environment when nil), builds the logger named after the binary,
// and logs the version and the effective configuration with secrets masked.
// The returned function flushes and closes the logger.
func Setup[T LoggedConfig](binary string, vars map[string]string) (T, *zap.Logger, func(), error) {
	cfg, err := config.LoadFrom[T](vars)
	if err != nil {
		return cfg, nil, nil, err
	}
	log, closeLog, err := logging.New(cfg.LogSettings())
	if err != nil {
		return cfg, nil, nil, err
	}
	log = log.Named(binary)
	log.Info("starting", append([]zap.Field{zap.String("version", String())}, config.Fields(&cfg)...)...)
	return cfg, log, closeLog, nil
}
