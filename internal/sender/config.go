package sender

import (
	"errors"
	"fmt"
	"time"

	"github.com/tgbotsvc/tgbot/internal/config"
)

// Config is the sender's whole configuration, read from the environment
// with internal/config (caarlos0/env). The shared parts (logging, Telegram
// client, data directory) are embedded.
type Config struct {
	Addr                 string   `env:"SENDER_ADDR" envDefault:":8001" usage:"listen address of the REST API (127.0.0.1:0 picks a free port)"`
	APITokens            []string `env:"SENDER_API_TOKENS" secret:"true" usage:"comma-separated bearer tokens the API accepts (Authorization: Bearer <token>)"`
	AdminToken           string   `env:"SENDER_ADMIN_TOKEN" secret:"true" usage:"bearer token of /admin (adding and removing bots at runtime), at least 16 characters; empty = admin disabled (404)"`
	AllowUnauthenticated bool     `env:"SENDER_ALLOW_UNAUTHENTICATED" envDefault:"false" usage:"serve the API without tokens when SENDER_API_TOKENS is empty (local use only)"`

	AsyncThreshold int   `env:"SENDER_ASYNC_THRESHOLD" envDefault:"100" usage:"bulk requests with more recipients than this become persistent jobs (202)"`
	MaxRecipients  int   `env:"SENDER_MAX_RECIPIENTS" envDefault:"100000" usage:"most recipients in one bulk request"`
	MaxBodyMB      int64 `env:"SENDER_MAX_BODY_MB" envDefault:"32" usage:"largest JSON request body (MiB)"`
	MaxDocumentMB  int64 `env:"SENDER_MAX_DOCUMENT_MB" envDefault:"2000" usage:"largest document accepted by create_document (MiB)"`

	RatePerSecond        float64       `env:"SENDER_RATE_PER_SECOND" envDefault:"30" usage:"messages per second for the whole bot (0 = no limit)"`
	RatePerChatPerSecond float64       `env:"SENDER_RATE_PER_CHAT_PER_SECOND" envDefault:"1" usage:"messages per second to one chat (0 = no limit)"`
	RateGroupPerMinute   float64       `env:"SENDER_RATE_GROUP_PER_MINUTE" envDefault:"20" usage:"messages per minute to one group or channel (0 = no limit)"`
	RateBurst            int           `env:"SENDER_RATE_BURST" envDefault:"1" usage:"token bucket burst of every rate limit"`
	FloodMaxWait         time.Duration `env:"SENDER_FLOOD_MAX_WAIT" envDefault:"30s" usage:"longest FLOOD_WAIT waited out and retried; longer ones answer 429 (jobs retry later)"`
	FloodMaxRetries      uint          `env:"SENDER_FLOOD_MAX_RETRIES" envDefault:"3" usage:"FLOOD_WAIT retries of one request"`

	Workers         int           `env:"SENDER_WORKERS" envDefault:"64" usage:"concurrent sends of a bulk request or job (enough to cover the rate times Telegram's latency)"`
	JobMaxAttempts  int           `env:"SENDER_JOB_MAX_ATTEMPTS" envDefault:"20" usage:"attempts per job recipient on flood or Telegram outage before it is marked failed"`
	RequestTimeout  time.Duration `env:"SENDER_REQUEST_TIMEOUT" envDefault:"60s" usage:"time limit of a synchronous send request"`
	IdempotencyTTL  time.Duration `env:"SENDER_IDEMPOTENCY_TTL" envDefault:"24h" usage:"how long Idempotency-Key answers are kept"`
	ShutdownTimeout time.Duration `env:"SENDER_SHUTDOWN_TIMEOUT" envDefault:"20s" usage:"time given to requests and sends in flight at shutdown; unsent job recipients resume at the next start"`
	KeepDocuments   bool          `env:"SENDER_KEEP_DOCUMENT_COPIES" envDefault:"true" usage:"keep a copy of each document in DATA_DIR/documents to upload it again if its file reference cannot be refreshed"`
	TGRetryInterval time.Duration `env:"SENDER_TG_RETRY_INTERVAL" envDefault:"1s" usage:"resend interval of an unanswered MTProto request"`

	config.Log
	config.Telegram
	config.DataDir
	// NATS: with NATS_URL set, replicas share idempotency keys, peers,
	// documents, jobs, rate limits and flood waits through JetStream.
	config.NATS
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	var errs []error
	if len(c.APITokens) == 0 && !c.AllowUnauthenticated {
		errs = append(errs, fmt.Errorf("SENDER_API_TOKENS: required (or set SENDER_ALLOW_UNAUTHENTICATED=true for local use)"))
	}
	if err := config.CheckTokens("SENDER_API_TOKENS", config.MinAPITokenLen, c.APITokens...); err != nil {
		errs = append(errs, err)
	}
	if err := config.CheckTokens("SENDER_ADMIN_TOKEN", config.MinAdminTokenLen, c.AdminToken); err != nil {
		errs = append(errs, err)
	}
	checks := []struct {
		name string
		bad  bool
	}{
		{"SENDER_ADDR", c.Addr == ""},
		{"SENDER_ASYNC_THRESHOLD", c.AsyncThreshold < 0},
		{"SENDER_MAX_RECIPIENTS", c.MaxRecipients <= 0},
		{"SENDER_MAX_BODY_MB", c.MaxBodyMB <= 0},
		{"SENDER_MAX_DOCUMENT_MB", c.MaxDocumentMB <= 0 || c.MaxDocumentMB > 4000},
		{"SENDER_RATE_PER_SECOND", c.RatePerSecond < 0},
		{"SENDER_RATE_PER_CHAT_PER_SECOND", c.RatePerChatPerSecond < 0},
		{"SENDER_RATE_GROUP_PER_MINUTE", c.RateGroupPerMinute < 0},
		{"SENDER_RATE_BURST", c.RateBurst <= 0},
		{"SENDER_FLOOD_MAX_WAIT", c.FloodMaxWait < 0},
		{"SENDER_WORKERS", c.Workers <= 0 || c.Workers > 1024},
		{"SENDER_JOB_MAX_ATTEMPTS", c.JobMaxAttempts <= 0},
		{"SENDER_REQUEST_TIMEOUT", c.RequestTimeout <= 0},
		{"SENDER_IDEMPOTENCY_TTL", c.IdempotencyTTL <= 0},
		{"SENDER_SHUTDOWN_TIMEOUT", c.ShutdownTimeout <= 0},
		{"SENDER_TG_RETRY_INTERVAL", c.TGRetryInterval < 0},
	}
	for _, ch := range checks {
		if ch.bad {
			errs = append(errs, fmt.Errorf("%s: value out of range", ch.name))
		}
	}
	return errors.Join(errs...)
}
