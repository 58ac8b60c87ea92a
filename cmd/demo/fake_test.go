package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// fakeAddrVar is, for each service, the variable with its listen address.
var fakeAddrVar = map[string]string{
	"tgemu": "TGEMU_HTTP_ADDR", "receiver": "RECEIVER_ADDR", "sender": "SENDER_ADDR", "downstream": "DOWNSTREAM_ADDR",
}

// TestMain makes the test binary, started under a service's name (through a
// symlink), act as a fake of that service (see runFake).
func TestMain(m *testing.M) {
	if addrVar, ok := fakeAddrVar[filepath.Base(os.Args[0])]; ok {
		os.Exit(runFake(os.Getenv(addrVar)))
	}
	code := m.Run()
	removeBuild()
	os.Exit(code)
}

// runFake serves what the demo needs to start a service and create a user,
// but its bot never answers. It stops on SIGTERM.
func runFake(addr string) int {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok)
	mux.HandleFunc("GET /v1/public-key", ok)
	mux.HandleFunc("POST /v1/users", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 42})
	})
	mux.HandleFunc("POST /v1/users/42/messages", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"message_id": 1}`))
	})
	mux.HandleFunc("GET /v1/users/42/messages", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"messages": [{"id": 1, "out": false, "text": "/familiarize"}]}`))
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return 1
	}
	return 0
}

// TestDemoNamesTheFailingStep runs the demo against fakes whose bot never
// answers: the demo must stop the services and name the step that failed.
func TestDemoNamesTheFailingStep(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	require.NoError(t, err)
	bin := t.TempDir()
	for name := range fakeAddrVar {
		require.NoError(t, os.Symlink(self, filepath.Join(bin, name)))
	}

	cfg := testConfig(t, bin)
	cfg.StepTimeout = 2 * time.Second
	var out procrun.Buffer
	err = run(context.Background(), cfg, &out)
	t.Logf("demo output:\n%s", out.String())
	// The last attempt's own error varies with machine load (the bot's
	// silence, or the chat read cut by the step deadline); the step is what
	// must be named.
	require.ErrorContains(t, err, `step 2 (user sends /familiarize, bot asks the name) failed: `)
	require.ErrorContains(t, err, `(no success within 2s)`)
	var se *stepError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 2, se.n)
	require.Contains(t, out.String(), "ok  1. create an emulated user")
	require.Contains(t, out.String(), "stopped 4 services")
	require.Contains(t, out.String(), "--- last lines of ", "a failure shows the services' logs")
}
