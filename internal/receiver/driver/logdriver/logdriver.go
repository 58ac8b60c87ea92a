// Package logdriver is a driver that delivers events to the log (and
// optionally a writer such as stdout) instead of a service: for trying the
// receiver out, and for deployments where something tails its output.
package logdriver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Driver logs every event; with a writer it also prints each event as one
// JSON line. It never fails unless the writer does.
type Driver struct {
	log *zap.Logger
	mu  sync.Mutex
	w   io.Writer
}

// New returns a driver logging to log and, when w is not nil, writing JSON
// lines to w.
func New(log *zap.Logger, w io.Writer) *Driver {
	return &Driver{log: log.Named("driver.log"), w: w}
}

// Deliver implements driver.Driver.
func (d *Driver) Deliver(_ context.Context, ev event.Event) error {
	d.log.Info("event", zap.String("event_id", ev.ID), zap.String("type", string(ev.Type)), zap.Int64("chat_id", ev.ChatID()))
	if d.w == nil {
		return nil
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return nil
}
