package handlers_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler/handlertest"
	"github.com/tgbotsvc/tgbot/internal/receiver/handlers"
)

func TestFamiliarize(t *testing.T) {
	bot := handlertest.New(t, handlers.Register)

	bot.Send("/familiarize")
	require.Equal(t, handlertest.Reply{ChatID: handlertest.UserID, Text: handlers.AskName}, bot.Reply())

	// No letter in the answer: the question again, and nothing emitted.
	bot.Send("  1234 ")
	require.Equal(t, handlers.AskName, bot.Reply().Text)
	require.Empty(t, bot.Events())

	bot.Send(" Ada Lovelace ")
	require.Equal(t, "Nice to meet you Ada Lovelace!", bot.Reply().Text)

	ev := bot.Event()
	require.Equal(t, event.TypeUserCreate, ev.Type)
	require.Equal(t, handlertest.UserID, ev.ChatID())
	require.Equal(t, handlertest.UserID, ev.From.ID)
	var data event.UserCreate
	require.NoError(t, json.Unmarshal(ev.Data, &data))
	require.Equal(t, event.UserCreate{Name: "Ada Lovelace", ChatID: handlertest.UserID}, data)
	require.Len(t, bot.Replies(), 3)
}

func TestFamiliarizeCommandInterrupts(t *testing.T) {
	bot := handlertest.New(t, handlers.Register)

	bot.Send("/familiarize")
	require.Equal(t, handlers.AskName, bot.Reply().Text)
	// A command instead of an answer ends this conversation and starts the
	// command's; nothing is emitted for the abandoned one.
	bot.Send("/familiarize")
	require.Equal(t, handlers.AskName, bot.Reply().Text)
	bot.Send("Bob")
	require.Equal(t, "Nice to meet you Bob!", bot.Reply().Text)
	require.Equal(t, "Bob", userCreateName(t, bot.Event()))
	require.Len(t, bot.Events(), 1)
}

func TestFamiliarizeChatsAreSeparate(t *testing.T) {
	bot := handlertest.New(t, handlers.Register)

	bot.SendFrom(7, "/familiarize")
	require.Equal(t, handlertest.Reply{ChatID: 7, Text: handlers.AskName}, bot.Reply())
	bot.SendFrom(8, "/familiarize")
	require.Equal(t, handlertest.Reply{ChatID: 8, Text: handlers.AskName}, bot.Reply())
	bot.SendFrom(8, "Eve")
	require.Equal(t, handlertest.Reply{ChatID: 8, Text: "Nice to meet you Eve!"}, bot.Reply())
	// Chats run concurrently, so each event is awaited before the other chat
	// answers: the handler may emit after it replied.
	require.Equal(t, "Eve", userCreateName(t, bot.Event()))
	bot.SendFrom(7, "Dan")
	require.Equal(t, handlertest.Reply{ChatID: 7, Text: "Nice to meet you Dan!"}, bot.Reply())
	require.Equal(t, "Dan", userCreateName(t, bot.Event()))
	require.Len(t, bot.Events(), 2)
}

func userCreateName(t *testing.T, ev event.Event) string {
	t.Helper()
	var data event.UserCreate
	require.NoError(t, json.Unmarshal(ev.Data, &data))
	return data.Name
}
