package sender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/sender/natsjobs"
	"github.com/tgbotsvc/tgbot/internal/sender/natslimit"
	"github.com/tgbotsvc/tgbot/internal/sender/natsstore"
)

// natsMode is what a sender with NATS_URL set shares with its replicas.
type natsMode struct {
	conn   *natsx.Conn
	stores *natsstore.Stores
	queue  *natsjobs.Queue
	limits *natslimit.Buckets
	// replica names this process in the lease of a bot's limits.
	replica string
}

// natsStartTimeout bounds connecting and creating the buckets and streams
// at start (a cluster electing its leaders takes a few seconds).
const natsStartTimeout = 60 * time.Second

func openNATS(cfg Config, log *zap.Logger) (*natsMode, error) {
	ctx, cancel := context.WithTimeout(context.Background(), natsStartTimeout)
	defer cancel()
	conn, err := natsx.Connect(ctx, cfg.NATS, "tgbot-sender", log.Named("nats"))
	if err != nil {
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	m := &natsMode{conn: conn, replica: replicaName()}
	err = retryJS(ctx, func(ctx context.Context) error {
		if m.stores, err = natsstore.Open(ctx, conn, cfg.IdempotencyTTL); err != nil {
			return err
		}
		if m.queue, err = natsjobs.Open(ctx, conn); err != nil {
			return err
		}
		m.limits, err = natslimit.Open(ctx, conn)
		return err
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	return m, nil
}

// retryJS calls fn, each time with a few seconds, until it succeeds or
// ctx ends: a fresh cluster electing its meta leader answers "temporarily
// unavailable", or not at all.
func retryJS(ctx context.Context, fn func(context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// close closes the connection (a nil natsMode is bbolt mode: nothing).
func (m *natsMode) close() {
	if m == nil {
		return
	}
	m.conn.Close()
}

// replicaName is the host name and a random suffix: unique per process.
func replicaName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
