package receiver

import (
	"fmt"
	"strings"
	"time"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Config is the receiver's configuration, read from the environment by
// LoadConfig (caarlos0/env). The zero value of a field means its default.
type Config struct {
	Addr         string        `env:"RECEIVER_ADDR" envDefault:":8002" usage:"listen address of /healthz, /readyz, /metrics and /admin"`
	AdminToken   string        `env:"RECEIVER_ADMIN_TOKEN" secret:"true" usage:"bearer token of the /admin endpoints; empty = admin disabled (404)"`
	ForwardTypes []string      `env:"RECEIVER_FORWARD_TYPES" envDefault:"message,callback_query" usage:"update kinds forwarded as events: message, edited_message, callback_query"`
	HandlerQueue int           `env:"RECEIVER_HANDLER_QUEUE" envDefault:"100" usage:"updates queued per chat for handlers; beyond it they are not handled (still forwarded)"`
	ConvTimeout  time.Duration `env:"RECEIVER_CONVERSATION_TIMEOUT" envDefault:"5m" usage:"how long a conversation waits for the user's answer"`
	DedupTTL     time.Duration `env:"RECEIVER_DEDUP_TTL" envDefault:"24h" usage:"how long IDs of delivered events are kept to drop replayed updates"`
	SyncCommit   bool          `env:"RECEIVER_SYNC_COMMIT" envDefault:"false" usage:"true: each update waits for the commit (fsync) of its events before gotd moves on and before delivery; false: events go to delivery at once and are group-committed with the update state, which never passes them on disk"`
	TGRetry      time.Duration `env:"RECEIVER_TG_RETRY_INTERVAL" envDefault:"0s" usage:"resend interval of Telegram requests; 0 = gotd's default (5s)"`

	Driver      string        `env:"DRIVER" envDefault:"http" usage:"where events go: http (signed webhook), log (zap log only) or stdout (JSON lines)"`
	HTTPURL     string        `env:"DRIVER_HTTP_URL" usage:"URL the http driver POSTs events to (required with DRIVER=http)"`
	HTTPSecret  string        `env:"DRIVER_HTTP_SECRET" secret:"true" usage:"Standard Webhooks signing secret, whsec_<base64> or raw; empty = unsigned"`
	HTTPTimeout time.Duration `env:"DRIVER_HTTP_TIMEOUT" envDefault:"10s" usage:"timeout of one delivery attempt"`
	HTTPHeaders []string      `env:"DRIVER_HTTP_HEADERS" secret:"true" usage:"extra request headers, comma-separated Name=value pairs"`
	HTTPAPIKey  string        `env:"DRIVER_HTTP_API_KEY" secret:"true" usage:"API key sent in DRIVER_HTTP_API_KEY_HEADER; empty = none"`
	HTTPKeyHdr  string        `env:"DRIVER_HTTP_API_KEY_HEADER" envDefault:"X-API-Key" usage:"header that carries DRIVER_HTTP_API_KEY"`
	MaxAttempts int           `env:"DRIVER_MAX_ATTEMPTS" envDefault:"0" usage:"attempts before an event is dead-lettered; 0 = no limit (DRIVER_MAX_AGE applies)"`
	MaxAge      time.Duration `env:"DRIVER_MAX_AGE" envDefault:"24h" usage:"age after which a failing event is dead-lettered; 0 = no limit"`
	BackoffMin  time.Duration `env:"DRIVER_BACKOFF_INITIAL" envDefault:"1s" usage:"wait after the first failed attempt; doubles per attempt, with jitter"`
	BackoffMax  time.Duration `env:"DRIVER_BACKOFF_MAX" envDefault:"5m" usage:"longest wait between attempts (a longer Retry-After is honoured up to 1h)"`
	Concurrency int           `env:"DRIVER_CONCURRENCY" envDefault:"64" usage:"delivery attempts in flight at once (across chats; each chat is in order)"`

	config.Log
	config.Telegram
	config.DataDir
}

// LoadConfig parses vars (the process environment when nil) into a Config
// with defaults and validates it.
func LoadConfig(vars map[string]string) (Config, error) {
	return config.LoadFrom[Config](vars)
}

// setDefaults fills the zero values of a Config built in code (LoadConfig
// already applied the envDefault tags).
func (c *Config) setDefaults() {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if c.Addr == "" {
		c.Addr = ":8002"
	}
	if len(c.ForwardTypes) == 0 {
		c.ForwardTypes = []string{string(event.TypeMessage), string(event.TypeCallbackQuery)}
	}
	if c.Driver == "" {
		c.Driver = "http"
	}
	if c.HTTPKeyHdr == "" {
		c.HTTPKeyHdr = "X-API-Key"
	}
	def(&c.ConvTimeout, 5*time.Minute)
	def(&c.DedupTTL, 24*time.Hour)
	def(&c.HTTPTimeout, 10*time.Second)
	def(&c.BackoffMin, time.Second)
	def(&c.BackoffMax, 5*time.Minute)
	if c.Level == "" {
		c.Level = "info"
	}
	if c.Format == "" {
		c.Format = "json"
	}
	if c.FileMaxSizeMB == 0 {
		c.FileMaxSizeMB = 5
	}
	if c.DCID == 0 {
		c.DCID = 2
	}
	if c.Path == "" {
		c.Path = "./data"
	}
}

// Validate implements config.Validator for the receiver's own variables.
func (c *Config) Validate() error {
	if _, err := event.ParseTypes(c.ForwardTypes); err != nil {
		return fmt.Errorf("RECEIVER_FORWARD_TYPES: %w", err)
	}
	switch c.Driver {
	case "http":
		if c.HTTPURL == "" {
			return fmt.Errorf("DRIVER_HTTP_URL: required with DRIVER=http")
		}
	case "log", "stdout":
	default:
		return fmt.Errorf("DRIVER: %q is not one of http, log, stdout", c.Driver)
	}
	if _, err := parseHeaders(c.HTTPHeaders); err != nil {
		return err
	}
	for name, v := range map[string]int{"RECEIVER_HANDLER_QUEUE": c.HandlerQueue, "DRIVER_CONCURRENCY": c.Concurrency, "DRIVER_MAX_ATTEMPTS": c.MaxAttempts} {
		if v < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", name, v)
		}
	}
	for name, v := range map[string]time.Duration{
		"RECEIVER_CONVERSATION_TIMEOUT": c.ConvTimeout, "RECEIVER_DEDUP_TTL": c.DedupTTL, "DRIVER_HTTP_TIMEOUT": c.HTTPTimeout,
		"DRIVER_MAX_AGE": c.MaxAge, "DRIVER_BACKOFF_INITIAL": c.BackoffMin, "DRIVER_BACKOFF_MAX": c.BackoffMax,
		"RECEIVER_TG_RETRY_INTERVAL": c.TGRetry,
	} {
		if v < 0 {
			return fmt.Errorf("%s: must not be negative, got %s", name, v)
		}
	}
	return nil
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
