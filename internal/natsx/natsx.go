// Package natsx connects a service to NATS JetStream, the optional backend
// that lets several replicas of a service share their state (NATS_URL). It
// holds what the receiver and the sender both need: the connection with
// its logging, and idempotent creation of streams, key-value buckets and
// object stores with the configured replica count.
package natsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/config"
)

// Conn is a NATS connection with its JetStream context.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Replicas int
	log      *zap.Logger
}

// Connect dials cfg's servers. It retries the first connection until ctx
// ends (a NATS server that starts after the service is a normal moment of
// a deployment), and reconnects forever afterwards. name identifies the
// client in the server's monitoring (e.g. "tgbot-receiver").
func Connect(ctx context.Context, cfg config.NATS, name string, log *zap.Logger) (*Conn, error) {
	if !cfg.Enabled() {
		return nil, errors.New("NATS_URL is empty")
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats async error", zap.String("subject", subject), zap.Error(err))
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	nc, err := nats.Connect(joinServers(cfg.Servers()), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("nats: not connected: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	log.Info("nats connected", zap.String("server", nc.ConnectedUrlRedacted()), zap.Int("replicas", cfg.Replicas))
	replicas := cfg.Replicas
	if replicas < 1 {
		replicas = 1
	}
	return &Conn{NC: nc, JS: js, Replicas: replicas, log: log}, nil
}

func joinServers(s []string) string {
	out := ""
	for i, u := range s {
		if i > 0 {
			out += ","
		}
		out += u
	}
	return out
}

// Close drains the connection: pending publishes are flushed, subscriptions
// end. It waits at most a few seconds.
func (c *Conn) Close() {
	if c == nil || c.NC == nil {
		return
	}
	done := make(chan struct{})
	c.NC.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := c.NC.Drain(); err != nil {
		c.NC.Close()
		return
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.NC.Close()
	}
}

// Stream creates the stream or updates it to cfg, with the connection's
// replica count and file storage unless cfg says otherwise.
func (c *Conn) Stream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = c.Replicas
	}
	s, err := c.JS.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// KV creates the key-value bucket or updates it to cfg, with the
// connection's replica count unless cfg says otherwise.
func (c *Conn) KV(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = c.Replicas
	}
	kv, err := c.JS.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("nats: kv %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// ObjectStore creates the object store or updates it to cfg, with the
// connection's replica count unless cfg says otherwise.
func (c *Conn) ObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = c.Replicas
	}
	os, err := c.JS.CreateOrUpdateObjectStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("nats: object store %s: %w", cfg.Bucket, err)
	}
	return os, nil
}
