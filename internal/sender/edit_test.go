package sender_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestEditsDeletesPinsActions runs the requests about sent messages end to
// end: HTTP to the sender, MTProto to the emulator, results read back from
// the emulator.
func TestEditsDeletesPinsActions(t *testing.T) {
	env := emutest.Start(t)
	s := startSender(t, env, t.TempDir(), nil)
	alice := newUser(t, env, "Alice")
	bob := newUser(t, env, "Bob")
	named, err := env.Server.CreateUser("Carol", "carol_edit")
	require.NoError(t, err)
	_, err = env.Server.UserSendMessage(named.ID, env.BotID, "/start")
	require.NoError(t, err)

	buttons := [][]map[string]string{{{"text": "OK", "callback_data": "ok"}}}
	sendText := func(t *testing.T, body map[string]any) int {
		t.Helper()
		resp := s.postJSON(t, "/api_v1/send_message", body, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		return int(resp.JSON(t)["message_id"].(float64))
	}
	find := func(t *testing.T, userID int64, id int) *tgemu.Message {
		t.Helper()
		for _, m := range botMessages(t, env, userID) {
			if m.ID == id {
				return &m
			}
		}
		return nil
	}

	t.Run("send options and chat_id forms", func(t *testing.T) {
		id := sendText(t, map[string]any{"chat_id": strconv.FormatInt(alice.ID, 10), "text": "https://example.com",
			"link_preview": false, "protect_content": true})
		m := find(t, alice.ID, id)
		require.NotNil(t, m)
		require.True(t, m.ProtectContent)
		require.True(t, m.LinkPreviewDisabled)
		id = sendText(t, map[string]any{"chat_id": alice.ID, "text": "plain"})
		m = find(t, alice.ID, id)
		require.False(t, m.ProtectContent)
		require.False(t, m.LinkPreviewDisabled)
		id = sendText(t, map[string]any{"chat_id": "@carol_edit", "text": "by username"})
		require.Equal(t, "by username", find(t, named.ID, id).Text)
		for _, bad := range []any{"carol", "@", true} {
			resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": bad, "text": "x"}, nil)
			require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
			require.Equal(t, "chat_id", resp.JSON(t)["error"].(map[string]any)["field"])
		}
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": "@carol_edit", "username": "carol_edit", "text": "x"}, nil)
		require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
	})

	t.Run("edit_message", func(t *testing.T) {
		id := sendText(t, map[string]any{"chat_id": alice.ID, "text": "draft", "buttons": buttons})
		resp := s.postJSON(t, "/api_v1/edit_message", map[string]any{"chat_id": alice.ID, "message_id": id, "text": "<b>final</b>",
			"parse_mode": "html", "buttons": buttons}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		out := resp.JSON(t)
		m := find(t, alice.ID, id)
		require.Equal(t, "final", m.Text)
		require.Len(t, m.Entities, 1)
		require.NotNil(t, m.ReplyMarkup)
		require.NotZero(t, m.EditDate)
		require.EqualValues(t, m.EditDate, out["edit_date"])
		require.EqualValues(t, alice.ID, out["chat_id"])

		// Buttons only: the text stays, the keyboard changes.
		resp = s.postJSON(t, "/api_v1/edit_message", map[string]any{"chat_id": alice.ID, "message_id": id,
			"buttons": [][]map[string]string{{{"text": "Site", "url": "https://example.com"}}}}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		m = find(t, alice.ID, id)
		require.Equal(t, "final", m.Text)
		require.Equal(t, "https://example.com", m.ReplyMarkup.InlineKeyboard[0][0].URL)
		// Text only: as with the Bot API, the keyboard goes.
		resp = s.postJSON(t, "/api_v1/edit_message", map[string]any{"chat_id": alice.ID, "message_id": id, "text": "last"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		m = find(t, alice.ID, id)
		require.Equal(t, "last", m.Text)
		require.Nil(t, m.ReplyMarkup)

		cases := []struct {
			name   string
			body   map[string]any
			status int
			code   string
		}{
			{"not modified", map[string]any{"chat_id": alice.ID, "message_id": id, "text": "last"}, http.StatusUnprocessableEntity, "message_not_modified"},
			{"unknown message", map[string]any{"chat_id": alice.ID, "message_id": 999999, "text": "x"}, http.StatusUnprocessableEntity, "message_not_found"},
			{"nothing to change", map[string]any{"chat_id": alice.ID, "message_id": id}, http.StatusBadRequest, "invalid_argument"},
			{"no message_id", map[string]any{"chat_id": alice.ID, "text": "x"}, http.StatusBadRequest, "invalid_argument"},
			{"no chat", map[string]any{"message_id": id, "text": "x"}, http.StatusBadRequest, "invalid_argument"},
			{"unknown field", map[string]any{"chat_id": alice.ID, "message_id": id, "txt": "x"}, http.StatusBadRequest, "invalid_argument"},
			{"bad html", map[string]any{"chat_id": alice.ID, "message_id": id, "text": "<b>", "parse_mode": "html"}, http.StatusBadRequest, "invalid_markup"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := s.postJSON(t, "/api_v1/edit_message", tc.body, nil)
				require.Equal(t, tc.status, resp.Status, string(resp.Body))
				require.Equal(t, tc.code, resp.errorCode(t))
			})
		}
		// A user's message is not the bot's to edit.
		userMsg, err := env.Server.UserSendMessage(alice.ID, env.BotID, "mine")
		require.NoError(t, err)
		resp = s.postJSON(t, "/api_v1/edit_message", map[string]any{"chat_id": alice.ID, "message_id": userMsg, "text": "x"}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Status, string(resp.Body))
		require.Equal(t, "forbidden", resp.errorCode(t))
	})

	t.Run("edit_caption", func(t *testing.T) {
		up := s.upload(t, "notes.txt", "text/plain", bytes.NewReader([]byte("some notes")))
		require.Equal(t, http.StatusCreated, up.Status, string(up.Body))
		resp := s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": up.JSON(t)["document_id"],
			"caption": "v1", "protect_content": true}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		id := int(resp.JSON(t)["message_id"].(float64))
		require.True(t, find(t, bob.ID, id).ProtectContent)
		resp = s.postJSON(t, "/api_v1/edit_caption", map[string]any{"chat_id": bob.ID, "message_id": id, "caption": "v2"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		m := find(t, bob.ID, id)
		require.Equal(t, "v2", m.Text)
		require.NotNil(t, m.Document)
		resp = s.postJSON(t, "/api_v1/edit_caption", map[string]any{"chat_id": bob.ID, "message_id": id, "caption": ""}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.Empty(t, find(t, bob.ID, id).Text)
		resp = s.postJSON(t, "/api_v1/edit_caption", map[string]any{"chat_id": bob.ID, "message_id": id}, nil)
		require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
		require.Equal(t, "caption", resp.JSON(t)["error"].(map[string]any)["field"])
	})

	t.Run("delete_messages", func(t *testing.T) {
		a1 := sendText(t, map[string]any{"chat_id": alice.ID, "text": "to delete"})
		a2, err := env.Server.UserSendMessage(alice.ID, env.BotID, "the user's")
		require.NoError(t, err)
		b1 := sendText(t, map[string]any{"chat_id": bob.ID, "text": "bob keeps this"})
		resp := s.postJSON(t, "/api_v1/delete_messages", map[string]any{"chat_id": alice.ID, "message_ids": []int{a1, b1, a2, 999999}}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		results := resp.JSON(t)["results"].([]any)
		require.Len(t, results, 4)
		want := []string{"", "message_not_found", "", "message_not_found"}
		for i, r := range results {
			r := r.(map[string]any)
			if want[i] == "" {
				require.Equal(t, true, r["ok"], r)
			} else {
				require.Equal(t, false, r["ok"], r)
				require.Equal(t, want[i], r["error"].(map[string]any)["code"])
			}
		}
		require.Nil(t, find(t, alice.ID, a1))
		require.Nil(t, find(t, alice.ID, a2))
		require.NotNil(t, find(t, bob.ID, b1), "a message of another chat was deleted")
		resp = s.postJSON(t, "/api_v1/delete_messages", map[string]any{"chat_id": alice.ID, "message_ids": []int{}}, nil)
		require.Equal(t, http.StatusBadRequest, resp.Status)
		resp = s.postJSON(t, "/api_v1/delete_messages", map[string]any{"chat_id": alice.ID, "message_ids": []int{0}}, nil)
		require.Equal(t, http.StatusBadRequest, resp.Status)
		require.Equal(t, "message_ids[0]", resp.JSON(t)["error"].(map[string]any)["field"])
	})

	t.Run("pins", func(t *testing.T) {
		id := sendText(t, map[string]any{"chat_id": alice.ID, "text": "pin me"})
		resp := s.postJSON(t, "/api_v1/pin_message", map[string]any{"chat_id": alice.ID, "message_id": id, "silent": true}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.True(t, find(t, alice.ID, id).Pinned)
		resp = s.postJSON(t, "/api_v1/unpin_message", map[string]any{"chat_id": alice.ID, "message_id": id}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.False(t, find(t, alice.ID, id).Pinned)
		resp = s.postJSON(t, "/api_v1/pin_message", map[string]any{"chat_id": alice.ID, "message_id": 999999}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Status, string(resp.Body))
	})

	t.Run("send_chat_action", func(t *testing.T) {
		resp := s.postJSON(t, "/api_v1/send_chat_action", map[string]any{"chat_id": bob.ID, "action": "upload_document"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.Equal(t, "upload_document", env.Server.ChatAction(bob.ID, env.BotID))
		resp = s.postJSON(t, "/api_v1/send_chat_action", map[string]any{"chat_id": bob.ID, "action": "dancing"}, nil)
		require.Equal(t, http.StatusBadRequest, resp.Status)
		require.Equal(t, "action", resp.JSON(t)["error"].(map[string]any)["field"])
	})

	t.Run("answer_callback_query", func(t *testing.T) {
		id := sendText(t, map[string]any{"chat_id": alice.ID, "text": "press", "buttons": buttons})
		events, stop := env.Server.Subscribe()
		defer stop()
		q, err := env.Server.PressButton(alice.ID, env.BotID, id, []byte("ok"))
		require.NoError(t, err)
		body := map[string]any{"callback_query_id": strconv.FormatInt(q, 10), "text": "Done!", "show_alert": true}
		resp := s.postJSON(t, "/api_v1/answer_callback_query", body, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		deadline := time.After(10 * time.Second)
		for answered := false; !answered; {
			select {
			case e := <-events:
				if e.Type == "callback_answer" {
					require.Equal(t, "Done!", e.Message)
					require.True(t, e.Alert)
					answered = true
				}
			case <-deadline:
				t.Fatal("the emulator saw no callback answer")
			}
		}
		resp = s.postJSON(t, "/api_v1/answer_callback_query", body, nil)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Status, string(resp.Body))
		require.Equal(t, "callback_query_invalid", resp.errorCode(t))
		resp = s.postJSON(t, "/api_v1/answer_callback_query", map[string]any{"text": "x"}, nil)
		require.Equal(t, http.StatusBadRequest, resp.Status)
		require.Equal(t, "callback_query_id", resp.JSON(t)["error"].(map[string]any)["field"])
	})

	t.Run("idempotent edit", func(t *testing.T) {
		id := sendText(t, map[string]any{"chat_id": bob.ID, "text": "once"})
		body := map[string]any{"chat_id": bob.ID, "message_id": id, "text": "edited once"}
		key := map[string]string{"Idempotency-Key": fmt.Sprintf("edit-%d", id)}
		first := s.postJSON(t, "/api_v1/edit_message", body, key)
		require.Equal(t, http.StatusOK, first.Status, string(first.Body))
		again := s.postJSON(t, "/api_v1/edit_message", body, key)
		require.Equal(t, http.StatusOK, again.Status, string(again.Body), "a retry must get the first answer, not message_not_modified")
		require.JSONEq(t, string(first.Body), string(again.Body))
	})
}
