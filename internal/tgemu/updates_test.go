package tgemu_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

func waitCallback(t *testing.T, ch <-chan *tg.UpdateBotCallbackQuery) *tg.UpdateBotCallbackQuery {
	t.Helper()
	select {
	case cb := <-ch:
		return cb
	case <-time.After(10 * time.Second):
		t.Fatal("no callback query within 10s")
		return nil
	}
}

func noMore(t *testing.T, ch <-chan *tg.Message) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message %d %q", m.ID, m.Message)
	case <-time.After(300 * time.Millisecond):
	}
}

// A receiver that was offline gets what it missed through getDifference
// when it starts again with the same session and update state; nothing is
// delivered twice.
func TestOfflineClientCatchesUpWithGetDifference(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Carol", "")
	require.NoError(t, err)
	session := filepath.Join(t.TempDir(), "receiver.session.json")
	state := newMemState()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var buttonMsg int
	r1 := newReceiver(t, env, session, state)
	r1.run(t, env, ctx, func(ctx context.Context) error {
		_, err := env.Server.UserSendMessage(user.ID, 0, "first")
		require.NoError(t, err)
		require.Equal(t, "first", waitMsg(t, r1.msgs).Message)

		res, err := r1.client.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
			Peer:     &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash},
			Message:  "pick one",
			RandomID: 7,
			ReplyMarkup: &tg.ReplyInlineMarkup{Rows: []tg.KeyboardInlineButtonRow{{Buttons: []tg.KeyboardInlineButton{
				{Text: "Yes", Type: &tg.InlineButtonTypeCallback{Data: []byte("yes")}},
			}}}},
		})
		require.NoError(t, err)
		for _, u := range res.(*tg.Updates).Updates {
			if u, ok := u.(*tg.UpdateMessageID); ok {
				buttonMsg = u.ID
			}
		}
		// A pushed callback query reaches the bot, which answers it.
		require.NoError(t, env.Server.UserPressButton(user.ID, 0, buttonMsg, []byte("yes")))
		cb := waitCallback(t, r1.cbs)
		require.Equal(t, []byte("yes"), cb.Data)
		require.Equal(t, user.ID, cb.UserID)
		ok, err := r1.client.API().MessagesSetBotCallbackAnswer(ctx, &tg.MessagesSetBotCallbackAnswerRequest{QueryID: cb.QueryID})
		require.NoError(t, err)
		require.True(t, ok)
		return nil
	})
	ptsBefore := state.pts(env.BotID)
	require.Positive(t, ptsBefore)

	// While the bot is offline.
	_, err = env.Server.UserSendMessage(user.ID, 0, "second")
	require.NoError(t, err)
	require.NoError(t, env.Server.UserPressButton(user.ID, 0, buttonMsg, []byte("yes")))
	_, err = env.Server.UserSendMessage(user.ID, 0, "third")
	require.NoError(t, err)
	require.Error(t, env.Server.UserPressButton(user.ID, 0, buttonMsg, []byte("no such button")))

	r2 := newReceiver(t, env, session, state)
	r2.run(t, env, ctx, func(ctx context.Context) error {
		st, err := r2.client.Auth().Status(ctx)
		require.NoError(t, err)
		require.True(t, st.Authorized, "the session survives a client restart")
		require.Equal(t, "second", waitMsg(t, r2.msgs).Message)
		require.Equal(t, "third", waitMsg(t, r2.msgs).Message)
		require.Equal(t, []byte("yes"), waitCallback(t, r2.cbs).Data)
		noMore(t, r2.msgs)
		return nil
	})
	require.Greater(t, state.pts(env.BotID), ptsBefore)
	require.GreaterOrEqual(t, env.Server.Stats().RPC["updates.getDifference"], 2)
}
