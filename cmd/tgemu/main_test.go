package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/procrun"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
)

func TestHelpListsVariables(t *testing.T) {
	var out bytes.Buffer
	exit, code := buildinfo.ParseFlags([]string{"-h"}, &out, "tgemu", about, &Config{})
	require.True(t, exit)
	require.Equal(t, 0, code)
	for _, v := range []string{
		"TGEMU_MTPROTO_ADDR", "TGEMU_PUBLIC_ADDR", "TGEMU_HTTP_ADDR", "TGEMU_KEY_FILE", "TGEMU_PUBLIC_KEY_FILE", "TGEMU_DATA_FILE",
		"TGEMU_BOT_TOKENS", "TGEMU_LOGIN_CODE", "TGEMU_FILE_REFERENCE_TTL", "TGEMU_LIMIT_GLOBAL_PER_SECOND",
		"TGEMU_LIMIT_PER_CHAT_PER_SECOND", "TGEMU_LIMIT_GROUP_PER_MINUTE", "LOG_LEVEL", "LOG_FORMAT", "LOG_FILE",
	} {
		require.Contains(t, out.String(), v)
	}
	require.Contains(t, out.String(), "127.0.0.1:9443")
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{name: "defaults", vars: map[string]string{}},
		{name: "negative limit", vars: map[string]string{"TGEMU_LIMIT_GLOBAL_PER_SECOND": "-1"}, wantErr: "TGEMU_LIMIT_GLOBAL_PER_SECOND"},
		{name: "limit not a number", vars: map[string]string{"TGEMU_LIMIT_GROUP_PER_MINUTE": "x"}, wantErr: "TGEMU_LIMIT_GROUP_PER_MINUTE"},
		{name: "bad ttl", vars: map[string]string{"TGEMU_FILE_REFERENCE_TTL": "soon"}, wantErr: "TGEMU_FILE_REFERENCE_TTL"},
		{name: "bad token", vars: map[string]string{"TGEMU_BOT_TOKENS": "123:abc,nocolon"}, wantErr: "TGEMU_BOT_TOKENS"},
		{name: "bad public addr", vars: map[string]string{"TGEMU_PUBLIC_ADDR": "tgemu"}, wantErr: "TGEMU_PUBLIC_ADDR"},
		{name: "bad log level", vars: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.LoadFrom[Config](tc.vars)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, "127.0.0.1:9443", cfg.MTProtoAddr)
				require.Equal(t, "127.0.0.1:9080", cfg.HTTPAddr)
				require.Equal(t, "./data/tgemu.key", cfg.KeyFile)
				require.Equal(t, "12345", cfg.LoginCode)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "abc", "tokens are secrets")
			// run refuses the same configuration before listening.
			require.ErrorContains(t, run(context.Background(), tc.vars, &bytes.Buffer{}, nil), tc.wantErr)
		})
	}
}

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"TGEMU_MTPROTO_ADDR":           "127.0.0.1:0",
		"TGEMU_HTTP_ADDR":              "127.0.0.1:0",
		"TGEMU_KEY_FILE":               filepath.Join(dir, "tgemu.key"),
		"TGEMU_PUBLIC_KEY_FILE":        filepath.Join(dir, "tgemu.pub"),
		"TGEMU_DATA_FILE":              filepath.Join(dir, "tgemu.json"),
		"TGEMU_BOT_TOKENS":             "123:secret-token",
		"TGEMU_LIMIT_GROUP_PER_MINUTE": "20",
		"LOG_LEVEL":                    "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out procrun.Buffer
	ready := make(chan *tgemu.Server, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, vars, &out, func(s *tgemu.Server) { ready <- s }) }()

	var srv *tgemu.Server
	select {
	case srv = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready")
	}
	require.Contains(t, out.String(), srv.MTProtoAddr())
	require.Contains(t, out.String(), "http://"+srv.HTTPAddr())
	require.Contains(t, out.String(), "page:        http://"+srv.HTTPAddr()+"/")
	require.FileExists(t, filepath.Join(dir, "tgemu.key"))
	require.FileExists(t, filepath.Join(dir, "tgemu.pub"))

	resp, err := http.Get("http://" + srv.HTTPAddr() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = srv.RegisterBot("999:not-allowed")
	require.Error(t, err, "TGEMU_BOT_TOKENS restricts logins")
	bot, err := srv.RegisterBot("123:secret-token")
	require.NoError(t, err)
	require.Equal(t, int64(123), bot.ID)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	require.FileExists(t, filepath.Join(dir, "tgemu.json"))
	require.False(t, strings.Contains(out.String(), "secret-token"))
}
