package receiver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tgbotsvc/tgbot/internal/procrun"
	"github.com/tgbotsvc/tgbot/internal/receiver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/receiver/handlers"
)

// TestEndToEnd runs the receiver against the emulator over TCP and an
// httptest downstream that verifies signatures.
func TestEndToEnd(t *testing.T) {
	s := newSuite(t)
	t.Run("MessageArrivesSigned", s.testMessageArrivesSigned)
	t.Run("DownstreamOutageKeepsOrder", s.testDownstreamOutageKeepsOrder)
	t.Run("RestartDeliversOutboxAndMissedUpdates", func(t *testing.T) { s.testRestart(t, false) })
	t.Run("RestartWithSyncCommit", func(t *testing.T) { s.testRestart(t, true) })
	t.Run("Familiarize", s.testFamiliarize)
	t.Run("DeadLettersReplay", s.testDeadLetters)
	t.Run("AdminDisabledWithoutToken", s.testAdminDisabled)
	t.Run("HandlerPanicContained", s.testHandlerPanic)
	t.Run("CallbackQuery", s.testCallback)
	t.Run("EditsAndLateAutoAnswer", s.testEditsAndLateAutoAnswer)
	t.Run("Channels", s.testChannels)
	t.Run("MyChatMember", s.testMyChatMember)
	t.Run("AlbumIsOneEvent", s.testAlbumIsOneEvent)
	t.Run("ReconnectFetchesMissedUpdates", s.testReconnect)
	t.Run("NoSecretsInLogs", s.testNoSecretsInLogs)
	t.Run("UserLogin", s.testUserLogin)
	t.Run("Kill9", s.testKill9)
}

func (s *suite) testMessageArrivesSigned(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL+"/events"))
	u := newUser(t, env, "Ann")

	send(t, env, u.ID, "hello bot")
	down.waitTexts(t, u.ID, []string{"hello bot"})
	ev := down.got()[0]
	require.Equal(t, event.TypeMessage, ev.Type)
	require.Equal(t, env.BotID, ev.BotID)
	require.Equal(t, event.MessageID(env.BotID, 0, ev.Message.ID), ev.ID)
	require.Equal(t, event.ChatPrivate, ev.Chat.Type)
	require.Equal(t, u.ID, ev.From.ID)
	require.Equal(t, "Ann", ev.From.FirstName)
	require.NotZero(t, ev.Date)
	require.Zero(t, down.bad)
	down.validateBodies(t)
}

