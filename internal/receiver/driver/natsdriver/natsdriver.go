// Package natsdriver is DRIVER=nats: the receiver delivers nothing itself;
// the events stay in stream TG_EVENTS (internal/receiver/natsstate), and
// downstream services read them with durable consumers of their own
// (README: "Scaling out"). It needs NATS_URL.
package natsdriver

import (
	"context"
	"errors"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Name is the value of DRIVER.
const Name = "nats"

// ErrNeedsNATS is the configuration error of DRIVER=nats without NATS_URL.
var ErrNeedsNATS = errors.New("DRIVER: nats needs NATS_URL")

// errNotCalled: the receiver runs no delivery with this driver.
var errNotCalled = errors.New("DRIVER=nats: events are read from stream TG_EVENTS, not delivered")

// Driver stands for DRIVER=nats in the driver table. Its Deliver is never
// called; it refuses for good if it is.
type Driver struct{}

var _ driver.Driver = Driver{}

// Deliver implements driver.Driver.
func (Driver) Deliver(context.Context, event.Event) error { return driver.Permanent(errNotCalled) }
