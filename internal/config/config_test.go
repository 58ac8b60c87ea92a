package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type testCfg struct {
	Addr  string   `env:"TEST_ADDR" envDefault:":8080" usage:"listen address"`
	Token []string `env:"TEST_TOKENS" secret:"true" usage:"tokens"`
	Log
	Telegram
	DataDir
}

func baseVars(t *testing.T) map[string]string {
	return map[string]string{
		"TG_APP_ID":   "1",
		"TG_APP_HASH": "hash-secret",
		"DATA_DIR":    t.TempDir(),
	}
}

func TestLoadDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string
	}{
		{name: "ok"},
		{name: "bad level", set: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "bad format", set: map[string]string{"LOG_FORMAT": "xml"}, wantErr: "LOG_FORMAT"},
		{name: "no app id", set: map[string]string{"TG_APP_ID": "0"}, wantErr: "TG_APP_ID"},
		{name: "app id not a number", set: map[string]string{"TG_APP_ID": "x"}, wantErr: "TG_APP_ID"},
		{name: "bad token", set: map[string]string{"TG_BOT_TOKEN": "nocolon"}, wantErr: "TG_BOT_TOKEN"},
		{name: "dc without key", set: map[string]string{"TG_DC_ADDR": "127.0.0.1:1"}, wantErr: "TG_PUBLIC_KEY_FILE"},
		{name: "missing key file", set: map[string]string{"TG_DC_ADDR": "127.0.0.1:1", "TG_PUBLIC_KEY_FILE": "/nonexistent.pem"}, wantErr: "TG_PUBLIC_KEY_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := baseVars(t)
			for k, v := range tc.set {
				vars[k] = v
			}
			cfg, err := LoadFrom[testCfg](vars)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ":8080", cfg.Addr)
			require.Equal(t, "info", cfg.Level)
			require.Equal(t, 5, cfg.FileMaxSizeMB)
			require.Equal(t, 2, cfg.DCID)
		})
	}
}

func TestVarsMaskSecrets(t *testing.T) {
	vars := baseVars(t)
	vars["TEST_TOKENS"] = "tok-a,tok-b"
	vars["TG_BOT_TOKEN"] = "123:supersecret"
	cfg, err := LoadFrom[testCfg](vars)
	require.NoError(t, err)
	require.Equal(t, int64(123), cfg.BotID())

	got := map[string]Var{}
	for _, v := range Vars(cfg) {
		got[v.Name] = v
	}
	require.Equal(t, "***", got["TG_BOT_TOKEN"].Value)
	require.Equal(t, "***", got["TG_APP_HASH"].Value)
	require.Equal(t, "***(2)", got["TEST_TOKENS"].Value)
	require.Equal(t, ":8080", got["TEST_ADDR"].Value)
	require.Equal(t, "json", got["LOG_FORMAT"].Default)

	var buf bytes.Buffer
	PrintUsage(&buf, "x", "x [-h]", "about", &cfg)
	out := buf.String()
	for _, name := range []string{"TEST_ADDR", "LOG_FILE", "TG_DC_ADDR", "DATA_DIR"} {
		require.Contains(t, out, name)
	}
	require.NotContains(t, out, "supersecret")
	require.NotContains(t, out, "tok-a")
}

type requiredCfg struct {
	Need string `env:"TEST_NEED,required"`
	Log
	Telegram
	DataDir
}

// TestAllProblemsAtOnce: one load reports every invalid or missing
// variable, parse and validation errors alike, and creates nothing.
func TestAllProblemsAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	_, err := LoadFrom[requiredCfg](map[string]string{
		"DATA_DIR": dir, "TG_APP_ID": "x", "LOG_LEVEL": "loud", "LOG_FILE_MAX_BACKUPS": "-1", "TG_DC_ID": "0",
	})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"TEST_NEED: required", "TG_APP_ID: invalid value", "TG_APP_HASH: required", "LOG_LEVEL:",
		"LOG_FILE_MAX_BACKUPS:", "TG_DC_ID:",
	} {
		require.Contains(t, msg, want)
	}
	require.Equal(t, 1, strings.Count(msg, "TG_APP_ID"), "no second complaint about the unparsed variable: %s", msg)
	require.True(t, strings.HasPrefix(msg, "config: "))
	require.NoDirExists(t, dir, "an invalid configuration creates no DATA_DIR")

	_, err = LoadFrom[testCfg](map[string]string{"TG_APP_ID": "1", "TG_APP_HASH": "h", "DATA_DIR": dir})
	require.NoError(t, err)
	require.NoDirExists(t, dir, "the stores create DATA_DIR when they open")
}