func (s *suite) testDownstreamOutageKeepsOrder(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	failing := true
	down.setStatus(func(event.Event) int {
		if failing {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	r := startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL))
	a, b := newUser(t, env, "A"), newUser(t, env, "B")
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("m%d", i))
		send(t, env, a.ID, want[i])
		send(t, env, b.ID, want[i])
	}
	require.Eventually(t, func() bool {
		_, body := httpDo(t, http.MethodGet, "http://"+r.svc.Addr()+"/readyz", "")
		return body["outbox_depth"] == 20.0
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // a few failed rounds
	require.Empty(t, down.got())
	down.setStatus(func(event.Event) int {
		failing = false
		return http.StatusOK
	})
	down.waitTexts(t, a.ID, want)
	down.waitTexts(t, b.ID, want)
}

// The receiver stops with undelivered events in its outbox; messages are
// sent while it is down; after a restart everything arrives, in order, once.
func (s *suite) testRestart(t *testing.T, syncCommit bool) {
	env := s.env
	down := newDownstream(t)
	down.setStatus(func(event.Event) int { return http.StatusServiceUnavailable })
	dir := s.dataDir(t)
	cfg := testConfig(env, dir, down.srv.URL)
	cfg.SyncCommit = syncCommit
	r := startReceiver(t, cfg)
	u := newUser(t, env, "Restart")
	for i := range 5 {
		send(t, env, u.ID, fmt.Sprintf("before %d", i))
	}
	require.Eventually(t, func() bool {
		_, body := httpDo(t, http.MethodGet, "http://"+r.svc.Addr()+"/readyz", "")
		return body["outbox_depth"] == 5.0
	}, 10*time.Second, 20*time.Millisecond)
	r.stop(t)

	for i := range 3 {
		send(t, env, u.ID, fmt.Sprintf("while down %d", i))
	}
	down.setStatus(nil)
	startReceiver(t, cfg)
	want := []string{"before 0", "before 1", "before 2", "before 3", "before 4", "while down 0", "while down 1", "while down 2"}
	down.waitTexts(t, u.ID, want)
	send(t, env, u.ID, "after")
	down.waitTexts(t, u.ID, append(want, "after"))
}

func (s *suite) testFamiliarize(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL))
	u := newUser(t, env, "Fam")

	waitBot := func(n int) []string { return waitBotSaid(t, env, u.ID, n) }
	send(t, env, u.ID, "/familiarize")
	require.Equal(t, []string{handlers.AskName}, waitBot(1))
	send(t, env, u.ID, "12345")
	require.Equal(t, []string{handlers.AskName, handlers.AskName}, waitBot(2))
	send(t, env, u.ID, "Alice")
	require.Equal(t, []string{handlers.AskName, handlers.AskName, "Nice to meet you Alice!"}, waitBot(3))

	var create event.Event
	require.Eventually(t, func() bool {
		for _, ev := range down.got() {
			if ev.Type == event.TypeUserCreate {
				create = ev
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	var data event.UserCreate
	require.NoError(t, json.Unmarshal(create.Data, &data))
	require.Equal(t, event.UserCreate{Name: "Alice", ChatID: u.ID}, data)
	require.Equal(t, u.ID, create.ChatID())
	// Every message is forwarded too, answers included.
	down.waitTexts(t, u.ID, []string{"/familiarize", "12345", "Alice"})
	down.validateBodies(t)
}

func (s *suite) testDeadLetters(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	var accept atomic.Bool
	down.setStatus(func(ev event.Event) int {
		if ev.Message != nil && ev.Message.Text == "poison" && !accept.Load() {
			return http.StatusUnprocessableEntity
		}
		return http.StatusOK
	})
	r := startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL))
	base := "http://" + r.svc.Addr()
	u := newUser(t, env, "Dead")
	send(t, env, u.ID, "poison")
	send(t, env, u.ID, "fine")
	down.waitTexts(t, u.ID, []string{"fine"}) // a permanent error does not hold up the chat

	status, _ := httpDo(t, http.MethodGet, base+"/admin/dead-letters", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = httpDo(t, http.MethodGet, base+"/admin/dead-letters", "wrong")
	require.Equal(t, http.StatusUnauthorized, status)
	var body map[string]any
	require.Eventually(t, func() bool {
		status, body = httpDo(t, http.MethodGet, base+"/admin/dead-letters", adminToken)
		return status == http.StatusOK && body["count"] == 1.0
	}, 10*time.Second, 20*time.Millisecond)
	dl := body["dead_letters"].([]any)[0].(map[string]any)
	require.Equal(t, "downstream answered 422", dl["last_error"])
	id := dl["event"].(map[string]any)["id"].(string)

	status, _ = httpDo(t, http.MethodPost, base+"/admin/dead-letters/nope/replay", adminToken)
	require.Equal(t, http.StatusNotFound, status)
	accept.Store(true)
	status, body = httpDo(t, http.MethodPost, base+"/admin/dead-letters/"+url.PathEscape(id)+"/replay", adminToken)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []any{id}, body["replayed"])
	down.waitTexts(t, u.ID, []string{"fine", "poison"})
	status, body = httpDo(t, http.MethodGet, base+"/admin/dead-letters", adminToken)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 0.0, body["count"])

	// Replay all.
	accept.Store(false)
	send(t, env, u.ID, "poison")
	require.Eventually(t, func() bool {
		_, body = httpDo(t, http.MethodGet, base+"/admin/dead-letters", adminToken)
		return body["count"] == 1.0
	}, 10*time.Second, 20*time.Millisecond)
	accept.Store(true)
	status, body = httpDo(t, http.MethodPost, base+"/admin/dead-letters/replay", adminToken)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1.0, body["count"])
	down.waitTexts(t, u.ID, []string{"fine", "poison", "poison"})
}

func (s *suite) testAdminDisabled(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	down := newDownstream(t)
	cfg := testConfig(s.env, s.dataDir(t), down.srv.URL)
	cfg.AdminToken = ""
	r := startReceiver(t, cfg)
	defer func() {
		// A stopped receiver leaves no goroutine behind.
		r.stop(t)
		down.srv.Close()
		http.DefaultClient.CloseIdleConnections()
		// The emulator keeps a push loop per session until it notices the
		// session is gone: that one is not ours.
		goleak.VerifyNone(t, leaks, goleak.IgnoreTopFunction("github.com/tgbotsvc/tgbot/internal/tgemu.(*Server).pushLoop"))
	}()
	status, _ := httpDo(t, http.MethodGet, "http://"+r.svc.Addr()+"/admin/dead-letters", "anything")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = httpDo(t, http.MethodGet, "http://"+r.svc.Addr()+"/healthz", "")
	require.Equal(t, http.StatusOK, status)
	resp, err := http.Get("http://" + r.svc.Addr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func (s *suite) testHandlerPanic(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	echo := handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
		return c.Reply(ctx, "echo "+c.Text())
	})
	r := startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL), receiver.WithExtraRoutes(func(r *handler.Router) {
		r.Command("boom", handler.HandlerFunc(func(context.Context, *handler.Context) error { panic("boom") }))
		r.On(handler.KindMessage, echo)
	}))
	a, b := newUser(t, env, "PanicA"), newUser(t, env, "PanicB")
	send(t, env, a.ID, "/boom")
	send(t, env, b.ID, "hi")
	send(t, env, a.ID, "still there")
	for user, want := range map[int64]string{a.ID: "echo still there", b.ID: "echo hi"} {
		require.Eventually(t, func() bool {
			said := botSaid(t, env, user)
			return len(said) == 1 && said[0] == want
		}, 10*time.Second, 20*time.Millisecond)
	}
	resp, err := http.Get("http://" + r.svc.Addr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = fmt.Fprint(&sb, readAll(t, resp))
	require.Contains(t, sb.String(), "receiver_handler_panics_total 1")
	require.Contains(t, sb.String(), `receiver_handler_runs_total{handler="/boom",result="panic"} 1`)
}

