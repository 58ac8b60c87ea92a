package receiver

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/logdriver"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/natsdriver"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/webhook"
)

// driverEntry is one value of DRIVER: what it needs from the configuration
// (check, nil when nothing) and how it is built.
type driverEntry struct {
	check func(c *Config) error
	build func(c *Config, log *zap.Logger) (driver.Driver, error)
}

// drivers is the one place that maps DRIVER to an implementation. A new
// driver is a package under internal/receiver/driver (with its settings
// struct in Config, under its own prefix) and one line here.
var drivers = map[string]driverEntry{
	"http": {
		check: func(c *Config) error { return c.HTTP.Check() },
		build: func(c *Config, log *zap.Logger) (driver.Driver, error) { return webhook.FromSettings(c.HTTP, log) },
	},
	"log": {build: func(_ *Config, log *zap.Logger) (driver.Driver, error) { return logdriver.New(log, nil), nil }},
	"stdout": {build: func(_ *Config, log *zap.Logger) (driver.Driver, error) {
		return logdriver.New(log, os.Stdout), nil
	}},
	natsdriver.Name: {
		check: func(c *Config) error {
			if !c.NATS.Enabled() {
				return natsdriver.ErrNeedsNATS
			}
			return nil
		},
		build: func(*Config, *zap.Logger) (driver.Driver, error) { return natsdriver.Driver{}, nil },
	},
}

// checkDriver validates DRIVER and what the chosen driver needs.
func checkDriver(c *Config) error {
	d, ok := drivers[c.Driver]
	if !ok {
		names := make([]string, 0, len(drivers))
		for n := range drivers {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("DRIVER: %q is not one of %s", c.Driver, strings.Join(names, ", "))
	}
	if d.check != nil {
		return d.check(c)
	}
	return nil
}

// newDriver builds the driver DRIVER names (checked by Validate).
func newDriver(cfg Config, log *zap.Logger) (driver.Driver, error) {
	if err := checkDriver(&cfg); err != nil {
		return nil, err
	}
	return drivers[cfg.Driver].build(&cfg, log)
}
