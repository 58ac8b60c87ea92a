package sender_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// A username the sender resolved earlier may since belong to nobody it can
// reach (usernames change hands): Telegram's "chat not found" for the
// cached peer makes the gateway resolve the username again and send once
// more, to whoever holds it now.
func TestStaleUsernameResolvedAgain(t *testing.T) {
	env := emutest.Start(t)
	dir := t.TempDir()
	carol, err := env.Server.CreateUser("Carol", "carol_moves")
	require.NoError(t, err)
	_, err = env.Server.UserSendMessage(carol.ID, env.BotID, "/start")
	require.NoError(t, err)

	s := startSender(t, env, dir, nil)
	resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"username": "@carol_moves", "text": "first"}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	s.stop()

	// The cache now says the username is someone Telegram does not know.
	st, err := store.Open(filepath.Join(bots.Dir(dir, env.BotID), "sender.db"))
	require.NoError(t, err)
	require.NoError(t, st.PutPeers(store.Peer{Kind: send.PeerUser, ID: 424242, AccessHash: 7, Username: "carol_moves", UpdatedAt: time.Now()}))
	require.NoError(t, st.Close())

	lookups := env.Server.Stats().RPC["contacts.resolveUsername"]
	s = startSender(t, env, dir, nil)
	resp = s.postJSON(t, "/api_v1/send_message", map[string]any{"username": "carol_moves", "text": "second"}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.Equal(t, lookups+1, env.Server.Stats().RPC["contacts.resolveUsername"], "resolved once more")
	msgs := botMessages(t, env, carol.ID)
	require.Equal(t, "second", msgs[len(msgs)-1].Text)
	require.Equal(t, int64(carol.ID), int64(resp.JSON(t)["chat_id"].(float64)))
}
