package receiver

import (
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/logdriver"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/webhook"
)

// newDriver is the one place that maps DRIVER to an implementation. A new
// driver is a package under internal/receiver/driver and a case here.
func newDriver(cfg Config, log *zap.Logger) (driver.Driver, error) {
	switch cfg.Driver {
	case "http":
		headers, err := parseHeaders(cfg.HTTPHeaders)
		if err != nil {
			return nil, err
		}
		if cfg.HTTPAPIKey != "" {
			headers[cfg.HTTPKeyHdr] = cfg.HTTPAPIKey
		}
		return webhook.New(webhook.Config{
			URL:     cfg.HTTPURL,
			Secret:  cfg.HTTPSecret,
			Timeout: cfg.HTTPTimeout,
			Headers: headers,
		}, log)
	case "log":
		return logdriver.New(log, nil), nil
	case "stdout":
		return logdriver.New(log, os.Stdout), nil
	}
	return nil, fmt.Errorf("DRIVER: %q is not one of http, log, stdout", cfg.Driver)
}
