// Package emutest starts the Telegram emulator (internal/tgemu) for other
// packages' tests: one call gives a running server on 127.0.0.1:0, a client
// configuration with a bot token, and helpers to build and run real gotd
// clients against it.
package emutest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/telegram"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
)

// Env is a running emulator and what a client needs to reach it.
type Env struct {
	Server *tgemu.Server
	// Telegram is the client configuration, BotToken set.
	Telegram config.Telegram
	// BotID is the bot's user ID (the token's prefix). The bot exists
	// from the start, so users can write to it before it logs in.
	BotID int64
	// Dir holds the public key; sessions of NewClient default to t.TempDir().
	Dir string
}

// Option changes the emulator's configuration.
type Option func(*options)

type options struct {
	cfg func(*tgemu.Config)
}

// WithConfig edits the server configuration before it starts.
func WithConfig(f func(*tgemu.Config)) Option {
	return func(o *options) { o.cfg = f }
}

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
	keyErr  error
)

// sharedKey is one RSA key for every emulator of the test binary:
// generating one costs about half a second.
func sharedKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { key, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return key, keyErr
}

// Start runs an emulator on 127.0.0.1:0 until the test ends. The bot token
// is "<random id>:test-secret".
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	k, err := sharedKey()
	require.NoError(t, err)
	cfg := tgemu.Config{
		MTProtoAddr: "127.0.0.1:0",
		PrivateKey:  k,
		Logger:      zaptest.NewLogger(t).Named("tgemu"),
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	srv, err := tgemu.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(func() { require.NoError(t, srv.Close()) })

	var b [4]byte
	_, _ = rand.Read(b[:])
	botID := int64(binary.LittleEndian.Uint32(b[:])>>2) + 100_000
	token := fmt.Sprintf("%d:test-secret", botID)
	_, err = srv.RegisterBot(token)
	require.NoError(t, err)

	dir := t.TempDir()
	tc := srv.ClientConfig(dir)
	tc.BotToken = token
	return &Env{Server: srv, Telegram: tc, BotID: botID, Dir: dir}
}

// NewClient builds a gotd client for the emulator. Unless set in opts, the
// retry interval is 100 ms (gotd's default of 5 s slows tests) and the
// session is a file in a fresh t.TempDir().
func (e *Env) NewClient(t testing.TB, opts tgclient.Options) *telegram.Client {
	t.Helper()
	if opts.RetryInterval == 0 {
		opts.RetryInterval = 100 * time.Millisecond
	}
	if opts.SessionPath == "" {
		opts.SessionPath = filepath.Join(t.TempDir(), "session.json")
	}
	c, err := tgclient.New(e.Telegram, opts)
	require.NoError(t, err)
	return c
}

// RunBot runs client until fn returns: it connects, logs the bot in (once
// per session) and calls fn. The test fails if any step fails.
func (e *Env) RunBot(t testing.TB, ctx context.Context, client *telegram.Client, fn func(ctx context.Context) error) {
	t.Helper()
	err := client.Run(ctx, func(ctx context.Context) error {
		if _, err := tgclient.EnsureBotAuth(ctx, client, e.Telegram.BotToken); err != nil {
			return err
		}
		return fn(ctx)
	})
	require.NoError(t, err)
}
