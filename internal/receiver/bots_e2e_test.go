package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/receiver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// whoami answers with the bot the update came to: replies must leave
// through that bot.
func whoami(r *handler.Router) {
	r.Command("whoami", handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
		return c.Reply(ctx, fmt.Sprintf("I am @%s (%d)", c.Bot().Username, c.Bot().ID))
	}))
}

func putBot(t *testing.T, base string, id int64, token string) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"token": token})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, base+"/admin/bots/"+strconv.FormatInt(id, 10), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// listBots is GET /admin/bots as id -> status.
func listBots(t *testing.T, base string) map[int64]map[string]any {
	t.Helper()
	status, body := httpDo(t, http.MethodGet, base+"/admin/bots", adminToken)
	require.Equal(t, http.StatusOK, status, body)
	out := map[int64]map[string]any{}
	for _, b := range body["bots"].([]any) {
		m := b.(map[string]any)
		out[int64(m["id"].(float64))] = m
	}
	return out
}

func TestSeveralBots(t *testing.T) {
	env := emutest.Start(t)
	down := newDownstream(t)
	// Three bots from the environment: the emulator's own (TG_BOT_TOKEN)
	// and two more (TG_BOT_TOKENS) that exist before they log in.
	bot1 := env.BotID
	bot2, bot3, bot4, bot5 := bot1+1, bot1+2, bot1+3, bot1+4
	names := map[int64]string{}
	for _, id := range []int64{bot1, bot2, bot3} {
		u, err := env.Server.CreateBot(id, "")
		require.NoError(t, err)
		names[id] = u.Username
	}
	token := func(id int64) string { return fmt.Sprintf("%d:secret-of-%d", id, id) }
	dir := t.TempDir()
	cfg := testConfig(env, dir, down.srv.URL)
	cfg.BotTokens = []string{token(bot2), token(bot3)}

	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	r := startReceiverLog(t, cfg, log, receiver.WithExtraRoutes(whoami))
	base := "http://" + r.svc.Addr()

	got := listBots(t, base)
	require.Len(t, got, 3)
	for _, id := range []int64{bot1, bot2, bot3} {
		require.Equal(t, "ready", got[id]["status"], got[id])
		require.Equal(t, names[id], got[id]["username"])
	}

	// One user writes to each bot: the same chat ID, three bots.
	ann := newUser(t, env, "Ann")
	for _, id := range []int64{bot1, bot2, bot3} {
		_, err := env.Server.UserSendMessage(ann.ID, id, "hello "+names[id])
		require.NoError(t, err)
		_, err = env.Server.UserSendMessage(ann.ID, id, "/whoami")
		require.NoError(t, err)
	}
	waitBotEvents := func(id int64, want ...string) {
		t.Helper()
		require.Eventually(t, func() bool { return len(botTexts(down, ann.ID, id)) >= len(want) }, 20*time.Second, 20*time.Millisecond,
			"bot %d got %q", id, botTexts(down, ann.ID, id))
		require.Equal(t, want, botTexts(down, ann.ID, id))
	}
	for _, id := range []int64{bot1, bot2, bot3} {
		waitBotEvents(id, "hello "+names[id], "/whoami")
		want := fmt.Sprintf("I am @%s (%d)", names[id], id)
		require.Eventually(t, func() bool { return len(botSaidVia(t, env, ann.ID, id)) > 0 }, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, []string{want}, botSaidVia(t, env, ann.ID, id), "the answer leaves through the bot written to")
	}
	for _, ev := range down.got() {
		require.Equal(t, names[ev.BotID], ev.BotUsername, "event %s", ev.ID)
	}
	down.validateBodies(t)

	// A bot whose events keep failing downstream holds back no other bot,
	// not even in the same chat.
	down.setStatus(func(ev event.Event) int {
		if ev.BotID == bot3 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	_, err := env.Server.UserSendMessage(ann.ID, bot3, "stuck for now")
	require.NoError(t, err)
	_, err = env.Server.UserSendMessage(ann.ID, bot2, "not held back")
	require.NoError(t, err)
	waitBotEvents(bot2, "hello "+names[bot2], "/whoami", "not held back")
	down.setStatus(nil)
	waitBotEvents(bot3, "hello "+names[bot3], "/whoami", "stuck for now")

	// Adding bots at runtime.
	var fi os.FileInfo
	status, body := putBot(t, base, bot4, token(bot4))
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, "emu"+strconv.FormatInt(bot4, 10)+"_bot", body["username"])
	require.NotContains(t, fmt.Sprint(body), "secret-of")
	status, body = putBot(t, base, bot4, token(bot4))
	require.Equal(t, http.StatusOK, status, "already present: %v", body)
	status, body = putBot(t, base, bot5, token(bot5))
	require.Equal(t, http.StatusCreated, status, body)
	fi, err = os.Stat(filepath.Join(bots.Dir(dir, bot4), "token"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Refusals: a token of another bot than the path's, one Telegram
	// refuses (an ID that is a user's), not a token at all.
	status, body = putBot(t, base, bot4+100, token(bot4))
	require.Equal(t, http.StatusBadRequest, status, body)
	status, body = putBot(t, base, ann.ID, token(ann.ID))
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Equal(t, "ACCESS_TOKEN_INVALID", body["error"].(map[string]any)["telegram_error"], body)
	require.NoDirExists(t, bots.Dir(dir, ann.ID), "nothing persisted for a refused token")
	status, body = putBot(t, base, bot4, "nonsense")
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Len(t, listBots(t, base), 5)

	_, err = env.Server.UserSendMessage(ann.ID, bot4, "hello bot4")
	require.NoError(t, err)
	waitBotEvents(bot4, "hello bot4")

	// Removing one.
	status, body = httpDo(t, http.MethodDelete, base+"/admin/bots/"+strconv.FormatInt(bot5, 10), adminToken)
	require.Equal(t, http.StatusOK, status, body)
	status, body = httpDo(t, http.MethodDelete, base+"/admin/bots/"+strconv.FormatInt(bot5, 10), adminToken)
	require.Equal(t, http.StatusNotFound, status, body)
	require.Equal(t, "bot_not_found", body["error"].(map[string]any)["code"])
	require.NoDirExists(t, bots.Dir(dir, bot5))
	_, err = env.Server.UserSendMessage(ann.ID, bot5, "anyone?")
	require.NoError(t, err)
	_, err = env.Server.UserSendMessage(ann.ID, bot4, "still here")
	require.NoError(t, err)
	waitBotEvents(bot4, "hello bot4", "still here")

	// A restart keeps the bots added at runtime, logs nobody in again,
	// and never saw bot 5's message.
	logins := env.Server.Stats().RPC["auth.importBotAuthorization"]
	r.stop(t)
	r = startReceiverLog(t, cfg, log, receiver.WithExtraRoutes(whoami))
	base = "http://" + r.svc.Addr()
	got = listBots(t, base)
	require.Len(t, got, 4)
	for _, id := range []int64{bot1, bot2, bot3, bot4} {
		require.Equal(t, "ready", got[id]["status"], got[id])
	}
	require.Equal(t, logins, env.Server.Stats().RPC["auth.importBotAuthorization"], "sessions kept: no new login")
	_, err = env.Server.UserSendMessage(ann.ID, bot4, "after restart")
	require.NoError(t, err)
	waitBotEvents(bot4, "hello bot4", "still here", "after restart")
	require.Empty(t, botTexts(down, ann.ID, bot5))

	// Tokens never reach the logs.
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		require.NotContains(t, line, "secret-of", "log line %q", e.Message)
		require.NotContains(t, line, "test-secret", "log line %q", e.Message)
	}
}

// botTexts are the message texts the downstream got from chat through bot.
func botTexts(d *downstream, chat, bot int64) []string {
	var out []string
	for _, ev := range d.got() {
		if ev.Type == event.TypeMessage && ev.ChatID() == chat && ev.BotID == bot {
			out = append(out, ev.Message.Text)
		}
	}
	return out
}

// botSaidVia returns the texts bot sent to user.
func botSaidVia(t *testing.T, env *emutest.Env, user, bot int64) []string {
	t.Helper()
	msgs, err := env.Server.Messages(user, bot)
	require.NoError(t, err)
	var out []string
	for _, m := range msgs {
		if m.Out {
			out = append(out, m.Text)
		}
	}
	return out
}

// A single-bot DATA_DIR (session in DATA_DIR/receiver.session.json) keeps
// its login: the session moves to DATA_DIR/bots/<bot_id>/.
func TestSingleBotDataDirMigrated(t *testing.T) {
	s := newSuite(t)
	dir := s.dataDir(t)
	logins := s.env.Server.Stats().RPC["auth.importBotAuthorization"]
	r := startReceiver(t, testConfig(s.env, dir, "http://127.0.0.1:1/unused"))
	r.stop(t)
	require.Equal(t, logins, s.env.Server.Stats().RPC["auth.importBotAuthorization"], "no new login")
	require.FileExists(t, bots.SessionFile(dir, s.env.BotID, receiver.SessionName))
	require.NoFileExists(t, filepath.Join(dir, receiver.SessionName+".session.json"))
}
