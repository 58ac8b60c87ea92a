package handler

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
)

type fakeClient struct {
	mu       sync.Mutex
	sent     map[int64][]string
	answered []int64
}

func (f *fakeClient) SendText(_ context.Context, p tg.InputPeerClass, text string, _ int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent == nil {
		f.sent = map[int64][]string{}
	}
	id := p.(*tg.InputPeerUser).UserID
	f.sent[id] = append(f.sent[id], text)
	return len(f.sent[id]), nil
}

func (f *fakeClient) SendButtons(ctx context.Context, p tg.InputPeerClass, text string, _ [][]Button) (int, error) {
	return f.SendText(ctx, p, text, 0)
}

func (f *fakeClient) AnswerCallback(_ context.Context, q int64, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answered = append(f.answered, q)
	return nil
}

func (f *fakeClient) texts(chat int64) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent[chat]...)
}

type fakeEmitter struct {
	mu  sync.Mutex
	evs []event.Event
}

func (f *fakeEmitter) events() []event.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]event.Event(nil), f.evs...)
}

func (f *fakeEmitter) Put(_ context.Context, evs ...event.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evs = append(f.evs, evs...)
	return nil
}

var msgSeq int

func msg(chat int64, text string) *Update {
	msgSeq++
	return &Update{
		Event: event.Event{
			ID: "1:m" + strings.Repeat("x", msgSeq), Type: event.TypeMessage, BotID: 1,
			Chat: &event.Chat{ID: chat, Type: event.ChatPrivate}, From: &event.User{ID: chat},
			Message: &event.Message{ID: msgSeq, Text: text},
		},
		Peer: &tg.InputPeerUser{UserID: chat},
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text, bot, cmd, args string
		ok                   bool
	}{
		{text: "/start", cmd: "start", ok: true},
		{text: "/start@MyBot hello  world", bot: "mybot", cmd: "start", args: "hello  world", ok: true},
		{text: "/start@other", bot: "mybot"},
		{text: "/start@other", cmd: "start", ok: true}, // username unknown yet
		{text: "start"},
		{text: "/"},
		{text: "/echo\nline two", cmd: "echo", args: "line two", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			cmd, args, ok := ParseCommand(tc.text, tc.bot)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.cmd, cmd)
			require.Equal(t, tc.args, args)
		})
	}
}

func TestRouter(t *testing.T) {
	r := NewRouter()
	r.SetBotUsername("mybot")
	var got []string
	rec := func(name string) Handler {
		return HandlerFunc(func(_ context.Context, c *Context) error {
			got = append(got, name+"|"+c.Args+"|"+strings.Join(c.Match, ","))
			return nil
		})
	}
	r.Command("/start", rec("start"))
	r.Text(regexp.MustCompile(`^hi (\w+)`), rec("hi"))
	r.On(KindCallback, rec("cb"))
	r.On(KindMessage, rec("any"))

	cb := &Update{Event: event.Event{Type: event.TypeCallbackQuery}}
	edit := msg(1, "/start")
	edit.Event.Type = event.TypeEditedMessage
	for _, u := range []*Update{msg(1, "/start@mybot x"), msg(1, "/start@otherbot"), msg(1, "hi bob"), cb, edit} {
		require.NoError(t, r.Handle(context.Background(), &Context{Update: u}))
	}
	require.Equal(t, []string{"start|x|", "any||", "hi||hi bob,bob", "cb||"}, got)
}

