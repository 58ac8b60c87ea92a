package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// NATS configures the optional NATS JetStream backend (internal/natsx).
// With URL empty a service keeps all its state in its own DATA_DIR (bbolt).
type NATS struct {
	URL       string `env:"NATS_URL" usage:"NATS servers, comma-separated (nats://host:4222); empty = single-process mode with local storage"`
	CredsFile string `env:"NATS_CREDS_FILE" usage:"NATS credentials file (JWT + NKey seed); empty = none"`
	Replicas  int    `env:"NATS_STREAM_REPLICAS" envDefault:"1" usage:"replicas of every stream, KV bucket and object store created (1, or 3 on a cluster)"`
}

// Enabled reports whether NATS_URL is set.
func (n *NATS) Enabled() bool { return strings.TrimSpace(n.URL) != "" }

// Servers returns the URLs of NATS_URL, trimmed, empty items dropped.
func (n *NATS) Servers() []string {
	var out []string
	for _, s := range strings.Split(n.URL, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate implements Validator.
func (n *NATS) Validate() error {
	var errs []error
	for i, s := range n.Servers() {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			// Not %q of s: a URL may carry a user and password.
			errs = append(errs, fmt.Errorf("NATS_URL: item %d is not a URL like nats://host:4222", i+1))
			continue
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("NATS_URL: item %d: scheme %q is not one of nats, tls, ws, wss", i+1, u.Scheme))
		}
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		errs = append(errs, fmt.Errorf("NATS_STREAM_REPLICAS: must be 1 to 5, got %d", n.Replicas))
	}
	if n.CredsFile != "" {
		if !n.Enabled() {
			errs = append(errs, errors.New("NATS_CREDS_FILE: set without NATS_URL"))
		} else if _, err := os.Stat(n.CredsFile); err != nil {
			errs = append(errs, fmt.Errorf("NATS_CREDS_FILE: %w", err))
		}
	}
	return errors.Join(errs...)
}
