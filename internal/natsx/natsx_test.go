package natsx_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
)

func TestConnectCreatesStateOnce(t *testing.T) {
	s := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := natsx.Connect(ctx, config.NATS{URL: s.ClientURL(), Replicas: 1}, "test", zaptest.NewLogger(t))
	require.NoError(t, err)
	defer c.Close()

	_, err = c.Stream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	require.NoError(t, err)
	_, err = c.JS.Publish(ctx, "t.1", []byte("x"))
	require.NoError(t, err)
	// Creating it again (a second replica starting) keeps its messages.
	st, err := c.Stream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs)

	kv, err := c.KV(ctx, jetstream.KeyValueConfig{Bucket: "b", TTL: time.Minute})
	require.NoError(t, err)
	_, err = kv.Create(ctx, "k", []byte("v"))
	require.NoError(t, err)
	_, err = kv.Create(ctx, "k", []byte("w"))
	require.ErrorIs(t, err, jetstream.ErrKeyExists)

	obj, err := c.ObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "o"})
	require.NoError(t, err)
	_, err = obj.PutBytes(ctx, "f", []byte("bytes"))
	require.NoError(t, err)
	got, err := obj.GetBytes(ctx, "f")
	require.NoError(t, err)
	require.Equal(t, "bytes", string(got))
}

func TestConnectWaitsForALateServer(t *testing.T) {
	port := natstest.FreePorts(t, 1)[0]
	url := "nats://127.0.0.1:" + itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := natsx.Connect(ctx, config.NATS{URL: url, Replicas: 1}, "test", zaptest.NewLogger(t))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConfigValidate(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "x.creds")
	require.NoError(t, os.WriteFile(creds, []byte("x"), 0o600))
	for name, tc := range map[string]struct {
		cfg config.NATS
		err string
	}{
		"off":          {cfg: config.NATS{Replicas: 1}},
		"two servers":  {cfg: config.NATS{URL: "nats://a:4222, nats://b:4222", Replicas: 3, CredsFile: creds}},
		"bad scheme":   {cfg: config.NATS{URL: "http://a:4222", Replicas: 1}, err: `NATS_URL: item 1: scheme "http"`},
		"no host":      {cfg: config.NATS{URL: "a", Replicas: 1}, err: "NATS_URL: item 1 is not a URL"},
		"replicas":     {cfg: config.NATS{URL: "nats://a:1", Replicas: 0}, err: "NATS_STREAM_REPLICAS: must be 1 to 5, got 0"},
		"creds alone":  {cfg: config.NATS{CredsFile: creds, Replicas: 1}, err: "NATS_CREDS_FILE: set without NATS_URL"},
		"creds absent": {cfg: config.NATS{URL: "nats://a:1", CredsFile: creds + "x", Replicas: 1}, err: "NATS_CREDS_FILE:"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
	// A password in the URL is never repeated in the error.
	err := (&config.NATS{URL: "nats://user:hunter2@:bad", Replicas: 1}).Validate()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestClusterKeepsStreamThroughLeaderLoss(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := natsx.Connect(ctx, config.NATS{URL: natstest.URLs(servers...), Replicas: 3}, "test", zaptest.NewLogger(t))
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Stream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"}})
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, info.Config.Replicas)
	_, err = c.JS.Publish(ctx, "r.1", []byte("x"), jetstream.WithMsgID("m1"))
	require.NoError(t, err)
	ack, err := c.JS.Publish(ctx, "r.1", []byte("x"), jetstream.WithMsgID("m1"))
	require.NoError(t, err)
	require.True(t, ack.Duplicate, "the same Nats-Msg-Id is stored once")
}

func TestProcessKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	bin := natstest.Build(t, t.TempDir())
	p := natstest.ClusterProcesses(t, bin, 1)[0]
	p.RoutePort = 0
	p.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := natsx.Connect(ctx, config.NATS{URL: p.URL(), Replicas: 1}, "test", zaptest.NewLogger(t))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Stream(ctx, jetstream.StreamConfig{Name: "P", Subjects: []string{"p.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = c.JS.Publish(ctx, "p.1", []byte("x"))
	require.NoError(t, err)

	p.Kill()
	p.Start(t)
	// The client reconnects by itself; the stream and its message survived.
	require.Eventually(t, func() bool {
		st, err := c.JS.Stream(ctx, "P")
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 1
	}, 20*time.Second, 100*time.Millisecond)
}

func itoa(i int) string { return strconv.Itoa(i) }
