// Package handler is the receiver's framework for Go code that reacts to
// Telegram updates: a small Handler interface with a func adapter, a Router
// that picks a handler by update kind, by /command (with an optional
// @botname suffix) or by a text regexp, and a Runner that runs handlers in
// per-chat ordered queues, so a slow handler never holds up other chats and
// each chat's updates are handled in the order they arrived.
//
// A handler receives a Context with the update (its event form and the raw
// gotd message), a Reply helper that answers through the receiver's own
// Telegram client, Emit to queue an event for the downstream service through
// the durable outbox, and Ask/Prompt for conversations (ask a question, wait
// for the same user's next message in the chat, validate, ask again).
//
// Handlers are registered in one place, internal/receiver/handlers.
//
// Limitations:
//   - Handler work is durable only where it waits for an answer: with a
//     ConvStore (NATS KV tg_conv) a conversation continues on another replica
//     (see Conversation); a handler interrupted elsewhere by a crash is not
//     resumed (the update itself is forwarded durably), and an update fetched
//     again by getDifference after a crash may run its handler twice; Emit is
//     idempotent per update and event type.
//   - Each chat's queue is bounded (QueueSize); updates beyond it are not
//     given to handlers (still forwarded) and counted in
//     receiver_handler_dropped_total.
//   - One goroutine per chat with queued updates; idle chats cost nothing.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotd/td/tg"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Kind is the kind of an update, as the router sees it.
type Kind = event.Type

// Update kinds a route can select.
const (
	KindMessage       = event.TypeMessage
	KindEditedMessage = event.TypeEditedMessage
	KindCallback      = event.TypeCallbackQuery
)

// Update is one Telegram update as handlers see it.
type Update struct {
	// Event is the update in its forwarded form (IDs, chat, sender, text...).
	Event event.Event
	// Message is the raw message of message and edited_message updates.
	Message *tg.Message
	// Callback is the raw callback query of callback_query updates.
	Callback *tg.UpdateBotCallbackQuery
	// Peer is where answers go.
	Peer tg.InputPeerClass
}

// Kind of the update.
func (u *Update) Kind() Kind { return u.Event.Type }

// Text of a message (empty for other kinds).
func (u *Update) Text() string {
	if u.Event.Message == nil {
		return ""
	}
	return u.Event.Message.Text
}

// Chat is where the update happened.
func (u *Update) Chat() *event.Chat { return u.Event.Chat }

// Sender is who caused the update (nil when unknown).
func (u *Update) Sender() *event.User { return u.Event.From }

// SenderID is the user who caused the update (0 when unknown).
func (u *Update) SenderID() int64 {
	if u.Event.From == nil {
		return 0
	}
	return u.Event.From.ID
}

// Client answers through the receiver's Telegram client.
type Client interface {
	// SendText sends text to peer (replying to message replyTo when not 0)
	// and returns the new message's ID.
	SendText(ctx context.Context, peer tg.InputPeerClass, text string, replyTo int) (int, error)
	// SendButtons sends text with an inline keyboard of callback buttons
	// and returns the new message's ID.
	SendButtons(ctx context.Context, peer tg.InputPeerClass, text string, rows [][]Button) (int, error)
	// AnswerCallback answers a callback query (text may be empty).
	AnswerCallback(ctx context.Context, queryID int64, text string) error
}

// Button is an inline keyboard button that sends Data back as a
// callback_query when pressed.
type Button struct {
	Text string
	Data string
}

// Emitter queues events for the downstream service, durably.
type Emitter interface {
	// Put returns once the events are committed.
	Put(ctx context.Context, evs ...event.Event) error
}

// Handler handles one update.
type Handler interface {
	// Handle runs the handler. A returned error is logged and counted; it
	// does not stop the chat's queue.
	Handle(ctx context.Context, c *Context) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Context) error

// Handle implements Handler.
func (f HandlerFunc) Handle(ctx context.Context, c *Context) error { return f(ctx, c) }

// ErrTimeout is returned by Ask and Prompt when the user did not answer in
// time.
var ErrTimeout = errors.New("conversation timed out")

// ErrInterrupted is returned by Ask and Prompt when the user sent another
// command instead of an answer; that command is handled next.
var ErrInterrupted = errors.New("conversation interrupted by a command")

// Context is what a handler gets: the update and the means to answer.
type Context struct {
	*Update
	// Route is the name of the matched route ("/familiarize", "text:^hi",
	// "kind:callback_query").
	Route string
	// Args is the text after a /command.
	Args string
	// Match holds the submatches of a text route's regexp.
	Match []string
	// Log is the runner's logger with the update's identifiers.
	Log *zap.Logger

	client   Client
	emitter  Emitter
	w        *chatWorker
	answered bool

	// Conversations kept in the runner's ConvStore: replay are the answers
	// of a conversation continued from the store, still to be given to Ask
	// (nothing is sent while any is left); answers are those given so far;
	// saved says the store holds this conversation.
	replay  []*Update
	answers []event.Event
	saved   bool
}

