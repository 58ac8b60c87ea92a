package webhook

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Settings is the http driver's part of the receiver's configuration: the
// receiver's Config holds it under envPrefix DRIVER_HTTP_, so the driver
// owns its variables, their defaults and their checks.
type Settings struct {
	URL          string        `env:"URL" usage:"URL the http driver POSTs events to (required with DRIVER=http)"`
	Secret       string        `env:"SECRET" secret:"true" usage:"Standard Webhooks signing secret, whsec_<base64> or raw; empty = unsigned"`
	Timeout      time.Duration `env:"TIMEOUT" envDefault:"10s" usage:"timeout of one delivery attempt"`
	Headers      []string      `env:"HEADERS" secret:"true" usage:"extra request headers, comma-separated Name=value pairs"`
	APIKey       string        `env:"API_KEY" secret:"true" usage:"API key sent in DRIVER_HTTP_API_KEY_HEADER; empty = none"`
	APIKeyHeader string        `env:"API_KEY_HEADER" envDefault:"X-API-Key" usage:"header that carries DRIVER_HTTP_API_KEY"`
}

// Validate checks what is wrong whatever the driver (it runs with the rest
// of the configuration); Check adds what DRIVER=http needs.
func (s *Settings) Validate() error {
	var errs []error
	if _, err := parseHeaders(s.Headers); err != nil {
		errs = append(errs, err)
	}
	if s.Timeout < 0 {
		errs = append(errs, fmt.Errorf("DRIVER_HTTP_TIMEOUT: must not be negative, got %s", s.Timeout))
	}
	return errors.Join(errs...)
}

// Check reports what keeps the driver from starting: a missing URL.
func (s *Settings) Check() error {
	if s.URL == "" {
		return errors.New("DRIVER_HTTP_URL: required with DRIVER=http")
	}
	return nil
}

// FromSettings builds the driver from s.
func FromSettings(s Settings, log *zap.Logger) (*Driver, error) {
	headers, err := parseHeaders(s.Headers)
	if err != nil {
		return nil, err
	}
	if s.APIKey != "" {
		headers[s.APIKeyHeader] = s.APIKey
	}
	return New(Config{URL: s.URL, Secret: s.Secret, Timeout: s.Timeout, Headers: headers}, log)
}

// parseHeaders parses DRIVER_HTTP_HEADERS; errors never show the values.
func parseHeaders(list []string) (map[string]string, error) {
	out := make(map[string]string, len(list))
	for i, kv := range list {
		name, value, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("DRIVER_HTTP_HEADERS: item %d is not Name=value", i+1)
		}
		out[name] = strings.TrimSpace(value)
	}
	return out, nil
}
