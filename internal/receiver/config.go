package receiver

import (
	"errors"
	"fmt"
	"time"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/webhook"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Config is the receiver's configuration, read from the environment by
// LoadConfig (caarlos0/env); in code, start from Defaults().
type Config struct {
	Addr         string        `env:"RECEIVER_ADDR" envDefault:":8002" usage:"listen address of /healthz, /readyz, /metrics and /admin"`
	AdminToken   string        `env:"RECEIVER_ADMIN_TOKEN" secret:"true" usage:"bearer token of the /admin endpoints, at least 16 characters; empty = admin disabled (404)"`
	ForwardTypes []string      `env:"RECEIVER_FORWARD_TYPES" envDefault:"message,edited_message,callback_query,channel_post,edited_channel_post,my_chat_member" usage:"update kinds forwarded as events: message, edited_message, callback_query, channel_post, edited_channel_post, my_chat_member (the Bot API's default set)"`
	HandlerQueue int           `env:"RECEIVER_HANDLER_QUEUE" envDefault:"100" usage:"updates queued per chat for handlers; beyond it they are not handled (still forwarded)"`
	ConvTimeout  time.Duration `env:"RECEIVER_CONVERSATION_TIMEOUT" envDefault:"5m" usage:"how long a conversation waits for the user's answer"`
	// CallbackAutoAnswer: a button press that no handler answered gets an
	// empty answer (stopping the client's spinner) only after this long, so
	// the downstream service can answer it through the sender first.
	CallbackAutoAnswer time.Duration `env:"RECEIVER_CALLBACK_AUTO_ANSWER_AFTER" envDefault:"5s" usage:"how long a callback query nobody answered waits before the receiver answers it empty; 0 = never"`
	DedupTTL           time.Duration `env:"RECEIVER_DEDUP_TTL" envDefault:"24h" usage:"how long IDs of delivered events are kept to drop replayed updates"`
	SyncCommit         bool          `env:"RECEIVER_SYNC_COMMIT" envDefault:"false" usage:"true: each update waits for the commit (fsync) of its events before gotd moves on and before delivery; false: events go to delivery at once and are group-committed with the update state, which never passes them on disk"`
	TGRetry            time.Duration `env:"RECEIVER_TG_RETRY_INTERVAL" envDefault:"0s" usage:"resend interval of Telegram requests; 0 = gotd's default (5s)"`
	AlbumWait          time.Duration `env:"RECEIVER_ALBUM_WAIT" envDefault:"1s" usage:"how long the first message of an album waits for the rest before the album is delivered as one media_group event; 0 = deliver what has arrived at once"`
	MemoryLimit        int           `env:"RECEIVER_MEMORY_LIMIT_MB" envDefault:"100" usage:"soft memory limit of the Go runtime in MiB (GOMEMLIMIT wins when set); 0 = none"`

	Driver      string           `env:"DRIVER" envDefault:"http" usage:"where events go: http (signed webhook), log (zap log only), stdout (JSON lines) or nats (they stay in stream TG_EVENTS for your consumers; needs NATS_URL)"`
	HTTP        webhook.Settings `envPrefix:"DRIVER_HTTP_"`
	MaxAttempts int              `env:"DRIVER_MAX_ATTEMPTS" envDefault:"0" usage:"attempts before an event is dead-lettered; 0 = no limit (DRIVER_MAX_AGE applies)"`
	MaxAge      time.Duration    `env:"DRIVER_MAX_AGE" envDefault:"24h" usage:"age after which a failing event is dead-lettered; 0 = no limit"`
	BackoffMin  time.Duration    `env:"DRIVER_BACKOFF_INITIAL" envDefault:"1s" usage:"wait after the first failed attempt; doubles per attempt, with jitter"`
	BackoffMax  time.Duration    `env:"DRIVER_BACKOFF_MAX" envDefault:"5m" usage:"longest wait between attempts (a longer Retry-After is honoured up to 1h)"`
	Concurrency int              `env:"DRIVER_CONCURRENCY" envDefault:"64" usage:"delivery attempts in flight at once (across chats; each chat is in order)"`
	MaxInMemory int              `env:"DRIVER_MAX_IN_MEMORY" envDefault:"2000" usage:"undelivered events held in memory, shared by the bots (each keeps at least 64); beyond its share a bot's events are read back from the outbox on disk as they drain"`

	LeaseTTL time.Duration `env:"RECEIVER_LEASE_TTL" envDefault:"10s" usage:"with NATS_URL: how long a bot's lease outlives its holder; a standby takes the bot over within it plus 1s"`

	config.Log
	config.Telegram
	config.DataDir
	config.NATS
}

// LoadConfig parses vars (the process environment when nil) into a Config
// with defaults and validates it.
func LoadConfig(vars map[string]string) (Config, error) {
	return config.LoadFrom[Config](vars)
}

// Defaults is the configuration with every default of the variables'
// envDefault tags and nothing else set: the starting point of a Config
// built in code (tests, embedders). New fills no defaults itself, so a
// value of 0 set through the environment keeps its meaning ("no limit").
func Defaults() Config { return config.Defaults[Config]() }

// Validate implements config.Validator for the receiver's own variables.
func (c *Config) Validate() error {
	var errs []error
	if err := config.CheckTokens("RECEIVER_ADMIN_TOKEN", config.MinAdminTokenLen, c.AdminToken); err != nil {
		errs = append(errs, err)
	}
	if _, err := event.ParseTypes(c.ForwardTypes); err != nil {
		errs = append(errs, fmt.Errorf("RECEIVER_FORWARD_TYPES: %w", err))
	}
	if err := checkDriver(c); err != nil {
		errs = append(errs, err)
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"RECEIVER_MEMORY_LIMIT_MB", c.MemoryLimit}, {"RECEIVER_HANDLER_QUEUE", c.HandlerQueue}, {"DRIVER_CONCURRENCY", c.Concurrency}, {"DRIVER_MAX_IN_MEMORY", c.MaxInMemory}, {"DRIVER_MAX_ATTEMPTS", c.MaxAttempts}} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", v.name, v.n))
		}
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{
		{"RECEIVER_CONVERSATION_TIMEOUT", c.ConvTimeout}, {"RECEIVER_DEDUP_TTL", c.DedupTTL},
		{"DRIVER_MAX_AGE", c.MaxAge}, {"DRIVER_BACKOFF_INITIAL", c.BackoffMin}, {"DRIVER_BACKOFF_MAX", c.BackoffMax},
		{"RECEIVER_TG_RETRY_INTERVAL", c.TGRetry}, {"RECEIVER_ALBUM_WAIT", c.AlbumWait}, {"RECEIVER_LEASE_TTL", c.LeaseTTL},
	} {
		if v.d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", v.name, v.d))
		}
	}
	if c.NATS.Enabled() && c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("RECEIVER_LEASE_TTL: must be at least 1s, got %s", c.LeaseTTL))
	}
	return errors.Join(errs...)
}
