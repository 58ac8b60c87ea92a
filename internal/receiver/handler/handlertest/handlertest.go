// Package handlertest runs handlers without a Telegram connection or an
// outbox: a Bot feeds a router text messages (or any Update) through the
// real handler.Runner, and records what the handlers reply and emit.
//
//	bot := handlertest.New(t, handlers.Register)
//	bot.Send("/familiarize")
//	require.Equal(t, handlers.AskName, bot.Reply().Text)
//
// Replies and events are read in the order they were produced; Reply and
// Event wait (at most Timeout) for the next one and fail the test when none
// comes.
package handlertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/constant"
	"github.com/gotd/td/tg"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
)

// Defaults of a Bot: the bot, and the private chat and user Send writes as.
const (
	BotID    int64 = 1
	UserID   int64 = 42
	UserName       = "Ada"
)

// Timeout is how long Reply and Event wait.
var Timeout = 5 * time.Second

// Reply is one message a handler sent.
type Reply struct {
	// ChatID is the chat it went to (the user ID for private chats).
	ChatID int64
	Text   string
	// ReplyTo is the message it answers (0 when none).
	ReplyTo int
	// Buttons are the inline keyboard of ReplyButtons (nil for Reply).
	Buttons [][]handler.Button
}

// Bot runs a router's handlers and records their output.
type Bot struct {
	t      testing.TB
	runner *handler.Runner
	seq    int

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every recorded output
	replies  []Reply
	events   []event.Event
	answers  []string
	nReplies int // replies already returned by Reply
	nEvents  int // events already returned by Event
}

// New starts a runner over a router set up by register (for example
// handlers.Register); it stops when the test ends.
func New(t testing.TB, register func(r *handler.Router)) *Bot {
	t.Helper()
	router := handler.NewRouter()
	register(router)
	b := &Bot{t: t, changed: make(chan struct{})}
	m := metrics.New(func() float64 { return 0 })
	b.runner = handler.NewRunner(handler.RunnerConfig{ConversationTimeout: Timeout, CallbackAutoAnswer: 50 * time.Millisecond}, router, client{b}, emitter{b}, m, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.runner.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return b
}

// Send delivers a text message from the default user in their private chat.
func (b *Bot) Send(text string) {
	b.SendFrom(UserID, text)
}

// SendFrom delivers a text message from user in their private chat.
func (b *Bot) SendFrom(user int64, text string) {
	b.mu.Lock()
	b.seq++
	id := b.seq
	b.mu.Unlock()
	b.SendUpdate(&handler.Update{
		Event: event.Event{
			ID:      event.MessageID(BotID, 0, id),
			Type:    event.TypeMessage,
			Date:    time.Now().Unix(),
			BotID:   BotID,
			Chat:    &event.Chat{ID: user, Type: event.ChatPrivate},
			From:    &event.User{ID: user, FirstName: UserName},
			Message: &event.Message{ID: id, Text: text},
		},
		Message: &tg.Message{ID: id, Message: text, PeerID: &tg.PeerUser{UserID: user}},
		Peer:    &tg.InputPeerUser{UserID: user},
	})
}

// SendUpdate delivers any update (a callback query, an edited message, a
// group message...). Peer decides the chat a Reply goes to.
func (b *Bot) SendUpdate(u *handler.Update) { b.runner.Dispatch(u) }

// Reply returns the next message the handlers sent, waiting for it.
func (b *Bot) Reply() Reply {
	b.t.Helper()
	return next(b, "a reply", &b.replies, &b.nReplies)
}

// Event returns the next event the handlers emitted, waiting for it.
func (b *Bot) Event() event.Event {
	b.t.Helper()
	return next(b, "an emitted event", &b.events, &b.nEvents)
}

// next returns (*list)[*read] once it exists, advancing *read; both are
// guarded by b.mu.
func next[T any](b *Bot, what string, list *[]T, read *int) T {
	b.t.Helper()
	var v T
	b.wait(what, func() bool {
		if *read == len(*list) {
			return false
		}
		v = (*list)[*read]
		*read++
		return true
	})
	return v
}

// Replies returns every message sent so far, read or not.
func (b *Bot) Replies() []Reply {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Reply(nil), b.replies...)
}

// Events returns every event emitted so far, read or not.
func (b *Bot) Events() []event.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]event.Event(nil), b.events...)
}

// Answers returns the texts of the callback answers so far ("" for the
// automatic answer of a callback no handler answered).
func (b *Bot) Answers() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.answers...)
}

// wait calls take under the lock until it reports true, or fails the test
// after Timeout.
func (b *Bot) wait(what string, take func() bool) {
	b.t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		ok := take()
		changed := b.changed
		b.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			b.t.Fatalf("handlertest: no %s within %s (replies so far: %v)", what, Timeout, b.Replies())
			return
		}
	}
}

// record appends under the lock and wakes waiters.
func (b *Bot) record(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
	close(b.changed)
	b.changed = make(chan struct{})
}

type client struct{ b *Bot }

func (c client) SendText(_ context.Context, p tg.InputPeerClass, text string, replyTo int) (int, error) {
	return c.send(p, Reply{Text: text, ReplyTo: replyTo})
}

func (c client) SendButtons(_ context.Context, p tg.InputPeerClass, text string, rows [][]handler.Button) (int, error) {
	return c.send(p, Reply{Text: text, Buttons: rows})
}

func (c client) send(p tg.InputPeerClass, r Reply) (int, error) {
	id, err := chatID(p)
	if err != nil {
		return 0, err
	}
	r.ChatID = id
	var n int
	c.b.record(func() {
		c.b.replies = append(c.b.replies, r)
		n = len(c.b.replies)
	})
	return n, nil
}

func (c client) AnswerCallback(_ context.Context, _ int64, text string) error {
	c.b.record(func() { c.b.answers = append(c.b.answers, text) })
	return nil
}

type emitter struct{ b *Bot }

func (e emitter) Put(_ context.Context, evs ...event.Event) error {
	e.b.record(func() { e.b.events = append(e.b.events, evs...) })
	return nil
}

// chatID is the Bot API chat ID of an input peer.
func chatID(p tg.InputPeerClass) (int64, error) {
	var id constant.TDLibPeerID
	switch p := p.(type) {
	case *tg.InputPeerUser:
		id.User(p.UserID)
	case *tg.InputPeerChat:
		id.Chat(p.ChatID)
	case *tg.InputPeerChannel:
		id.Channel(p.ChannelID)
	default:
		return 0, fmt.Errorf("handlertest: reply to unsupported peer %T", p)
	}
	return int64(id), nil
}
