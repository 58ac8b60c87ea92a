package receiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/config"
)

func baseVars(t *testing.T) map[string]string {
	return map[string]string{
		"TG_APP_ID":       "1",
		"TG_APP_HASH":     "hash",
		"TG_BOT_TOKEN":    "1:secret",
		"DATA_DIR":        t.TempDir(),
		"DRIVER_HTTP_URL": "http://127.0.0.1:1/events",
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string
	}{
		{name: "defaults"},
		{name: "log driver needs no url", set: map[string]string{"DRIVER": "log", "DRIVER_HTTP_URL": ""}},
		{name: "http needs url", set: map[string]string{"DRIVER_HTTP_URL": ""}, wantErr: "DRIVER_HTTP_URL"},
		{name: "unknown driver", set: map[string]string{"DRIVER": "kafka"}, wantErr: "DRIVER"},
		{name: "bad forward type", set: map[string]string{"RECEIVER_FORWARD_TYPES": "message,photo"}, wantErr: "RECEIVER_FORWARD_TYPES"},
		{name: "bad header", set: map[string]string{"DRIVER_HTTP_HEADERS": "X-Key"}, wantErr: "DRIVER_HTTP_HEADERS"},
		{name: "bad duration", set: map[string]string{"DRIVER_MAX_AGE": "soon"}, wantErr: "DRIVER_MAX_AGE"},
		{name: "short admin token", set: map[string]string{"RECEIVER_ADMIN_TOKEN": "a"}, wantErr: "RECEIVER_ADMIN_TOKEN: too short, needs at least 16 characters"},
		{name: "15-character admin token", set: map[string]string{"RECEIVER_ADMIN_TOKEN": "123456789012345"}, wantErr: "RECEIVER_ADMIN_TOKEN"},
		{name: "16-character admin token", set: map[string]string{"RECEIVER_ADMIN_TOKEN": "1234567890123456"}},
		{name: "negative", set: map[string]string{"DRIVER_CONCURRENCY": "-1"}, wantErr: "DRIVER_CONCURRENCY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := baseVars(t)
			for k, v := range tc.set {
				vars[k] = v
			}
			cfg, err := LoadConfig(vars)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ":8002", cfg.Addr)
			require.Equal(t, []string{"message", "edited_message", "callback_query", "channel_post", "edited_channel_post", "my_chat_member"}, cfg.ForwardTypes)
			require.Equal(t, 10*time.Second, cfg.HTTP.Timeout)
			require.Equal(t, 24*time.Hour, cfg.MaxAge)
		})
	}
}

func TestConfigSecretsMasked(t *testing.T) {
	vars := baseVars(t)
	vars["DRIVER_HTTP_SECRET"] = "whsec_c2VjcmV0"
	vars["RECEIVER_ADMIN_TOKEN"] = "admintoken-0123456789"
	vars["DRIVER_HTTP_HEADERS"] = "X-Key=headersecret"
	vars["DRIVER_HTTP_API_KEY"] = "apikey"
	cfg, err := LoadConfig(vars)
	require.NoError(t, err)
	for _, v := range config.Vars(&cfg) {
		for _, secret := range []string{"c2VjcmV0", "admintoken-0123456789", "headersecret", "apikey", "1:secret"} {
			require.NotContains(t, v.Value, secret, v.Name)
		}
	}
}

func TestUserModeNeedsLogin(t *testing.T) {
	vars := baseVars(t)
	vars["TG_BOT_TOKEN"] = ""
	cfg, err := LoadConfig(vars)
	require.NoError(t, err)
	cfg.Addr = "127.0.0.1:0"
	_, err = New(cfg, zaptest.NewLogger(t))
	require.ErrorContains(t, err, "receiver login")
	require.NoFileExists(t, filepath.Join(cfg.Path, DBFile))
}

func TestNewFromDefaults(t *testing.T) {
	cfg := Defaults()
	require.Equal(t, 24*time.Hour, cfg.MaxAge, "the envDefault tags are the defaults")
	require.Equal(t, 10, cfg.FileMaxBackups)
	require.Equal(t, []string{"message", "edited_message", "callback_query", "channel_post", "edited_channel_post", "my_chat_member"}, cfg.ForwardTypes)
	require.Equal(t, "X-API-Key", cfg.HTTP.APIKeyHeader)
	cfg.Addr, cfg.Driver = "127.0.0.1:0", "log"
	cfg.Telegram = config.Telegram{AppID: 1, AppHash: "x", BotToken: "1:x", DCID: 2}
	cfg.DataDir = config.DataDir{Path: t.TempDir()}
	svc, err := New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	defer svc.Close()
	require.NotEqual(t, "127.0.0.1:0", svc.Addr())
	require.FileExists(t, filepath.Join(cfg.Path, DBFile))
	require.False(t, svc.Ready())

	// A second service on the same DATA_DIR fails fast: bbolt is exclusive.
	_, err = New(cfg, zaptest.NewLogger(t))
	require.ErrorContains(t, err, "locked")
}
