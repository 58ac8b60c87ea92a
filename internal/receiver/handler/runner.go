package handler

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
)

// RunnerConfig configures a Runner. Zero values mean the defaults in
// brackets.
type RunnerConfig struct {
	// QueueSize bounds each chat's queue of unhandled updates [100].
	QueueSize int
	// ConversationTimeout is how long Ask waits for an answer [5 min].
	ConversationTimeout time.Duration
	// HandlerTimeout bounds one handler run, conversations included [15 min].
	HandlerTimeout time.Duration
	// CallbackAutoAnswer is how long a callback query that no handler
	// answered waits before it is answered empty [5 s]; negative: never
	// (see AutoAnswerAfter).
	CallbackAutoAnswer time.Duration
	// Conversations keeps the conversations waiting for an answer; nil:
	// only in the waiting handler's memory.
	Conversations ConvStore
}

// AutoAnswerAfter turns the configured delay (0 = never) into
// RunnerConfig.CallbackAutoAnswer.
func AutoAnswerAfter(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func (c *RunnerConfig) setDefaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 100
	}
	if c.ConversationTimeout <= 0 {
		c.ConversationTimeout = 5 * time.Minute
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = 15 * time.Minute
	}
	if c.CallbackAutoAnswer == 0 {
		c.CallbackAutoAnswer = 5 * time.Second
	}
}

// Runner runs the router's handlers in per-chat ordered queues.
type Runner struct {
	cfg     RunnerConfig
	router  *Router
	client  Client
	emitter Emitter
	m       *metrics.Metrics
	log     *zap.Logger

	mu     sync.Mutex
	chats  map[int64]*chatWorker
	ctx    context.Context
	wg     sync.WaitGroup
	closed bool
}

// NewRunner returns a runner; Dispatch queues updates, Run runs them.
func NewRunner(cfg RunnerConfig, router *Router, client Client, emitter Emitter, m *metrics.Metrics, log *zap.Logger) *Runner {
	cfg.setDefaults()
	return &Runner{
		cfg: cfg, router: router, client: client, emitter: emitter, m: m,
		log:   log.Named("handler"),
		chats: map[int64]*chatWorker{},
	}
}

// Run lets the runner start workers until ctx is done, then waits for the
// running handlers (their context is cancelled) to return.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	r.ctx = ctx
	for key, w := range r.chats {
		if !w.running {
			r.startLocked(key, w)
		}
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

type chatWorker struct {
	r        *Runner
	key      int64
	ch       chan *Update
	pushback *Update // a command that interrupted a conversation
	running  bool
}

// Dispatch queues u for its chat's worker. It never blocks: when the chat's
// queue is full the update is dropped (and counted).
func (r *Runner) Dispatch(u *Update) {
	key := u.Event.ChatID()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	w := r.chats[key]
	if w == nil {
		// No handler is busy with this chat (no conversation waits for it):
		// an update that no route wants needs no worker (callbacks still
		// get their automatic answer).
		// With a ConvStore, a message may answer a conversation kept there.
		if _, _, _, ok := r.router.route(u); !ok && u.Callback == nil &&
			(r.cfg.Conversations == nil || u.Kind() != KindMessage) {
			return
		}
		w = &chatWorker{r: r, key: key, ch: make(chan *Update, r.cfg.QueueSize)}
		r.chats[key] = w
	}
	select {
	case w.ch <- u:
	default:
		r.m.HandlerDropped.Inc()
		r.log.Warn("chat queue full, update not handled", zap.Int64("chat_id", key), zap.String("event_id", u.Event.ID))
		return
	}
	if !w.running && r.ctx != nil {
		r.startLocked(key, w)
	}
}

func (r *Runner) startLocked(key int64, w *chatWorker) {
	w.running = true
	r.wg.Add(1)
	go w.loop()
}

func (w *chatWorker) loop() {
	defer w.r.wg.Done()
	for {
		w.r.mu.Lock()
		u := w.pushback
		w.pushback = nil
		if u == nil {
			select {
			case u = <-w.ch:
			default:
			}
		}
		if u == nil || w.r.ctx.Err() != nil {
			w.running = false
			if len(w.ch) == 0 && w.pushback == nil {
				delete(w.r.chats, w.key)
			}
			w.r.mu.Unlock()
			return
		}
		w.r.mu.Unlock()
		w.handle(w.r.ctx, u)
	}
}

// handle routes and runs one update with panic recovery, logging and
// metrics.
func (w *chatWorker) handle(ctx context.Context, u *Update) {
	r := w.r
	replay, seen := w.resumeConv(ctx, u)
	if seen {
		r.log.Info("update already in a kept conversation", zap.String("event_id", u.Event.ID))
		return
	}
	start := u
	if replay != nil {
		start = &Update{Event: replay[0].Event, Peer: u.Peer}
		replay = append(replay[1:], u)
	}
	rt, args, m, ok := r.router.route(start)
	if !ok {
		w.autoAnswer(ctx, u, false)
		return
	}
	log := r.log.With(zap.String("handler", rt.name), zap.String("event_id", start.Event.ID), zap.Int64("chat_id", u.Event.ChatID()))
	if replay != nil {
		log.Info("conversation continued", zap.Int("answers", len(replay)))
	}
	c := &Context{Update: start, Route: rt.name, Args: args, Match: m, Log: log, client: r.client, emitter: r.emitter, w: w,
		replay: replay, saved: replay != nil}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.HandlerTimeout)
	defer cancel()
	began := time.Now()
	result, err := run(ctx, rt.h, c)
	// A conversation ended by the runner stopping (a takeover or a restart
	// continues it) or by its timeout (the store's entry expires with it)
	// stays in the store.
	if c.saved && r.ctx.Err() == nil && !errors.Is(err, ErrTimeout) {
		w.deleteConv(ctx, c.Event.ChatID())
	}
	r.m.HandlerRuns.WithLabelValues(rt.name, result).Inc()
	switch result {
	case "panic":
		r.m.HandlerPanics.Inc()
		log.Error("handler panicked", zap.Duration("took", time.Since(began)), zap.Error(err))
	case "error":
		log.Warn("handler failed", zap.Duration("took", time.Since(began)), zap.Error(err))
	default:
		log.Info("handler ran", zap.Duration("took", time.Since(began)))
	}
	w.autoAnswer(ctx, u, c.answered)
}

