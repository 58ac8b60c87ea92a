package main

import (
	"bytes"
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
