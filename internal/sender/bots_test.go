package sender_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

const adminToken = "admin-token-0123456789"

// botOut are the messages bot sent to user.
func botOut(t testing.TB, env *emutest.Env, user, bot int64) []tgemu.Message {
	t.Helper()
	msgs, err := env.Server.Messages(user, bot)
	require.NoError(t, err)
	var out []tgemu.Message
	for _, m := range msgs {
		if m.Out {
			out = append(out, m)
		}
	}
	return out
}

// uploadAs posts a document with a "bot" field after the file (the form
// is read whole, so the order does not matter).
func (s *running) uploadAs(t testing.TB, bot, name string, data []byte) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("document", name)
	require.NoError(t, err)
	_, err = fw.Write(data)
	require.NoError(t, err)
	if bot != "" {
		require.NoError(t, mw.WriteField("bot", bot))
	}
	require.NoError(t, mw.Close())
	return s.do(t, http.MethodPost, "/api_v1/create_document", mw.FormDataContentType(), buf.Bytes(), nil)
}

func (s *running) admin(t testing.TB, method, path string, body any) response {
	t.Helper()
	var data []byte
	if body != nil {
		var err error
		data, err = json.Marshal(body)
		require.NoError(t, err)
	}
	return s.do(t, method, path, "application/json", data, map[string]string{"Authorization": "Bearer " + adminToken})
}

