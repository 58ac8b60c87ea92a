package sender_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotd/td/constant"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestChannels: the bot posts in a broadcast channel and a supergroup by
// their -100<id> chat IDs (the sender learns each channel's access hash once,
// with channels.getChannels), edits, pins and deletes there, and sends a
// document; the emulator's control API (over HTTP) shows the result. A
// channel the bot is not in is chat_not_found.
func TestChannels(t *testing.T) {
	env := emutest.Start(t)
	ctl := httptest.NewServer(env.Server.Handler())
	defer ctl.Close()
	s := startSender(t, env, t.TempDir(), nil)
	alice := newUser(t, env, "Alice")

	createChannel := func(t *testing.T, body string) tgemu.Channel {
		t.Helper()
		resp, err := http.Post(ctl.URL+"/v1/channels", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		var ch tgemu.Channel
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&ch))
		return ch
	}
	channelMessages := func(t *testing.T, id int64) []tgemu.Message {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("%s/v1/channels/%d/messages?bot_id=%d", ctl.URL, id, env.BotID))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out struct {
			Messages []tgemu.Message `json:"messages"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out.Messages
	}
	find := func(t *testing.T, channel int64, id int) *tgemu.Message {
		t.Helper()
		for _, m := range channelMessages(t, channel) {
			if m.ID == id {
				return &m
			}
		}
		return nil
	}
	chatID := func(id int64) int64 {
		var p constant.TDLibPeerID
		p.Channel(id)
		return int64(p)
	}
	sendText := func(t *testing.T, chat int64, text string) int {
		t.Helper()
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": chat, "text": text}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.EqualValues(t, chat, resp.JSON(t)["chat_id"])
		return int(resp.JSON(t)["message_id"].(float64))
	}

	news := createChannel(t, fmt.Sprintf(`{"title":"News","megagroup":false,"member_ids":[%d]}`, alice.ID))
	super := createChannel(t, fmt.Sprintf(`{"title":"Super","megagroup":true,"member_ids":[%d]}`, alice.ID))
	require.Contains(t, news.Admins, env.BotID)
	require.NotContains(t, super.Admins, env.BotID)

	t.Run("post, edit, pin, delete in a broadcast channel", func(t *testing.T) {
		id := sendText(t, chatID(news.ID), "first post")
		m := find(t, news.ID, id)
		require.NotNil(t, m)
		require.True(t, m.Out)
		require.Equal(t, "first post", m.Text)
		id2 := sendText(t, chatID(news.ID), "second post")
		require.Equal(t, id+1, id2, "channel message IDs are the channel's")

		resp := s.postJSON(t, "/api_v1/edit_message", map[string]any{"chat_id": chatID(news.ID), "message_id": id, "text": "first post, edited"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		m = find(t, news.ID, id)
		require.Equal(t, "first post, edited", m.Text)
		require.NotZero(t, m.EditDate)

		resp = s.postJSON(t, "/api_v1/pin_message", map[string]any{"chat_id": chatID(news.ID), "message_id": id}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.True(t, find(t, news.ID, id).Pinned)

		resp = s.postJSON(t, "/api_v1/delete_messages", map[string]any{"chat_id": chatID(news.ID), "message_ids": []int{id2}}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.Equal(t, true, resp.JSON(t)["results"].([]any)[0].(map[string]any)["ok"])
		require.Nil(t, find(t, news.ID, id2))
		require.NotNil(t, find(t, news.ID, id))
	})

	t.Run("supergroup: text and document", func(t *testing.T) {
		userMsg, err := env.Server.UserSendChannelMessage(alice.ID, super.ID, "hi bot")
		require.NoError(t, err)
		id := sendText(t, chatID(super.ID), "hi Alice")
		require.Greater(t, id, userMsg)
		doc := s.createDocument(t, "report.txt", "text/plain", strings.NewReader("quarterly numbers"))
		resp := s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": chatID(super.ID), "document_id": doc.DocumentID, "caption": "the report"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		msgs := channelMessages(t, super.ID)
		require.Len(t, msgs, 3)
		require.False(t, msgs[0].Out)
		require.Equal(t, alice.ID, msgs[0].FromID)
		require.Equal(t, "hi Alice", msgs[1].Text)
		last := msgs[2]
		require.True(t, last.Out)
		require.Equal(t, "the report", last.Text)
		require.NotNil(t, last.Document)
		require.Equal(t, doc.SHA256, last.Document.SHA256)
	})

	t.Run("not a member", func(t *testing.T) {
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": chatID(news.ID + 1000), "text": "x"}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Status, string(resp.Body))
		require.Equal(t, "chat_not_found", resp.errorCode(t))
	})
	// One look-up per channel (the unknown one included); the hashes are kept.
	require.Equal(t, 3, env.Server.Stats().RPC["channels.getChannels"])
}
