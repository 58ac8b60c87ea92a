package handlers

import (
	"context"
	"fmt"
	"unicode"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
)

// Questions and answers of /familiarize, as the original service had them.
const (
	AskName     = "What is your name?"
	NiceToMeetF = "Nice to meet you %s!"
)

// Familiarize is the original service's conversation: it asks the user's
// name until the answer contains a letter, greets them, and asks the
// downstream service to create the user (a user.create event through the
// outbox, data {name, chat_id}).
func Familiarize(ctx context.Context, c *handler.Context) error {
	name, err := c.Prompt(ctx, AskName, "", hasLetter, 0)
	if err != nil {
		return fmt.Errorf("familiarize: %w", err)
	}
	if err := c.Reply(ctx, fmt.Sprintf(NiceToMeetF, name)); err != nil {
		return fmt.Errorf("familiarize: %w", err)
	}
	return c.Emit(ctx, event.TypeUserCreate, event.UserCreate{Name: name, ChatID: c.Chat().ID})
}

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}
