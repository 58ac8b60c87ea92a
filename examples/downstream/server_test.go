package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

const testSecret = "whsec_" + "dGVzdC1zZWNyZXQta2V5LWZvci10aGUtZG93bnN0cmVhbQ=="

// sign returns the Standard Webhooks headers for body, as the receiver sends them.
func sign(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	require.NoError(t, err)
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + stamp + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", stamp)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

// fakeSender records /api_v1/send_message calls; fail makes it answer 503.
type fakeSender struct {
	mu    sync.Mutex
	calls []sentCall
	fail  bool
}

type sentCall struct {
	Auth, IdempotencyKey string
	ChatID               int64
	Text                 string
}

func (f *fakeSender) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api_v1/send_message" {
		http.NotFound(w, r)
		return
	}
	var body struct {
		ChatID int64  `json:"chat_id"`
		Text   string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		http.Error(w, `{"error":{"code":"unavailable"}}`, http.StatusServiceUnavailable)
		return
	}
	f.calls = append(f.calls, sentCall{r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), body.ChatID, body.Text})
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"chat_id":%d,"message_id":%d,"date":1}`, body.ChatID, 100+len(f.calls))
}

func (f *fakeSender) Calls() []sentCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentCall{}, f.calls...)
}

func (f *fakeSender) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

type testEnv struct {
	srv    *Server
	url    string
	sender *fakeSender
}

func newTestEnv(t *testing.T) *testEnv {
	fs := &fakeSender{}
	senderSrv := httptest.NewServer(fs)
	t.Cleanup(senderSrv.Close)
	srv := NewServer(testSecret, 5*time.Minute, NewSenderClient(senderSrv.URL, "api-token", 5*time.Second), zaptest.NewLogger(t))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &testEnv{srv: srv, url: ts.URL, sender: fs}
}

// post delivers body signed with secret as webhook id and returns the status.
func (e *testEnv) post(t *testing.T, path, secret, id string, ts time.Time, body string) int {
	t.Helper()
	status, err := e.tryPost(sign(t, secret, id, ts, []byte(body)), path, body)
	require.NoError(t, err)
	return status
}

// tryPost is post for other goroutines than the test's: it never fails t.
func (e *testEnv) tryPost(h http.Header, path, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func messageEvent(id string, chatID int64, text string) string {
	b, _ := json.Marshal(map[string]any{
		"id": id, "type": "message", "date": 1, "bot_id": 7,
		"chat": map[string]any{"id": chatID, "type": "private"}, "from": map[string]any{"id": chatID},
		"message": map[string]any{"id": 1, "text": text},
	})
	return string(b)
}

func userCreateEvent(id string, chatID int64, name string) string {
	b, _ := json.Marshal(map[string]any{"id": id, "type": "user.create", "data": map[string]any{"name": name, "chat_id": chatID}})
	return string(b)
}

func TestSignature(t *testing.T) {
	now := time.Now()
	body := messageEvent("e1", 42, "/start")
	tests := []struct {
		name   string
		secret string
		ts     time.Time
		path   string
		tamper func(h http.Header)
		want   int
	}{
		{name: "valid", secret: testSecret, ts: now, path: "/events", want: http.StatusOK},
		{name: "valid on /", secret: testSecret, ts: now, path: "/", want: http.StatusOK},
		{name: "wrong secret", secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("other")), ts: now, path: "/events", want: http.StatusUnauthorized},
		{name: "stale timestamp", secret: testSecret, ts: now.Add(-6 * time.Minute), path: "/events", want: http.StatusUnauthorized},
		{name: "future timestamp", secret: testSecret, ts: now.Add(6 * time.Minute), path: "/events", want: http.StatusUnauthorized},
		{name: "no signature", secret: testSecret, ts: now, path: "/events", tamper: func(h http.Header) { h.Del("webhook-signature") }, want: http.StatusUnauthorized},
		{name: "signature of another id", secret: testSecret, ts: now, path: "/events", tamper: func(h http.Header) { h.Set("webhook-id", "e2") }, want: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			req, err := http.NewRequest(http.MethodPost, env.url+tc.path, bytes.NewReader([]byte(body)))
			require.NoError(t, err)
			req.Header = sign(t, tc.secret, "e1", tc.ts, []byte(body))
			if tc.tamper != nil {
				tc.tamper(req.Header)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)

			st := env.srv.State()
			if tc.want == http.StatusOK {
				require.Len(t, st.Events, 1)
				require.Equal(t, 0, st.Rejected)
			} else {
				require.Empty(t, st.Events)
				require.Equal(t, 1, st.Rejected)
			}
		})
	}
}

func TestUnsignedBodyTamperedRejected(t *testing.T) {
	env := newTestEnv(t)
	body := userCreateEvent("u1", 42, "Alice")
	req, err := http.NewRequest(http.MethodPost, env.url+"/events", bytes.NewReader([]byte(userCreateEvent("u1", 42, "Mallory"))))
	require.NoError(t, err)
	req.Header = sign(t, testSecret, "u1", time.Now(), []byte(body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Empty(t, env.srv.State().Users)
}

func TestUserCreateAndDedupe(t *testing.T) {
	env := newTestEnv(t)
	body := userCreateEvent("u1", 42, "Alice")
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "u1", time.Now(), body))
	// A retry of the same delivery (same webhook-id, new timestamp) is acknowledged and ignored.
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "u1", time.Now().Add(time.Second), body))

	st := env.srv.State()
	require.Len(t, st.Users, 1)
	require.Equal(t, "Alice", st.Users[0].Name)
	require.Equal(t, int64(42), st.Users[0].ChatID)
	require.Len(t, st.Events, 1)
	require.Equal(t, SeenEvent{WebhookID: "u1", Type: "user.create", ChatID: 42}, st.Events[0])
	require.Equal(t, 1, st.Duplicates)
}

func TestReplyThroughSender(t *testing.T) {
	env := newTestEnv(t)
	now := time.Now()
	// A command and the answers of its conversation are not echoed...
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m1", now, messageEvent("m1", 42, "/familiarize")))
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m2", now, messageEvent("m2", 42, "123")))
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m3", now, messageEvent("m3", 42, "Alice")))
	require.Empty(t, env.sender.Calls())
	// ...another chat is not in a conversation...
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m4", now, messageEvent("m4", 43, "hi")))
	// ...and after user.create the chat's texts are echoed, once per webhook-id.
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "u1", now, userCreateEvent("u1", 42, "Alice")))
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m5", now, messageEvent("m5", 42, "Hello there")))
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m5", now, messageEvent("m5", 42, "Hello there")))
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m6", now, messageEvent("m6", 42, "/help")))
	// The bot's own messages are never echoed back.
	own := strings.Replace(messageEvent("m7", 42, "You said: hi"), `"from":{"id":42}`, `"from":{"id":7,"is_bot":true}`, 1)
	require.Contains(t, own, `"is_bot":true`)
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m7", now, own))

	require.Equal(t, []sentCall{
		{Auth: "Bearer api-token", IdempotencyKey: "reply-m4", ChatID: 43, Text: "You said: hi"},
		{Auth: "Bearer api-token", IdempotencyKey: "reply-m5", ChatID: 42, Text: "You said: Hello there"},
	}, env.sender.Calls())
	st := env.srv.State()
	require.Equal(t, []Reply{{ChatID: 43, Text: "You said: hi", MessageID: 101}, {ChatID: 42, Text: "You said: Hello there", MessageID: 102}}, st.Replies)
	require.Len(t, st.Events, 8)
	require.Equal(t, "Hello there", st.Events[5].Text)
}

func TestReplyFailureIsRetried(t *testing.T) {
	env := newTestEnv(t)
	env.sender.setFail(true)
	body := messageEvent("m1", 42, "ping")
	require.Equal(t, http.StatusServiceUnavailable, env.post(t, "/events", testSecret, "m1", time.Now(), body))
	require.Empty(t, env.srv.State().Events, "a failed event is not recorded, so its retry is not a duplicate")

	env.sender.setFail(false)
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "m1", time.Now(), body))
	require.Len(t, env.sender.Calls(), 1)
	require.Len(t, env.srv.State().Replies, 1)
}

func TestStateAndHealth(t *testing.T) {
	env := newTestEnv(t)
	require.Equal(t, http.StatusOK, env.post(t, "/events", testSecret, "u1", time.Now(), userCreateEvent("u1", 42, "Alice")))

	resp, err := http.Get(env.url + "/state")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var st State
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	require.Len(t, st.Users, 1)
	require.Equal(t, "u1", st.Events[0].WebhookID)
	require.NotNil(t, st.Replies)

	resp2, err := http.Get(env.url + "/healthz")
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, http.StatusOK, resp2.StatusCode)
}

func TestBadEventBody(t *testing.T) {
	env := newTestEnv(t)
	require.Equal(t, http.StatusBadRequest, env.post(t, "/events", testSecret, "x1", time.Now(), "not json"))
}

// blockingReplier holds SendMessage until release is closed.
type blockingReplier struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingReplier) SendMessage(ctx context.Context, _ int64, _, _ string) (int, error) {
	close(b.entered)
	select {
	case <-b.release:
		return 1, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func TestConcurrentDuplicateIsRetryable(t *testing.T) {
	rep := &blockingReplier{entered: make(chan struct{}), release: make(chan struct{})}
	srv := NewServer(testSecret, 5*time.Minute, rep, zaptest.NewLogger(t))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env := &testEnv{srv: srv, url: ts.URL}

	body := messageEvent("m1", 42, "ping")
	h := sign(t, testSecret, "m1", time.Now(), []byte(body))
	first := make(chan int, 1)
	go func() {
		status, _ := env.tryPost(h, "/events", body)
		first <- status
	}()
	select {
	case <-rep.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first delivery did not reach the sender")
	}
	// The same delivery while the first is in flight: 409, which the receiver retries.
	require.Equal(t, http.StatusConflict, env.post(t, "/events", testSecret, "m1", time.Now(), body))
	close(rep.release)
	require.Equal(t, http.StatusOK, <-first)
	require.Len(t, srv.State().Replies, 1)
}