// run calls h, turning a panic into an error with the stack.
func run(ctx context.Context, h Handler, c *Context) (result string, err error) {
	defer func() {
		if p := recover(); p != nil {
			result, err = "panic", fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	if err := h.Handle(ctx, c); err != nil {
		return "error", err
	}
	return "ok", nil
}

// autoAnswer stops the client's spinner on a callback no handler answered,
// once the downstream service had CallbackAutoAnswer to answer it through
// the sender. Telegram's "already answered" (QUERY_ID_INVALID) then means
// someone did: not an error. The wait holds no chat worker.
func (w *chatWorker) autoAnswer(_ context.Context, u *Update, answered bool) {
	r := w.r
	if u.Callback == nil || answered || r.cfg.CallbackAutoAnswer < 0 {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTimer(r.cfg.CallbackAutoAnswer)
		defer t.Stop()
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		defer cancel()
		err := r.client.AnswerCallback(ctx, u.Callback.QueryID, "")
		switch {
		case err == nil:
			r.log.Debug("callback answered empty", zap.String("event_id", u.Event.ID))
		case tgerr.Is(err, "QUERY_ID_INVALID"):
			r.log.Debug("callback already answered", zap.String("event_id", u.Event.ID))
		default:
			r.log.Warn("answer callback", zap.String("event_id", u.Event.ID), zap.Error(err))
		}
	}()
}

// next waits for the next text message of sender in this chat, handling
// other updates meanwhile. A /command that a route handles interrupts the
// wait and is handled after the current handler returns.
func (w *chatWorker) next(ctx context.Context, sender int64) (*Update, error) {
	timer := time.NewTimer(w.r.cfg.ConversationTimeout)
	defer timer.Stop()
	for {
		select {
		case u := <-w.ch:
			if u.Kind() != KindMessage || (sender != 0 && u.SenderID() != sender) {
				w.handle(ctx, u)
				continue
			}
			if w.r.router.isCommand(u) {
				w.r.mu.Lock()
				w.pushback = u
				w.r.mu.Unlock()
				return nil, ErrInterrupted
			}
			return u, nil
		case <-timer.C:
			return nil, ErrTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// convTimeout bounds one call to the ConvStore.
const convTimeout = 5 * time.Second

// resumeConv returns, when u answers a conversation kept in the ConvStore
// (same sender, not timed out), the update that started it followed by
// the answers it got so far; nil otherwise. seen: u is already part of the
// kept conversation (fetched again after a takeover), nothing to do. A
// command from the waiting user ends the kept conversation (as it
// interrupts a live one).
func (w *chatWorker) resumeConv(ctx context.Context, u *Update) (replay []*Update, seen bool) {
	r := w.r
	if r.cfg.Conversations == nil || u.Kind() != KindMessage {
		return nil, false
	}
	chat := u.Event.ChatID()
	sctx, cancel := context.WithTimeout(ctx, convTimeout)
	defer cancel()
	conv, err := r.cfg.Conversations.Load(sctx, chat)
	if err != nil {
		r.log.Warn("load conversation", zap.Int64("chat_id", chat), zap.Error(err))
		return nil, false
	}
	if conv == nil || (conv.Sender != 0 && conv.Sender != u.SenderID()) {
		return nil, false
	}
	out := []*Update{{Event: conv.Start, Peer: u.Peer}}
	for _, a := range conv.Answers {
		out = append(out, &Update{Event: a, Peer: u.Peer})
	}
	for _, x := range out {
		if x.Event.ID == u.Event.ID {
			return nil, true
		}
	}
	if r.router.isCommand(u) || time.Since(conv.Asked) > r.cfg.ConversationTimeout {
		w.deleteConv(ctx, chat)
		return nil, false
	}
	return out, false
}

// saveConv keeps c's conversation in the ConvStore before it waits for an
// answer. A failure is logged: the conversation goes on in this replica.
func (w *chatWorker) saveConv(ctx context.Context, c *Context) {
	r := w.r
	if r.cfg.Conversations == nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, convTimeout)
	defer cancel()
	conv := &Conversation{Start: c.Event, Answers: c.answers, Sender: c.SenderID(), Asked: time.Now()}
	if err := r.cfg.Conversations.Save(sctx, c.Event.ChatID(), conv); err != nil {
		c.Log.Warn("save conversation", zap.Error(err))
		return
	}
	c.saved = true
}

func (w *chatWorker) deleteConv(ctx context.Context, chat int64) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), convTimeout)
	defer cancel()
	if err := w.r.cfg.Conversations.Delete(sctx, chat); err != nil {
		w.r.log.Warn("delete conversation", zap.Int64("chat_id", chat), zap.Error(err))
	}
}
