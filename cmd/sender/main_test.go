package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConfigProblemsAtOnce: one run names every invalid or missing
// variable and creates no DATA_DIR.
func TestConfigProblemsAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("DATA_DIR", dir)
	t.Setenv("TG_APP_ID", "")
	t.Setenv("TG_APP_HASH", "")
	t.Setenv("SENDER_API_TOKENS", "")
	t.Setenv("SENDER_ALLOW_UNAUTHENTICATED", "false")
	t.Setenv("SENDER_WORKERS", "0")
	err := run()
	require.Error(t, err)
	for _, name := range []string{"TG_APP_ID", "TG_APP_HASH", "SENDER_API_TOKENS", "SENDER_WORKERS"} {
		require.Contains(t, err.Error(), name)
	}
	require.NoDirExists(t, dir)
}
