package sender_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/sender"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestUnreachableTelegram: with Telegram down the API still serves, says
// so (/readyz answers 503 at once, sends once SENDER_REQUEST_TIMEOUT
// passes without a connection), and shutting down leaves no goroutine
// behind.
func TestUnreachableTelegram(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)}), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg, err := config.LoadFrom[sender.Config](map[string]string{
		"SENDER_ADDR": "127.0.0.1:0", "SENDER_API_TOKENS": testToken, "DATA_DIR": dir,
		"TG_APP_ID": "1", "TG_APP_HASH": "x", "TG_BOT_TOKEN": "1:x", "TG_DC_ADDR": deadAddr, "TG_PUBLIC_KEY_FILE": keyFile,
		"SENDER_TG_RETRY_INTERVAL": "100ms", "SENDER_REQUEST_TIMEOUT": "1s",
	})
	require.NoError(t, err)
	svc, err := sender.New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	s := &running{url: "http://" + svc.Addr(), client: &http.Client{Transport: &specTransport{t: t, next: &http.Transport{DisableKeepAlives: true}}}}
	require.Eventually(t, func() bool {
		return s.do(t, http.MethodGet, "/healthz", "", nil, nil).Status == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond)
	ready := s.do(t, http.MethodGet, "/readyz", "", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, ready.Status)
	require.Equal(t, "telegram_unavailable", ready.errorCode(t))
	start := time.Now()
	resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": 1, "text": "x"}, nil)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "a send waits for the connection until SENDER_REQUEST_TIMEOUT")
	require.Equal(t, http.StatusServiceUnavailable, resp.Status)
	require.Equal(t, "telegram_unavailable", resp.errorCode(t))
	bulk := s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": []int64{1, 2}, "text": "x"}, nil)
	require.Equal(t, http.StatusServiceUnavailable, bulk.Status)
	require.Equal(t, "telegram_unavailable", bulk.errorCode(t))
	job := s.postJSON(t, "/api_v1/send_multiple_message?async=true", map[string]any{"chat_ids": []int64{1, 2}, "text": "x"}, nil)
	require.Equal(t, http.StatusAccepted, job.Status, "jobs wait for Telegram")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown")
	}
	require.Error(t, svc.Run(context.Background()), "Run only once")
}

func TestConfigValidation(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{"TG_APP_ID": "1", "TG_APP_HASH": "x", "DATA_DIR": t.TempDir(), "SENDER_API_TOKENS": testToken}
	}
	cfg, err := config.LoadFrom[sender.Config](base())
	require.NoError(t, err)
	require.Equal(t, ":8001", cfg.Addr)
	require.Equal(t, 100, cfg.AsyncThreshold)
	require.Equal(t, 30.0, cfg.RatePerSecond)

	for name, set := range map[string]map[string]string{
		"SENDER_API_TOKENS":      {"SENDER_API_TOKENS": ""},
		"SENDER_WORKERS":         {"SENDER_WORKERS": "0"},
		"SENDER_RATE_BURST":      {"SENDER_RATE_BURST": "0"},
		"SENDER_FLOOD_MAX_WAIT":  {"SENDER_FLOOD_MAX_WAIT": "soon"},
		"SENDER_MAX_DOCUMENT_MB": {"SENDER_MAX_DOCUMENT_MB": "0"},
	} {
		v := base()
		for k, val := range set {
			v[k] = val
		}
		_, err := config.LoadFrom[sender.Config](v)
		require.ErrorContains(t, err, name)
	}
	v := base()
	v["SENDER_API_TOKENS"] = ""
	v["SENDER_ALLOW_UNAUTHENTICATED"] = "true"
	_, err = config.LoadFrom[sender.Config](v)
	require.NoError(t, err)

	vars := config.Vars(&cfg)
	for _, vr := range vars {
		require.NotEmpty(t, vr.Usage, vr.Name)
		if vr.Name == "SENDER_API_TOKENS" {
			require.Equal(t, "***(1)", vr.Value)
		}
	}
}

// Close releases a service whose Run was never called: its DATA_DIR can be
// opened again at once (bbolt is exclusive), and it is not ready.
func TestCloseWithoutRun(t *testing.T) {
	env := emutest.Start(t)
	dir := t.TempDir()
	v := vars(t, env, dir)
	cfg, err := config.LoadFrom[sender.Config](v)
	require.NoError(t, err)
	svc, err := sender.New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.False(t, svc.Ready())
	_, err = sender.New(cfg, zaptest.NewLogger(t))
	require.Error(t, err, "the first holds the stores")
	svc.Close()
	again, err := sender.New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	again.Close()
}