func newRunner(t *testing.T, r *Router, cfg RunnerConfig) (*Runner, *fakeClient, *fakeEmitter, *metrics.Metrics) {
	t.Helper()
	c, e := &fakeClient{}, &fakeEmitter{}
	m := metrics.New(func() float64 { return 0 })
	run := NewRunner(cfg, r, c, e, m, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return run, c, e, m
}

func TestRunnerOrderPanicAndSlowChat(t *testing.T) {
	r := NewRouter()
	release := make(chan struct{})
	r.Command("slow", HandlerFunc(func(ctx context.Context, c *Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return c.Reply(ctx, "slow done")
	}))
	r.Command("panic", HandlerFunc(func(context.Context, *Context) error { panic("boom") }))
	r.Command("fail", HandlerFunc(func(context.Context, *Context) error { return errors.New("nope") }))
	r.On(KindMessage, HandlerFunc(func(ctx context.Context, c *Context) error { return c.Reply(ctx, "echo "+c.Text()) }))
	run, client, _, m := newRunner(t, r, RunnerConfig{})

	run.Dispatch(msg(1, "/slow"))
	run.Dispatch(msg(1, "after slow"))
	run.Dispatch(msg(2, "/panic"))
	for i := range 20 {
		run.Dispatch(msg(2, "m"+strings.Repeat("!", i)))
	}
	run.Dispatch(msg(2, "/fail"))
	run.Dispatch(msg(2, "last"))

	// Chat 2 goes on while chat 1 is stuck, despite the panic.
	require.Eventually(t, func() bool {
		got := client.texts(2)
		return len(got) == 21 && got[20] == "echo last"
	}, 5*time.Second, 10*time.Millisecond)
	got := client.texts(2)
	for i := range 20 {
		require.Equal(t, "echo m"+strings.Repeat("!", i), got[i], "chat order")
	}
	require.Empty(t, client.texts(1))
	close(release)
	require.Eventually(t, func() bool { return len(client.texts(1)) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"slow done", "echo after slow"}, client.texts(1))
	require.Equal(t, 1.0, testutilValue(m.HandlerPanics))
}

func TestConversation(t *testing.T) {
	r := NewRouter()
	errs := make(chan error, 4)
	r.Command("name", HandlerFunc(func(ctx context.Context, c *Context) error {
		name, err := c.Prompt(ctx, "What is your name?", "", func(s string) bool { return strings.ContainsAny(s, "abc") }, 0)
		errs <- err
		if err != nil {
			return err
		}
		if err := c.Reply(ctx, "Nice to meet you "+name+"!"); err != nil {
			return err
		}
		return c.Emit(ctx, event.TypeUserCreate, event.UserCreate{Name: name, ChatID: c.Event.ChatID()})
	}))
	r.On(KindMessage, HandlerFunc(func(ctx context.Context, c *Context) error { return c.Reply(ctx, "other") }))
	run, client, em, _ := newRunner(t, r, RunnerConfig{ConversationTimeout: 300 * time.Millisecond})

	run.Dispatch(msg(5, "/name"))
	run.Dispatch(msg(6, "hello from another chat"))
	run.Dispatch(msg(5, "123"))
	run.Dispatch(msg(5, "cab"))
	require.NoError(t, recvErr(t, errs))
	require.Eventually(t, func() bool { return len(client.texts(5)) == 3 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"What is your name?", "What is your name?", "Nice to meet you cab!"}, client.texts(5))
	require.Eventually(t, func() bool { return len(client.texts(6)) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"other"}, client.texts(6))
	require.Eventually(t, func() bool { return len(em.events()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, event.TypeUserCreate, em.events()[0].Type)
	require.JSONEq(t, `{"name":"cab","chat_id":5}`, string(em.events()[0].Data))

	// No answer: the conversation times out.
	run.Dispatch(msg(7, "/name"))
	require.ErrorIs(t, recvErr(t, errs), ErrTimeout)

	// Another command interrupts, and is then handled.
	run.Dispatch(msg(8, "/name"))
	run.Dispatch(msg(8, "/name"))
	require.ErrorIs(t, recvErr(t, errs), ErrInterrupted)
	require.Eventually(t, func() bool { return len(client.texts(8)) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.ErrorIs(t, recvErr(t, errs), ErrTimeout)
}

func TestCallbackAutoAnswerAndDrop(t *testing.T) {
	r := NewRouter()
	block := make(chan struct{})
	r.On(KindMessage, HandlerFunc(func(ctx context.Context, c *Context) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}))
	run, client, _, m := newRunner(t, r, RunnerConfig{QueueSize: 2, CallbackAutoAnswer: time.Second})
	cb := &Update{Event: event.Event{Type: event.TypeCallbackQuery, Chat: &event.Chat{ID: 3}}, Callback: &tg.UpdateBotCallbackQuery{QueryID: 77}}
	run.Dispatch(cb)
	// Not at once: the downstream service has the delay to answer first.
	time.Sleep(300 * time.Millisecond)
	client.mu.Lock()
	require.Empty(t, client.answered)
	client.mu.Unlock()
	require.Eventually(t, func() bool {
		client.mu.Lock()
		defer client.mu.Unlock()
		return len(client.answered) == 1 && client.answered[0] == 77
	}, 5*time.Second, 10*time.Millisecond)

	for range 10 {
		run.Dispatch(msg(4, "x"))
	}
	require.GreaterOrEqual(t, testutilValue(m.HandlerDropped), 7.0)
	close(block)
}

func TestCallbackNeverAutoAnswered(t *testing.T) {
	run, client, _, _ := newRunner(t, NewRouter(), RunnerConfig{CallbackAutoAnswer: AutoAnswerAfter(0)})
	answered := &Update{Event: event.Event{Type: event.TypeCallbackQuery, Chat: &event.Chat{ID: 3}}, Callback: &tg.UpdateBotCallbackQuery{QueryID: 1}}
	run.Dispatch(answered)
	time.Sleep(500 * time.Millisecond)
	client.mu.Lock()
	defer client.mu.Unlock()
	require.Empty(t, client.answered)
}

func recvErr(t *testing.T, errs <-chan error) error {
	t.Helper()
	select {
	case err := <-errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not finish")
		return nil
	}
}

// A conversation kept in a ConvStore goes on in another runner (another
// replica) after the first one stopped: the start and the answers so far
// are replayed without being sent again, an update fetched again is not
// handled twice, and the finished conversation leaves the store.
func TestConversationContinuesOnAnotherRunner(t *testing.T) {
	r := NewRouter()
	r.Command("name", HandlerFunc(func(ctx context.Context, c *Context) error {
		name, err := c.Prompt(ctx, "What is your name?", "", func(s string) bool { return strings.ContainsAny(s, "abc") }, 0)
		if err != nil {
			return err
		}
		if err := c.Reply(ctx, "Nice to meet you "+name+"!"); err != nil {
			return err
		}
		return c.Emit(ctx, event.TypeUserCreate, event.UserCreate{Name: name, ChatID: c.Event.ChatID()})
	}))
	store := NewMemoryConvStore()
	cfg := RunnerConfig{ConversationTimeout: 5 * time.Second, Conversations: store}

	c1, e1 := &fakeClient{}, &fakeEmitter{}
	run1 := NewRunner(cfg, r, c1, e1, metrics.New(func() float64 { return 0 }), zaptest.NewLogger(t))
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := make(chan struct{})
	go func() {
		defer close(done1)
		_ = run1.Run(ctx1)
	}()
	start, bad := msg(9, "/name"), msg(9, "123")
	run1.Dispatch(start)
	run1.Dispatch(bad)
	require.Eventually(t, func() bool { return len(c1.texts(9)) == 2 }, 5*time.Second, 10*time.Millisecond)
	stop1()
	<-done1
	conv, err := store.Load(context.Background(), 9)
	require.NoError(t, err)
	require.NotNil(t, conv, "a stopped runner leaves its conversation in the store")
	require.Equal(t, start.Event.ID, conv.Start.ID)
	require.Len(t, conv.Answers, 1)

	run2, c2, e2, _ := newRunner(t, r, cfg)
	run2.Dispatch(start) // fetched again after the takeover: already under way
	run2.Dispatch(msg(9, "bc"))
	require.Eventually(t, func() bool { return len(c2.texts(9)) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"Nice to meet you bc!"}, c2.texts(9))
	require.Eventually(t, func() bool { return len(e2.events()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.JSONEq(t, `{"name":"bc","chat_id":9}`, string(e2.events()[0].Data))
	require.Empty(t, e1.events())
	require.Eventually(t, func() bool {
		conv, err := store.Load(context.Background(), 9)
		return err == nil && conv == nil
	}, 5*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	require.Len(t, c2.texts(9), 1, "nothing sent twice")
}
