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
)

// fakeEnv makes the test binary, started under a service's name, act as a
// fake of that service (see runFake).
const fakeEnv = "DEMO_TEST_FAKE_SERVICES"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		os.Exit(runFake(filepath.Base(os.Args[0])))
	}
	os.Exit(m.Run())
}

// runFake serves what the demo needs to start a service and create a user,
// but its bot never answers. It stops on SIGTERM.
func runFake(role string) int {
	addrVar := map[string]string{
		"tgemu": "TGEMU_HTTP_ADDR", "receiver": "RECEIVER_ADDR", "sender": "SENDER_ADDR", "downstream": "DOWNSTREAM_ADDR",
	}[role]
	if addrVar == "" {
		return 3
	}
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
	srv := &http.Server{Addr: os.Getenv(addrVar), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
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
	self, err := os.Executable()
	require.NoError(t, err)
	bin := t.TempDir()
	for _, name := range []string{"tgemu", "receiver", "sender", "downstream"} {
		require.NoError(t, os.Symlink(self, filepath.Join(bin, name)))
	}
	t.Setenv(fakeEnv, "1")

	cfg := testConfig(t, bin)
	cfg.StepTimeout = time.Second
	var out syncBuffer
	err = run(context.Background(), cfg, &out)
	t.Logf("demo output:\n%s", out.String())
	require.EqualError(t, err, `step 2 (user sends /familiarize, bot asks the name) failed: the bot did not answer (no success within 1s)`)
	var se *stepError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 2, se.n)
	require.Contains(t, out.String(), "ok  1. create an emulated user")
	require.Contains(t, out.String(), "stopped 4 services")
	require.Contains(t, out.String(), "--- last lines of ", "a failure shows the services' logs")
}
