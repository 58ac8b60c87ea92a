package tgemu_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestEditsDeletesPinsActions drives a bot over MTProto and the user over
// the control API, and reads every change back through the control API.
func TestEditsDeletesPinsActions(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	ctl := apiClient{t: t, base: "http://" + env.Server.HTTPAddr()}
	user, err := env.Server.CreateUser("Alice", "")
	require.NoError(t, err)
	other, err := env.Server.CreateUser("Bob", "")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	r := newReceiver(t, env, "", nil)
	r.run(t, env, ctx, func(ctx context.Context) error {
		api := r.client.API()
		userMsg, err := env.Server.UserSendMessage(user.ID, 0, "hello")
		require.NoError(t, err)
		waitMsg(t, r.msgs)
		peer := &tg.InputPeerUser{UserID: user.ID}
		sent := func(text string) int {
			res, err := api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: peer, Message: text, RandomID: time.Now().UnixNano(),
				ReplyMarkup: &tg.ReplyInlineMarkup{Rows: []tg.KeyboardInlineButtonRow{{Buttons: []tg.KeyboardInlineButton{
					{Text: "ok", Type: &tg.InlineButtonTypeCallback{Data: []byte("ok")}}}}}}})
			require.NoError(t, err)
			for _, u := range res.(*tg.Updates).Updates {
				if u, ok := u.(*tg.UpdateMessageID); ok {
					return u.ID
				}
			}
			t.Fatal("no message ID")
			return 0
		}
		messages := func() (map[int]map[string]any, map[string]any) {
			status, body := ctl.do("GET", fmt.Sprintf("/v1/users/%d/messages", user.ID), nil)
			require.Equal(t, http.StatusOK, status)
			out := map[int]map[string]any{}
			for _, m := range body["messages"].([]any) {
				m := m.(map[string]any)
				out[int(m["id"].(float64))] = m
			}
			return out, body
		}
		pts := func() int {
			st, err := api.UpdatesGetState(ctx)
			require.NoError(t, err)
			return st.Pts
		}

		// The bot edits its message: new text, the keyboard goes.
		id := sent("first")
		before := pts()
		res, err := api.MessagesEditMessage(ctx, &tg.MessagesEditMessageRequest{Peer: peer, ID: id, Message: "first, edited"})
		require.NoError(t, err)
		edit := res.(*tg.Updates).Updates[0].(*tg.UpdateEditMessage)
		require.NotZero(t, edit.Message.(*tg.Message).EditDate)
		msgs, _ := messages()
		require.Equal(t, "first, edited", msgs[id]["text"])
		require.EqualValues(t, edit.Message.(*tg.Message).EditDate, msgs[id]["edit_date"])
		require.Nil(t, msgs[id]["reply_markup"])
		// The edit is on the bot's pts sequence: getDifference returns it.
		diff, err := api.UpdatesGetDifference(ctx, &tg.UpdatesGetDifferenceRequest{Pts: before, Date: int(time.Now().Unix())})
		require.NoError(t, err)
		d, ok := diff.(*tg.UpdatesDifference)
		require.True(t, ok, "%T", diff)
		require.Len(t, d.OtherUpdates, 1)
		require.IsType(t, &tg.UpdateEditMessage{}, d.OtherUpdates[0])
		// The same text again is no change.
		_, err = api.MessagesEditMessage(ctx, &tg.MessagesEditMessageRequest{Peer: peer, ID: id, Message: "first, edited"})
		require.True(t, tgerr.Is(err, "MESSAGE_NOT_MODIFIED"), "%v", err)
		// The user's message is not the bot's to edit.
		_, err = api.MessagesEditMessage(ctx, &tg.MessagesEditMessageRequest{Peer: peer, ID: userMsg, Message: "x"})
		require.True(t, tgerr.Is(err, "MESSAGE_AUTHOR_REQUIRED"), "%v", err)
		_, err = api.MessagesEditMessage(ctx, &tg.MessagesEditMessageRequest{Peer: peer, ID: 9999, Message: "x"})
		require.True(t, tgerr.Is(err, "MESSAGE_ID_INVALID"), "%v", err)

		// Pin and unpin.
		_, err = api.MessagesUpdatePinnedMessage(ctx, &tg.MessagesUpdatePinnedMessageRequest{Peer: peer, ID: id, Silent: true})
		require.NoError(t, err)
		msgs, _ = messages()
		require.Equal(t, true, msgs[id]["pinned"])
		_, err = api.MessagesUpdatePinnedMessage(ctx, &tg.MessagesUpdatePinnedMessageRequest{Peer: peer, ID: id, Unpin: true})
		require.NoError(t, err)
		msgs, _ = messages()
		require.Nil(t, msgs[id]["pinned"])

		// A chat action is remembered as the last one.
		_, err = api.MessagesSetTyping(ctx, &tg.MessagesSetTypingRequest{Peer: peer, Action: &tg.SendMessageUploadPhotoAction{}})
		require.NoError(t, err)
		_, body := messages()
		require.Equal(t, "upload_photo", body["chat_action"])

		// The user edits their message: the bot gets updateEditMessage.
		status, out := ctl.do("PATCH", fmt.Sprintf("/v1/users/%d/messages/%d", user.ID, userMsg), map[string]any{"text": "hello, edited"})
		require.Equal(t, http.StatusOK, status, out)
		for m := (*tg.Message)(nil); m == nil || m.Out; {
			select {
			case u := <-r.edits: // the bot's own edits come too, as outgoing messages
				m = u.Message.(*tg.Message)
			case <-time.After(10 * time.Second):
				t.Fatal("no updateEditMessage pushed")
			}
			if !m.Out {
				require.Equal(t, userMsg, m.ID)
				require.Equal(t, "hello, edited", m.Message)
				require.EqualValues(t, out["edit_date"], m.EditDate)
			}
		}
		status, _ = ctl.do("PATCH", fmt.Sprintf("/v1/users/%d/messages/%d", user.ID, id), map[string]any{"text": "not mine"})
		require.Equal(t, http.StatusNotFound, status)
		status, _ = ctl.do("PATCH", fmt.Sprintf("/v1/users/%d/messages/x", user.ID), map[string]any{"text": "y"})
		require.Equal(t, http.StatusBadRequest, status)

		// Deletion: the bot's message and the user's (private chat), gone
		// for both; an unknown ID counts nothing.
		affected, err := api.MessagesDeleteMessages(ctx, &tg.MessagesDeleteMessagesRequest{Revoke: true, ID: []int{id, userMsg}})
		require.NoError(t, err)
		require.Equal(t, 2, affected.PtsCount)
		msgs, _ = messages()
		require.NotContains(t, msgs, id)
		require.NotContains(t, msgs, userMsg)
		affected, err = api.MessagesDeleteMessages(ctx, &tg.MessagesDeleteMessagesRequest{Revoke: true, ID: []int{id}})
		require.NoError(t, err)
		require.Zero(t, affected.PtsCount)

		// In a basic group the bot may not delete a member's message.
		g, err := env.Server.CreateGroup("team", []int64{user.ID, other.ID, env.BotID})
		require.NoError(t, err)
		groupMsg, err := env.Server.UserSendGroupMessage(other.ID, g.ID, "in the group")
		require.NoError(t, err)
		_, err = api.MessagesDeleteMessages(ctx, &tg.MessagesDeleteMessagesRequest{Revoke: true, ID: []int{groupMsg}})
		require.True(t, tgerr.Is(err, "MESSAGE_DELETE_FORBIDDEN"), "%v", err)
		return nil
	})
}