// replaying reports that the handler is run again up to where a
// conversation stopped: what it sends was sent before.
func (c *Context) replaying() bool { return len(c.replay) > 0 }

// Bot is the bot (or user account) the update came to; replies leave
// through it.
func (c *Context) Bot() event.Bot {
	return event.Bot{ID: c.Event.BotID, Username: c.Event.BotUsername}
}

// Reply sends text to the update's chat.
func (c *Context) Reply(ctx context.Context, text string) error {
	return c.send(ctx, text, 0)
}

// ReplyQuoted sends text to the update's chat as a reply to the update's
// message (a plain Reply for updates without one).
func (c *Context) ReplyQuoted(ctx context.Context, text string) error {
	var to int
	if c.Event.Message != nil {
		to = c.Event.Message.ID
	}
	return c.send(ctx, text, to)
}

func (c *Context) send(ctx context.Context, text string, replyTo int) error {
	if c.replaying() {
		return nil
	}
	if _, err := c.client.SendText(ctx, c.Peer, text, replyTo); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	return nil
}

// ReplyButtons sends text with inline buttons to the update's chat and
// returns the new message's ID (presses arrive as callback_query updates).
func (c *Context) ReplyButtons(ctx context.Context, text string, rows [][]Button) (int, error) {
	if c.replaying() {
		return 0, nil
	}
	id, err := c.client.SendButtons(ctx, c.Peer, text, rows)
	if err != nil {
		return 0, fmt.Errorf("reply with buttons: %w", err)
	}
	return id, nil
}

// Answer answers the callback query of a callback_query update (an empty
// answer is sent automatically when a handler does not).
func (c *Context) Answer(ctx context.Context, text string) error {
	if c.Callback == nil {
		return errors.New("answer: not a callback query")
	}
	c.answered = true
	if err := c.client.AnswerCallback(ctx, c.Callback.QueryID, text); err != nil {
		return fmt.Errorf("answer callback: %w", err)
	}
	return nil
}

// Emit queues an event of type t with data for the downstream service and
// waits until it is committed to the outbox. Its ID is derived from this
// update's, so emitting the same type twice for one update (a handler run
// again after a crash) yields one event.
func (c *Context) Emit(ctx context.Context, t event.Type, data any) error {
	if c.replaying() {
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("emit %s: encode: %w", t, err)
	}
	ev := event.Event{
		ID:          event.DerivedID(c.Event.ID, t),
		Type:        t,
		Date:        time.Now().Unix(),
		BotID:       c.Event.BotID,
		BotUsername: c.Event.BotUsername,
		Chat:        c.Event.Chat,
		From:        c.Event.From,
		Data:        raw,
	}
	if err := c.emitter.Put(ctx, ev); err != nil {
		return fmt.Errorf("emit %s: %w", t, err)
	}
	return nil
}

// Ask sends question and waits for the same user's next text message in
// this chat (within the runner's conversation timeout). Other updates of the
// chat that arrive meanwhile are handled by the router as usual. With a
// ConvStore the wait is kept there, so another replica can take the answer
// (see Conversation).
func (c *Context) Ask(ctx context.Context, question string) (*Update, error) {
	if len(c.replay) > 0 {
		u := c.replay[0]
		c.replay = c.replay[1:]
		c.answers = append(c.answers, u.Event)
		return u, nil
	}
	if err := c.Reply(ctx, question); err != nil {
		return nil, err
	}
	c.w.saveConv(ctx, c)
	u, err := c.w.next(ctx, c.SenderID())
	if err != nil {
		return nil, err
	}
	c.answers = append(c.answers, u.Event)
	return u, nil
}

// Prompt asks question until the answer passes valid (at most tries times;
// 0 means until the conversation times out) and returns the accepted text.
// retry, when not empty, is sent instead of question after a bad answer.
func (c *Context) Prompt(ctx context.Context, question, retry string, valid func(string) bool, tries int) (string, error) {
	q := question
	for i := 0; tries <= 0 || i < tries; i++ {
		u, err := c.Ask(ctx, q)
		if err != nil {
			return "", err
		}
		if text := strings.TrimSpace(u.Text()); valid == nil || valid(text) {
			return text, nil
		}
		if retry != "" {
			q = retry
		}
	}
	return "", fmt.Errorf("no valid answer after %d tries", tries)
}
