package buildinfo

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
)

type testCfg struct {
	Secret string `env:"BI_SECRET" secret:"true" usage:"a secret"`
	config.Log
}

func TestParseFlags(t *testing.T) {
	var out bytes.Buffer
	exit, code := ParseFlags([]string{"-version"}, &out, "x", "about", &testCfg{})
	require.True(t, exit)
	require.Equal(t, 0, code)
	require.Equal(t, "x dev (unknown)\n", out.String())

	out.Reset()
	exit, code = ParseFlags([]string{"-h"}, &out, "x", "does things", &testCfg{})
	require.True(t, exit)
	require.Equal(t, 0, code)
	require.Contains(t, out.String(), "does things")
	require.Contains(t, out.String(), "BI_SECRET")
	require.Contains(t, out.String(), "LOG_LEVEL")

	exit, code = ParseFlags([]string{"-bogus"}, &out, "x", "", &testCfg{})
	require.True(t, exit)
	require.Equal(t, 2, code)

	exit, _ = ParseFlags(nil, &out, "x", "", &testCfg{})
	require.False(t, exit)
}

func TestSetup(t *testing.T) {
	cfg, log, closeLog, err := Setup[testCfg]("x", map[string]string{"BI_SECRET": "hunter2", "LOG_LEVEL": "error"})
	require.NoError(t, err)
	defer closeLog()
	require.Equal(t, "hunter2", cfg.Secret)
	require.NotNil(t, log)

	_, _, _, err = Setup[testCfg]("x", map[string]string{"LOG_FORMAT": "xml"})
	require.ErrorContains(t, err, "LOG_FORMAT")
}
