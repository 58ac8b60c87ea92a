package receiver_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// testEditsAndLateAutoAnswer: a user's edit arrives as edited_message (a
// default forward type), and a press nobody answers is answered empty only
// after RECEIVER_CALLBACK_AUTO_ANSWER_AFTER, so the downstream service can
// answer it first.
func (s *suite) testEditsAndLateAutoAnswer(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	cfg := testConfig(env, s.dataDir(t), down.srv.URL)
	cfg.CallbackAutoAnswer = 2 * time.Second
	startReceiver(t, cfg, receiver.WithExtraRoutes(func(r *handler.Router) {
		r.Command("menu", handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
			_, err := c.ReplyButtons(ctx, "Pick", [][]handler.Button{{{Text: "B", Data: "b"}}})
			return err
		}))
	}))
	u := newUser(t, env, "Editor")
	send(t, env, u.ID, "frist")
	down.waitTexts(t, u.ID, []string{"frist"})
	msgID := down.got()[0].Message.ID
	editDate, err := env.Server.UserEditMessage(u.ID, env.BotID, msgID, "first")
	require.NoError(t, err)
	var edited event.Event
	require.Eventually(t, func() bool {
		for _, ev := range down.got() {
			if ev.Type == event.TypeEditedMessage {
				edited = ev
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "first", edited.Message.Text)
	require.Equal(t, msgID, edited.Message.ID)
	require.EqualValues(t, editDate, edited.Message.EditDate)
	require.Equal(t, event.EditID(env.BotID, 0, msgID, editDate), edited.ID)

	// No route handles the press.
	send(t, env, u.ID, "/menu")
	menu := waitBotMessage(t, env, u.ID, "Pick")
	events, stop := env.Server.Subscribe()
	defer stop()
	require.NoError(t, env.Server.UserPressButton(u.ID, env.BotID, menu, []byte("b")))
	pressed := time.Now()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Type != "callback_answer" {
				continue
			}
			require.GreaterOrEqual(t, time.Since(pressed), 2*time.Second, "answered before RECEIVER_CALLBACK_AUTO_ANSWER_AFTER")
			require.Empty(t, e.Message)
			down.validateBodies(t)
			return
		case <-deadline:
			t.Fatal("the press was never answered")
		}
	}
}

// waitBotMessage waits for the bot's message text in its chat with the
// user and returns its ID.
func waitBotMessage(t *testing.T, env *emutest.Env, userID int64, text string) int {
	t.Helper()
	var id int
	require.Eventually(t, func() bool {
		msgs, err := env.Server.Messages(userID, env.BotID)
		require.NoError(t, err)
		for _, m := range msgs {
			if m.Out && m.Text == text {
				id = m.ID
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	return id
}