func TestSeveralBots(t *testing.T) {
	env := emutest.Start(t)
	bot1, bot2, bot3, bot4 := env.BotID, env.BotID+1, env.BotID+2, env.BotID+3
	token := func(id int64) string { return fmt.Sprintf("%d:secret-of-%d", id, id) }
	names := map[int64]string{}
	for _, id := range []int64{bot1, bot2, bot3, bot4} {
		u, err := env.Server.CreateBot(id, "")
		require.NoError(t, err)
		names[id] = u.Username
	}
	ann := newUser(t, env, "Ann")
	for _, id := range []int64{bot2, bot3, bot4} {
		_, err := env.Server.UserSendMessage(ann.ID, id, "/start")
		require.NoError(t, err)
	}
	dir := t.TempDir()
	set := map[string]string{"TG_BOT_TOKENS": token(bot2) + "," + token(bot3), "SENDER_ADMIN_TOKEN": adminToken}
	s := startSender(t, env, dir, set)

	resp := s.do(t, http.MethodGet, "/api_v1/bots", "", nil, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	listed := resp.JSON(t)["bots"].([]any)
	require.Len(t, listed, 3)
	for _, b := range listed {
		m := b.(map[string]any)
		require.Equal(t, true, m["ready"], m)
		require.Equal(t, names[int64(m["id"].(float64))], m["username"])
	}

	// Several bots: the request must name one.
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "which bot?"}, nil)
	require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
	require.Equal(t, "bot_required", resp.errorCode(t))
	require.Contains(t, string(resp.Body), names[bot2], "the answer lists the bots")
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "x", "bot": "nobody_bot"}, nil)
	require.Equal(t, http.StatusNotFound, resp.Status, string(resp.Body))
	require.Equal(t, "bot_not_found", resp.errorCode(t))
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "x", "bot": true}, nil)
	require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))

	// By ID and by username; each message leaves through its bot.
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "from two", "bot": bot2}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "from three", "bot": "@" + names[bot3]}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.Len(t, botOut(t, env, ann.ID, bot2), 1)
	require.Equal(t, "from two", botOut(t, env, ann.ID, bot2)[0].Text)
	require.Equal(t, "from three", botOut(t, env, ann.ID, bot3)[0].Text)
	require.Empty(t, botOut(t, env, ann.ID, bot1))

	// A FLOOD_WAIT on one bot never slows another: bot two waits its 3 s
	// out while bot three sends.
	floods := env.Server.Stats().FloodWaits
	require.NoError(t, env.Server.InjectFault("messages.sendMessage", "FLOOD_WAIT_3", 1))
	slowDone := make(chan response, 1)
	go func() {
		slowDone <- s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "after the wait", "bot": bot2}, nil)
	}()
	require.Eventually(t, func() bool { return env.Server.Stats().FloodWaits > floods }, 10*time.Second, 5*time.Millisecond)
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "no wait", "bot": bot3}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	select {
	case <-slowDone:
		t.Fatal("bot three's send waited for bot two's FLOOD_WAIT")
	default:
	}
	resp = <-slowDone
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))

	// Bulk requests name their bot once, or in every item alike.
	resp = s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": []int64{ann.ID}, "text": "bulk", "bot": bot2}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	resp = s.postJSON(t, "/api_v1/send_multiple_message", []map[string]any{
		{"chat_id": ann.ID, "text": "a", "bot": bot2}, {"chat_id": ann.ID, "text": "b", "bot": bot3}}, nil)
	require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
	require.Len(t, botOut(t, env, ann.ID, bot2), 3)

	// Idempotency keys are per bot: one key, two bots, two messages.
	for _, id := range []int64{bot2, bot3} {
		resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "once each", "bot": id},
			map[string]string{"Idempotency-Key": "same-key"})
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "once each", "bot": id},
			map[string]string{"Idempotency-Key": "same-key"})
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	}
	for _, id := range []int64{bot2, bot3} {
		n := 0
		for _, m := range botOut(t, env, ann.ID, id) {
			if m.Text == "once each" {
				n++
			}
		}
		require.Equal(t, 1, n, "bot %d", id)
	}

	// A document created by one bot is sent by another.
	resp = s.uploadAs(t, "", "r.txt", []byte("report"))
	require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
	require.Equal(t, "bot_required", resp.errorCode(t))
	content := []byte("the quarterly report")
	resp = s.uploadAs(t, strconv.FormatInt(bot2, 10), "q.txt", content)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	docID := resp.JSON(t)["document_id"].(string)
	uploads := env.Server.Stats().RPC["upload.saveFilePart"]
	resp = s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": ann.ID, "document_id": docID, "bot": bot3}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.Greater(t, env.Server.Stats().RPC["upload.saveFilePart"], uploads, "bot three uploads its own copy")
	out := botOut(t, env, ann.ID, bot3)
	last := out[len(out)-1]
	require.NotNil(t, last.Document, "bot three sent the document")
	_, got, err := env.Server.Document(last.Document.ID)
	require.NoError(t, err)
	sum := sha256.Sum256(content)
	gotSum := sha256.Sum256(got)
	require.Equal(t, hex.EncodeToString(sum[:]), hex.EncodeToString(gotSum[:]))

	// Metrics carry the bot.
	metrics := string(s.do(t, http.MethodGet, "/metrics", "", nil, nil).Body)
	require.Contains(t, metrics, `sender_messages_sent_total{bot="`+strconv.FormatInt(bot3, 10)+`",kind="document"} 1`)

	// Adding and removing bots at runtime.
	resp = s.admin(t, http.MethodPut, "/admin/bots/"+strconv.FormatInt(bot4, 10), map[string]string{"token": token(bot4)})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	resp = s.admin(t, http.MethodPut, "/admin/bots/"+strconv.FormatInt(bot4, 10), map[string]string{"token": token(bot4)})
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	resp = s.admin(t, http.MethodPut, "/admin/bots/"+strconv.FormatInt(ann.ID, 10), map[string]string{"token": token(ann.ID)})
	require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
	require.Equal(t, "ACCESS_TOKEN_INVALID", resp.JSON(t)["error"].(map[string]any)["telegram_error"])
	require.NoDirExists(t, bots.Dir(dir, ann.ID))
	resp = s.do(t, http.MethodGet, "/admin/bots", "", nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.Status, "the API token does not open /admin")
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "from four", "bot": bot4}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.Equal(t, "from four", botOut(t, env, ann.ID, bot4)[0].Text)

	logins := env.Server.Stats().RPC["auth.importBotAuthorization"]
	s.stop()
	s = startSender(t, env, dir, set)
	resp = s.admin(t, http.MethodGet, "/admin/bots", nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.Len(t, resp.JSON(t)["bots"], 4, "the bot added at runtime survives a restart: %s", resp.Body)
	require.Equal(t, logins, env.Server.Stats().RPC["auth.importBotAuthorization"], "no new login")

	resp = s.admin(t, http.MethodDelete, "/admin/bots/"+strconv.FormatInt(bot4, 10), nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	resp = s.admin(t, http.MethodDelete, "/admin/bots/"+strconv.FormatInt(bot4, 10), nil)
	require.Equal(t, http.StatusNotFound, resp.Status, string(resp.Body))
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": ann.ID, "text": "gone", "bot": bot4}, nil)
	require.Equal(t, http.StatusNotFound, resp.Status, string(resp.Body))
	require.Equal(t, "bot_not_found", resp.errorCode(t))
	s.requireNoSecretLogged(t, "secret-of-")
}

// A single-bot DATA_DIR (session and store at the top) keeps its login
// and its documents: both move to DATA_DIR/bots/<bot_id>/.
func TestSingleBotDataDirMigrated(t *testing.T) {
	env := emutest.Start(t)
	dir := t.TempDir()
	s := startSender(t, env, dir, nil)
	resp := s.upload(t, "a.txt", "", strings.NewReader("kept"))
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	docID := resp.JSON(t)["document_id"].(string)
	s.stop()
	// Put the files where a single-bot sender kept them.
	botDir := bots.Dir(dir, env.BotID)
	require.NoError(t, os.Rename(filepath.Join(botDir, "sender.db"), filepath.Join(dir, "sender.db")))
	require.NoError(t, os.Rename(filepath.Join(botDir, "sender.session.json"), filepath.Join(dir, "sender.session.json")))

	logins := env.Server.Stats().RPC["auth.importBotAuthorization"]
	s = startSender(t, env, dir, nil)
	require.Equal(t, logins, env.Server.Stats().RPC["auth.importBotAuthorization"], "no new login")
	require.FileExists(t, filepath.Join(botDir, "sender.db"))
	require.NoFileExists(t, filepath.Join(dir, "sender.db"))
	ann := newUser(t, env, "Ann")
	resp = s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": ann.ID, "document_id": docID}, nil)
	require.Equal(t, http.StatusOK, resp.Status, "the document survived the move: %s", resp.Body)
}
