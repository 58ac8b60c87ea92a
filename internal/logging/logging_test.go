package logging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
)

func TestFileGetsJSONAtLevel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.log")
	log, closeFn, err := New(config.Log{Level: "warn", Format: "console", File: path, FileMaxSizeMB: 1, FileMaxBackups: 1})
	require.NoError(t, err)
	log.Info("hidden")
	log.Warn("shown")
	closeFn()

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var line map[string]any
	require.NoError(t, json.Unmarshal(data, &line))
	require.Equal(t, "shown", line["msg"])
	require.Equal(t, "warn", line["level"])
	require.NotContains(t, string(data), "hidden")
}

func TestBadConfig(t *testing.T) {
	_, _, err := New(config.Log{Level: "info", Format: "xml"})
	require.ErrorContains(t, err, "LOG_FORMAT")
	_, _, err = New(config.Log{Level: "noisy", Format: "json"})
	require.ErrorContains(t, err, "LOG_LEVEL")
}
