package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/api"
	consumer "github.com/tgbotsvc/tgbot/examples/downstream/webhook"
	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/receiver"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/webhook"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

const (
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	adminToken = "admin-test-token"
)

// downstream is the company's service in tests: it accepts only correctly
// signed events and records them, answering with status(ev) (200 when nil).
type downstream struct {
	t      *testing.T
	key    []byte
	srv    *httptest.Server
	mu     sync.Mutex
	events []event.Event
	bodies [][]byte
	status func(ev event.Event) int
	bad    int // requests with a bad signature
}

func newDownstream(t *testing.T) *downstream {
	key, err := webhook.ParseSecret(testSecret)
	require.NoError(t, err)
	d := &downstream{t: t, key: key}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *downstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if _, err := consumer.Verify(string(d.key), r.Header, body, time.Now(), 5*time.Minute); err != nil {
		d.mu.Lock()
		d.bad++
		d.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev event.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get(webhook.HeaderID) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status != nil {
		if st := d.status(ev); st != 0 && st != http.StatusOK {
			w.WriteHeader(st)
			return
		}
	}
	d.events = append(d.events, ev)
	d.bodies = append(d.bodies, body)
	w.WriteHeader(http.StatusOK)
}

func (d *downstream) setStatus(f func(ev event.Event) int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = f
}

func (d *downstream) got() []event.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]event.Event(nil), d.events...)
}

// texts are the texts of the message events of chat, in arrival order.
func (d *downstream) texts(chat int64) []string {
	var out []string
	for _, ev := range d.got() {
		if ev.Type == event.TypeMessage && ev.ChatID() == chat {
			out = append(out, ev.Message.Text)
		}
	}
	return out
}

func (d *downstream) waitTexts(t *testing.T, chat int64, want []string) {
	t.Helper()
	require.Eventually(t, func() bool { return len(d.texts(chat)) >= len(want) }, 20*time.Second, 20*time.Millisecond,
		"chat %d got %q", chat, d.texts(chat))
	require.Equal(t, want, d.texts(chat))
}

// suite is one emulator and one logged-in bot session shared by the end to
// end tests: a new auth key costs seconds of CPU under -race, so each test
// starts from a copy of the session (and a fresh outbox).
type suite struct {
	env     *emutest.Env
	session []byte
}

func newSuite(t *testing.T) *suite {
	env := emutest.Start(t)
	dir := t.TempDir()
	r := startReceiver(t, testConfig(env, dir, "http://127.0.0.1:1/unused"))
	r.stop(t)
	session, err := os.ReadFile(bots.SessionFile(dir, env.BotID, receiver.SessionName))
	require.NoError(t, err)
	return &suite{env: env, session: session}
}

// dataDir is a new DATA_DIR holding the bot's session where a single-bot
// receiver kept it (DATA_DIR/receiver.session.json): every test that
// starts from it also checks that the session is moved, not lost.
func (s *suite) dataDir(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(tgclient.SessionFile(dir, receiver.SessionName), s.session, 0o600))
	return dir
}

func testConfig(env *emutest.Env, dataDir, url string) receiver.Config {
	cfg := receiver.Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminToken = adminToken
	cfg.HTTP.URL = url
	cfg.HTTP.Secret = testSecret
	cfg.BackoffMin = 20 * time.Millisecond
	cfg.BackoffMax = 200 * time.Millisecond
	cfg.TGRetry = 100 * time.Millisecond
	cfg.Telegram = env.Telegram
	cfg.DataDir = config.DataDir{Path: dataDir}
	cfg.Log = config.Log{Level: "debug", Format: "json", FileMaxSizeMB: 5}
	return cfg
}

// running is a receiver started by startReceiver.
type running struct {
	svc    *receiver.Service
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's error, valid after done
}

// stop shuts the receiver down gracefully and checks Run's error.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		require.NoError(t, r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("receiver did not stop")
	}
}

func startReceiver(t *testing.T, cfg receiver.Config, opts ...receiver.Option) *running {
	t.Helper()
	return startReceiverLog(t, cfg, zaptest.NewLogger(t), opts...)
}

func startReceiverLog(t *testing.T, cfg receiver.Config, log *zap.Logger, opts ...receiver.Option) *running {
	t.Helper()
	svc, err := receiver.New(cfg, log, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = svc.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	exited := func() bool {
		select {
		case <-r.done:
			return true
		default:
			return false
		}
	}
	require.Eventually(t, func() bool { return exited() || svc.Ready() }, 60*time.Second, 20*time.Millisecond, "receiver not ready")
	if exited() {
		t.Fatalf("receiver stopped: %v", r.err)
	}
	return r
}

func newUser(t *testing.T, env *emutest.Env, name string) tgemu.User {
	t.Helper()
	u, err := env.Server.CreateUser(name, "")
	require.NoError(t, err)
	return u
}

func send(t *testing.T, env *emutest.Env, user int64, text string) {
	t.Helper()
	_, err := env.Server.UserSendMessage(user, env.BotID, text)
	require.NoError(t, err)
}

// botSaid returns the texts the bot sent to user.
func botSaid(t *testing.T, env *emutest.Env, user int64) []string {
	t.Helper()
	return botSaidVia(t, env, user, env.BotID)
}

// waitBotSaid waits until the bot said at least n messages to user and
// returns them.
func waitBotSaid(t *testing.T, env *emutest.Env, user int64, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(botSaid(t, env, user)) >= n }, 10*time.Second, 20*time.Millisecond,
		"bot said %q", botSaid(t, env, user))
	return botSaid(t, env, user)
}

func httpDo(t *testing.T, method, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// validateBodies checks every event the downstream accepted against
// api/events.schema.json.
func (d *downstream) validateBodies(t *testing.T) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.EventsSchema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("events.schema.json", doc))
	sch, err := c.Compile("events.schema.json")
	require.NoError(t, err)
	d.mu.Lock()
	defer d.mu.Unlock()
	require.NotEmpty(t, d.bodies)
	for _, body := range d.bodies {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		require.NoError(t, err)
		require.NoError(t, sch.Validate(inst), "%s", body)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}
