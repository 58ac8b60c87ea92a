package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// postFaults sends body to POST /faults and returns the status and the
// decoded answer.
func postFaults(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/faults", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// newFaultsEnv is newTestEnv with POST /faults served.
func newFaultsEnv(t *testing.T) *testEnv {
	env := newTestEnv(t)
	env.srv.EnableFaults()
	ts := httptest.NewServer(env.srv.Handler())
	t.Cleanup(ts.Close)
	env.url = ts.URL
	return env
}

func TestFaultsFailTheMatchingEventsThenHandleTheirRetry(t *testing.T) {
	env := newFaultsEnv(t)

	status, out := postFaults(t, env.url, `{"status": 422, "count": 1, "text": "lost and found"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"status": float64(422), "count": float64(1), "text": "lost and found"}, out)

	now := time.Now()
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "e1", now, messageEvent("e1", 42, "other text")),
		"an event the fault does not match is handled")
	require.Equal(t, http.StatusUnprocessableEntity, env.post(t, "/events", testSecret, "e2", now, messageEvent("e2", 42, "lost and found")))
	st := env.srv.State()
	require.Equal(t, 1, st.Failed)
	require.Len(t, st.Events, 1, "a failed event is not recorded")
	require.Len(t, st.Replies, 1)

	// The fault is used up: the same event again (a replay) is handled, not a duplicate.
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "e2", now, messageEvent("e2", 42, "lost and found")))
	st = env.srv.State()
	require.Equal(t, 1, st.Failed)
	require.Equal(t, 0, st.Duplicates)
	require.Equal(t, "You said: lost and found", st.Replies[1].Text)
	require.Len(t, env.sender.Calls(), 2)
}

func TestFaultsWithoutTextFailEveryEventUntilCleared(t *testing.T) {
	env := newFaultsEnv(t)

	status, _ := postFaults(t, env.url, `{"status": 503, "count": 5}`)
	require.Equal(t, http.StatusOK, status)
	now := time.Now()
	require.Equal(t, http.StatusServiceUnavailable, env.post(t, "/events", testSecret, "u1", now, userCreateEvent("u1", 42, "Alice")))
	require.Equal(t, http.StatusServiceUnavailable, env.post(t, "/events", testSecret, "e1", now, messageEvent("e1", 42, "hi")))
	status, _ = postFaults(t, env.url, `{"count": 0}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "u1", now, userCreateEvent("u1", 42, "Alice")))
	st := env.srv.State()
	require.Equal(t, 2, st.Failed)
	require.Len(t, st.Users, 1)
}

func TestFaultsBadInput(t *testing.T) {
	env := newFaultsEnv(t)
	for body, field := range map[string]string{
		`{"status": 200, "count": 1}`:                "status",
		`{"status": 600, "count": 1}`:                "status",
		`{"status": 422, "count": -1}`:               "count",
		`{"status": 422, "count": 1001}`:             "count",
		`{"status": 422, "count": 1, "extra": true}`: "",
		`not json`: "",
	} {
		status, out := postFaults(t, env.url, body)
		require.Equal(t, http.StatusBadRequest, status, body)
		detail, ok := out["error"].(map[string]any)
		require.True(t, ok, "error shape of %s: %v", body, out)
		require.Equal(t, "invalid_argument", detail["code"], body)
		if field != "" {
			require.Equal(t, field, detail["field"], body)
		}
	}
	require.Equal(t, 0, env.srv.State().Failed)
}

func TestFaultsAreOffByDefault(t *testing.T) {
	srv := NewServer(testSecret, 5*time.Minute, nil, zaptest.NewLogger(t))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	resp, err := http.Post(ts.URL+"/faults", "application/json", strings.NewReader(`{"status": 422, "count": 1}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
