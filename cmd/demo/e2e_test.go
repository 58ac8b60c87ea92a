package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// built is the one build of the services that the tests of this package
// share (removed by TestMain).
var built struct {
	once sync.Once
	dir  string
	err  error
}

// builtServices returns a directory with the binaries the demo runs, built
// once per test binary with the flags of `make build` so the build cache it
// left is reused.
func builtServices(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries and runs them as processes (go test -short skips it)")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "demo-bin-")
		if built.err == nil {
			built.err = buildServices(t, built.dir)
		}
	})
	require.NoError(t, built.err)
	return built.dir
}

// removeBuild deletes the shared build, if any.
func removeBuild() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// buildServices builds the binaries the demo runs into dir.
func buildServices(t *testing.T, dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go tool must be on PATH to build the services: %w", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -s -w: no symbol tables, which makes linking much faster.
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", dir+string(filepath.Separator),
		"./cmd/tgemu", "./cmd/receiver", "./cmd/sender", "./examples/downstream")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, out)
	}
	t.Logf("built the services in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// TestDemoOnce runs the whole demo (DEMO_ONCE) against the real binaries.
func TestDemoOnce(t *testing.T) {
	t.Parallel()
	bin := builtServices(t)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var out procrun.Buffer
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
		`receiver: GET /admin/dead-letters -> 7000001:m`,
		"after 1 attempt(s): downstream answered 422",
		`bot  > "You said: This one goes to the dead letters"`,
		"receiver: no dead letters left",
		"all 11 steps of the round trip passed",
		"stopped 4 services",
	} {
		require.Contains(t, transcript, want)
	}
	// The answer comes only after the replay: the dead letter was not delivered.
	dead := strings.Index(transcript, "after 1 attempt(s): downstream answered 422")
	replay := strings.Index(transcript, "/replay -> back into the outbox")
	answer := strings.Index(transcript, `bot  > "You said: This one goes to the dead letters"`)
	require.Less(t, dead, replay)
	require.Less(t, replay, answer)
	require.NotContains(t, transcript, "curl", "DEMO_ONCE exits without the how-to")
	require.NotContains(t, transcript, "TOKEN=", "DEMO_ONCE exits without the shell variables")
}