func (s *suite) testCallback(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	answered := make(chan string, 1)
	startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL), receiver.WithExtraRoutes(func(r *handler.Router) {
		r.Command("menu", handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
			_, err := c.ReplyButtons(ctx, "Pick one", [][]handler.Button{{{Text: "Yes", Data: "yes"}, {Text: "No", Data: "no"}}})
			return err
		}))
		r.On(handler.KindCallback, handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
			answered <- c.Event.Callback.Data
			return c.Answer(ctx, "noted")
		}))
	}))
	u := newUser(t, env, "Clicker")
	send(t, env, u.ID, "/menu")
	menuID := waitBotMessage(t, env, u.ID, "Pick one")
	require.NoError(t, env.Server.UserPressButton(u.ID, env.BotID, menuID, []byte("no")))
	select {
	case data := <-answered:
		require.Equal(t, "no", data)
	case <-time.After(10 * time.Second):
		t.Fatal("callback not handled")
	}
	var cb event.Event
	require.Eventually(t, func() bool {
		for _, ev := range down.got() {
			if ev.Type == event.TypeCallbackQuery {
				cb = ev
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, &event.Callback{ID: cb.Callback.ID, CallbackQueryID: cb.Callback.ID, Data: "no", MessageID: menuID}, cb.Callback)
	require.Equal(t, u.ID, cb.From.ID)
	require.Equal(t, u.ID, cb.ChatID())
	require.Equal(t, event.CallbackID(env.BotID, mustInt(t, cb.Callback.ID)), cb.ID)
	down.validateBodies(t)
}

// Updates pushed while the connection is down are fetched when it comes
// back (forced getDifference).
func (s *suite) testReconnect(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL))
	u := newUser(t, env, "Reconnect")
	send(t, env, u.ID, "before")
	down.waitTexts(t, u.ID, []string{"before"})
	want := []string{"before"}
	for i := range 3 {
		env.Server.DisconnectAll()
		want = append(want, fmt.Sprintf("during %d", i))
		send(t, env, u.ID, want[len(want)-1])
		down.waitTexts(t, u.ID, want)
	}
}

// Debug logs of a whole run (start, delivery with bodies, retries, admin)
// contain no secret.
func (s *suite) testNoSecretsInLogs(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	calls := 0
	down.setStatus(func(event.Event) int {
		calls++
		if calls == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	var logs procrun.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &logs, zap.DebugLevel))
	cfg := testConfig(env, s.dataDir(t), strings.Replace(down.srv.URL, "http://", "http://user:urlpassword@", 1)+"/events?token=querysecret")
	cfg.HTTP.APIKey = "apikeysecret"
	cfg.HTTP.Headers = []string{"X-Extra=headersecret"}
	r := startReceiverLog(t, cfg, log)
	u := newUser(t, env, "Secret")
	send(t, env, u.ID, "hello")
	down.waitTexts(t, u.ID, []string{"hello"})
	status, _ := httpDo(t, http.MethodGet, "http://"+r.svc.Addr()+"/admin/dead-letters", "wrong-admin-token")
	require.Equal(t, http.StatusUnauthorized, status)
	r.stop(t)

	out := logs.String()
	require.Contains(t, out, "delivery")
	require.Contains(t, out, "request body")
	_, botSecret, _ := strings.Cut(env.Telegram.BotToken, ":")
	for _, secret := range []string{botSecret, testSecret, strings.TrimPrefix(testSecret, "whsec_"), adminToken,
		"urlpassword", "querysecret", "apikeysecret", "headersecret", "wrong-admin-token", env.Telegram.AppHash} {
		require.NotContains(t, out, secret)
	}
}
