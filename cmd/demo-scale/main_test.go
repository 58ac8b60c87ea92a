package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/procrun"
)

func TestConfig(t *testing.T) {
	cfg, err := config.LoadFrom[Config](map[string]string{"DEMO_ONCE": "1"})
	require.NoError(t, err)
	require.True(t, cfg.Once)
	require.Equal(t, 3*time.Second, cfg.LeaseTTL)
	_, err = config.LoadFrom[Config](map[string]string{"DEMO_LEASE_TTL": "100ms"})
	require.ErrorContains(t, err, "DEMO_LEASE_TTL")
	_, err = config.LoadFrom[Config](map[string]string{"DEMO_CHATS": "0"})
	require.ErrorContains(t, err, "DEMO_CHATS")
}

func TestNeedsTheBinaries(t *testing.T) {
	cfg := Config{Once: true, BinDir: t.TempDir(), DataDir: t.TempDir(), LeaseTTL: time.Second, Chats: 1, Messages: 4, Timeout: time.Second}
	err := run(context.Background(), cfg, &procrun.Buffer{})
	require.ErrorContains(t, err, "start nats-server")
	require.ErrorContains(t, err, "make demo-scale")
}

// The demo with DEMO_ONCE against the real binaries: the active receiver is
// killed midway and nothing is lost.
func TestDemoScaleOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs them as processes (go test -short skips it)")
	}
	bin := t.TempDir()
	require.NoError(t, procrun.Build(bin, "github.com/tgbotsvc/tgbot/cmd/tgemu", "github.com/tgbotsvc/tgbot/cmd/receiver",
		"github.com/tgbotsvc/tgbot/cmd/sender", "github.com/tgbotsvc/tgbot/examples/downstream"))
	natstest.Build(t, bin)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var buf procrun.Buffer
	cfg := Config{Once: true, BinDir: bin, DataDir: t.TempDir(), LeaseTTL: 2 * time.Second, Chats: 4, Messages: 30, Timeout: 90 * time.Second}
	err := run(ctx, cfg, &buf)
	t.Logf("demo output:\n%s", buf.String())
	require.NoError(t, err)
	require.Contains(t, buf.String(), "sent 120 messages; delivered 120")
	require.Contains(t, buf.String(), "lost 0, out of order 0: nothing lost")
	require.Contains(t, buf.String(), "killed receiver1")
}
