package handlertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler/handlertest"
)

func TestButtonsCallbacksAndGroups(t *testing.T) {
	rows := [][]handler.Button{{{Text: "Yes", Data: "y"}}}
	bot := handlertest.New(t, func(r *handler.Router) {
		r.Command("vote", handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
			_, err := c.ReplyButtons(ctx, "Vote?", rows)
			return err
		}))
		r.On(handler.KindCallback, handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
			if c.Callback.Data == nil {
				return nil // left to the automatic answer
			}
			return c.Answer(ctx, "got "+string(c.Callback.Data))
		}))
	})

	bot.Send("/vote")
	require.Equal(t, handlertest.Reply{ChatID: handlertest.UserID, Text: "Vote?", Buttons: rows}, bot.Reply())

	callback := func(id int64, data []byte) *handler.Update {
		return &handler.Update{
			Event: event.Event{ID: event.CallbackID(handlertest.BotID, id), Type: event.TypeCallbackQuery,
				Chat: &event.Chat{ID: handlertest.UserID}, From: &event.User{ID: handlertest.UserID}},
			Callback: &tg.UpdateBotCallbackQuery{QueryID: id, Data: data},
			Peer:     &tg.InputPeerUser{UserID: handlertest.UserID},
		}
	}
	bot.SendUpdate(callback(1, []byte("y")))
	bot.SendUpdate(callback(2, nil))
	require.Eventually(t, func() bool { return len(bot.Answers()) == 2 }, handlertest.Timeout, 5*time.Millisecond)
	require.Equal(t, []string{"got y", ""}, bot.Answers())

	// Replies in a group and a supergroup carry Bot API chat IDs.
	for _, tt := range []struct {
		peer tg.InputPeerClass
		chat int64
	}{
		{&tg.InputPeerChat{ChatID: 5}, -5},
		{&tg.InputPeerChannel{ChannelID: 6}, -1000000000006},
	} {
		u := &handler.Update{
			Event: event.Event{ID: "1:g", Type: event.TypeMessage, Chat: &event.Chat{ID: tt.chat},
				From: &event.User{ID: 7}, Message: &event.Message{Text: "/vote"}},
			Peer: tt.peer,
		}
		bot.SendUpdate(u)
		require.Equal(t, tt.chat, bot.Reply().ChatID)
	}
	require.Empty(t, bot.Events())
}

func TestReplyQuoted(t *testing.T) {
	bot := handlertest.New(t, func(r *handler.Router) {
		r.Command("echo", handler.HandlerFunc(func(ctx context.Context, c *handler.Context) error {
			return c.ReplyQuoted(ctx, c.Args)
		}))
	})
	bot.Send("/echo one")
	bot.Send("/echo two")
	first, second := bot.Reply(), bot.Reply()
	require.Equal(t, "one", first.Text)
	require.Equal(t, "two", second.Text)
	require.NotZero(t, first.ReplyTo)
	require.Equal(t, first.ReplyTo+1, second.ReplyTo, "each answer quotes its own message")
}
