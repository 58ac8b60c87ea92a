package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/benchutil"
)

// buildServices builds the binaries the demo runs into dir, with the flags of
// `make build` so the build cache it left is reused.
func buildServices(t *testing.T, dir string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go tool must be on PATH to build the services")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -s -w: no symbol tables, which makes linking much faster.
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", dir+string(filepath.Separator),
		"./cmd/tgemu", "./cmd/receiver", "./cmd/sender", "./examples/downstream")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	t.Logf("built the services in %s", time.Since(start).Round(time.Millisecond))
}

// TestDemoOnce runs the whole demo (DEMO_ONCE) against the real binaries.
func TestDemoOnce(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	buildServices(t, bin)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var out benchutil.Buffer
	start := time.Now()
	err := run(ctx, testConfig(t, bin), &out)
	t.Logf("demo output (%s):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	require.NoError(t, err)

	transcript := out.String()
	for _, want := range []string{
		`user > "/familiarize"`,
		`user > "123"`,
		`bot  > "Nice to meet you Alice!"`,
		`downstream: user.create verified, created user "Alice"`,
		`bot  > "You said: Hello from the demo!"`,
		"document sha256 matches",
		"all 9 steps of the round trip passed",
		"stopped 4 services",
	} {
		require.Contains(t, transcript, want)
	}
	require.NotContains(t, transcript, "curl", "DEMO_ONCE exits without the how-to")
}
