package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/receiver"
)

func TestHelpListsVariables(t *testing.T) {
	var out bytes.Buffer
	exit, code := buildinfo.ParseFlags([]string{"-h"}, &out, "receiver", about, &receiver.Config{})
	require.True(t, exit)
	require.Zero(t, code)
	for _, name := range []string{
		"RECEIVER_ADDR", "RECEIVER_ADMIN_TOKEN", "RECEIVER_FORWARD_TYPES", "DRIVER", "DRIVER_HTTP_URL",
		"DRIVER_HTTP_SECRET", "DRIVER_HTTP_TIMEOUT", "DRIVER_MAX_ATTEMPTS", "DRIVER_MAX_AGE", "TG_BOT_TOKEN", "DATA_DIR", "LOG_FILE",
	} {
		require.Contains(t, out.String(), name)
	}

	out.Reset()
	exit, code = buildinfo.ParseFlags([]string{"-version"}, &out, "receiver", about, &receiver.Config{})
	require.True(t, exit)
	require.Zero(t, code)
	require.Contains(t, out.String(), "receiver dev")
}

func dispatch(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := buildinfo.Dispatch(args, &out, &errOut, "receiver", about, &receiver.Config{},
		func() error { return run(false) }, buildinfo.Subcommands{"login": func() error { return run(true) }})
	return code, out.String(), errOut.String()
}

func TestSubcommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("DATA_DIR", dir)
	t.Setenv("TG_APP_ID", "")
	t.Setenv("TG_APP_HASH", "")
	t.Setenv("DRIVER_HTTP_URL", "")
	t.Setenv("RECEIVER_ADMIN_TOKEN", "a")

	code, out, _ := dispatch("login", "-h")
	require.Zero(t, code)
	require.Contains(t, out, "Usage: receiver login [-h]")
	require.Contains(t, out, "TG_APP_ID")

	code, out, _ = dispatch("-h")
	require.Zero(t, code)
	require.Contains(t, out, "Usage: receiver [-h] [-version] [login [-h]]")

	code, _, errOut := dispatch("logn")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unknown subcommand "logn"`)
	require.Contains(t, errOut, "valid subcommands: login")

	for _, args := range [][]string{nil, {"login"}} {
		code, _, errOut = dispatch(args...)
		require.Equal(t, 1, code)
		for _, name := range []string{"TG_APP_ID", "TG_APP_HASH", "DRIVER_HTTP_URL", "RECEIVER_ADMIN_TOKEN"} {
			require.Contains(t, errOut, name, "every problem in one run")
		}
		require.NotContains(t, errOut, `"a"`)
		require.NoDirExists(t, dir)
	}
}
