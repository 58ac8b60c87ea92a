// Command downstream is an example of "the other service" behind the
// receiver: it takes the receiver's signed webhook events, creates the users
// the /familiarize conversation collects, and answers plain texts through the
// sender's REST API, so the answer comes back in the chat.
//
// Routes: POST /events (also POST /) for events, GET /state (users, events
// seen, replies sent: for the demo and tests), GET /healthz, and with
// DOWNSTREAM_FAULTS_API POST /faults (fail the next events on purpose).
//
// Limitations (it is an example):
//   - Users, the webhook-ids seen and the state are in memory: a restart
//     forgets them, and the dedupe set grows without bound. A real service
//     keeps the ids it handled for at least the receiver's retry window
//     (DRIVER_MAX_AGE), in the same transaction as the work they caused.
//   - A conversation is recognised by its command (/familiarize) and ends with
//     the chat's user.create or after 5 minutes.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/examples/downstream/webhook"
	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/config"
)

// Config is the downstream's environment.
type Config struct {
	Addr             string        `env:"DOWNSTREAM_ADDR" envDefault:"127.0.0.1:8003" usage:"listen address"`
	WebhookSecret    string        `env:"DOWNSTREAM_WEBHOOK_SECRET,notEmpty" secret:"true" usage:"the receiver's DRIVER_HTTP_SECRET (whsec_<base64> or raw)"`
	WebhookTolerance time.Duration `env:"DOWNSTREAM_WEBHOOK_TOLERANCE" envDefault:"5m" usage:"max distance of webhook-timestamp from now"`
	SenderURL        string        `env:"SENDER_URL" envDefault:"http://127.0.0.1:8001" usage:"base URL of the sender's REST API; empty = never answer texts"`
	SenderAPIToken   string        `env:"SENDER_API_TOKEN" secret:"true" usage:"bearer token for the sender's API"`
	SenderTimeout    time.Duration `env:"SENDER_TIMEOUT" envDefault:"10s" usage:"timeout of one call to the sender"`
	FaultsAPI        bool          `env:"DOWNSTREAM_FAULTS_API" usage:"serve POST /faults, which makes the next events fail on purpose (demos, tests); never in production"`
	config.Log
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	if _, err := webhook.Key(c.WebhookSecret); err != nil {
		return fmt.Errorf("DOWNSTREAM_WEBHOOK_SECRET: %w", err)
	}
	if c.WebhookTolerance <= 0 {
		return fmt.Errorf("DOWNSTREAM_WEBHOOK_TOLERANCE: must be positive, got %s", c.WebhookTolerance)
	}
	if c.SenderTimeout <= 0 {
		return fmt.Errorf("SENDER_TIMEOUT: must be positive, got %s", c.SenderTimeout)
	}
	return nil
}

const about = "example downstream service: verifies the receiver's signed events, creates users, echoes texts through the sender"

func main() {
	buildinfo.Main("downstream", about, &Config{}, func() error {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return run(ctx)
	})
}

func run(ctx context.Context) error {
	cfg, log, closeLog, err := buildinfo.Setup[Config]("downstream", nil)
	if err != nil {
		return err
	}
	defer closeLog()

	var replier Replier
	if cfg.SenderURL != "" {
		replier = NewSenderClient(cfg.SenderURL, cfg.SenderAPIToken, cfg.SenderTimeout)
	}
	srv := NewServer(cfg.WebhookSecret, cfg.WebhookTolerance, replier, log)
	if cfg.FaultsAPI {
		srv.EnableFaults()
	}
	return serve(ctx, cfg.Addr, srv.Handler(), log)
}

// serve runs h on addr until ctx is done, then shuts down within 10 s.
func serve(ctx context.Context, addr string, h http.Handler, log *zap.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
