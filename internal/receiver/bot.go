package receiver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gotd/contrib/middleware/floodwait"
	"github.com/gotd/log/logzap"
	"github.com/gotd/td/bin"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/updates"
	updhook "github.com/gotd/td/telegram/updates/hook"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/logging"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/receiver/handlers"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsconv"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// bot is one account the receiver takes updates for: its own gotd client,
// update manager (its pts state lives in the outbox, keyed by the
// account's ID), handler router and per-chat handler runner. A bot's
// failures never stop another bot.
type bot struct {
	s     *Service
	token bots.Token // zero in user mode
	log   *zap.Logger

	// conn is the current client and update manager: gotd runs each only
	// once, so every run of the client (a reconnect after it stopped, a new
	// lease term) builds a new pair (connect). api always calls the current
	// client.
	conn   atomic.Pointer[tgConn]
	tgOpts tgclient.Options
	api    *tg.Client
	router *handler.Router
	runner *handler.Runner

	id         atomic.Int64 // known from the token, or after a user-mode login
	username   atomic.Pointer[string]
	authorized atomic.Bool
	ready      atomic.Bool
	connected  atomic.Bool
	wasReady   atomic.Bool
	active     atomic.Bool // NATS mode: this replica holds the bot's lease
	runCtx     atomic.Pointer[context.Context]

	mu     sync.Mutex
	status bots.Status
	reason string
	// loggedIn is closed at the first successful login or permanent
	// failure (AddBot waits on it).
	loggedIn  chan struct{}
	loginOnce sync.Once
	loginErr  error

	life    sync.Mutex
	cancel  context.CancelFunc // set by start, under life
	stopped bool               // set by stop, under life: start then does nothing
	done    chan struct{}
}

// newBot builds the client and handlers of one account. sessionPath is its
// session file.
func (s *Service) newBot(tok bots.Token, sessionPath string) (*bot, error) {
	b := &bot{s: s, token: tok, status: bots.StatusStarting, loggedIn: make(chan struct{}), done: make(chan struct{})}
	b.id.Store(tok.ID())
	b.log = s.log
	if tok.ID() != 0 {
		b.log = s.log.With(zap.Int64("bot_id", tok.ID()))
	}
	b.router = handler.NewRouter()
	if s.opts.routes != nil {
		s.opts.routes(b.router)
	} else {
		handlers.Register(b.router)
	}
	for _, f := range s.opts.extra {
		f(b.router)
	}
	b.tgOpts = tgclient.Options{
		SessionPath:       sessionPath,
		Logger:            b.log.Named("telegram"),
		RetryInterval:     s.cfg.TGRetry,
		OnConnectionState: b.onConnectionState,
	}
	if err := b.connect(); err != nil {
		return nil, err
	}
	b.api = tg.NewClient(currentInvoker{b})
	b.runner = handler.NewRunner(handler.RunnerConfig{
		QueueSize:           s.cfg.HandlerQueue,
		ConversationTimeout: s.cfg.ConvTimeout,
		CallbackAutoAnswer:  handler.AutoAnswerAfter(s.cfg.CallbackAutoAnswer),
		Conversations:       s.convStore(tok),
	}, b.router, newReplier(b.api), emitter{s}, s.m, b.log)
	return b, nil
}

// info describes the bot for /admin/bots and /readyz.
func (b *bot) info() bots.Info {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := bots.Info{ID: b.id.Load(), Status: b.status, Error: b.reason}
	if b.isReady() {
		in.Status, in.Error = bots.StatusReady, ""
	}
	if u := b.username.Load(); u != nil {
		in.Username = *u
	}
	return in
}

func (b *bot) setStatus(st bots.Status, reason string) {
	b.mu.Lock()
	b.status, b.reason = st, reason
	b.mu.Unlock()
}

// isReady is what /readyz reports per bot: its updates are running here,
// or (NATS mode) it is a standby and another replica holds the lease.
func (b *bot) isReady() bool {
	if b.s.nats != nil && !b.active.Load() {
		h := b.s.nats.leases.Holder(b.token.ID())
		return h != "" && h != b.s.nats.leases.Replica()
	}
	return b.authorized.Load() && b.ready.Load()
}

// login records the outcome of the first login attempt.
func (b *bot) login(err error) {
	b.loginOnce.Do(func() {
		b.loginErr = err
		close(b.loggedIn)
	})
}

// start runs the bot in the background until ctx ends or stop is called.
// fatal receives a permanent failure (a refused login): the service decides
// whether it stops everything (the only account) or only this bot.
func (b *bot) start(ctx context.Context, fatal func(*bot, error)) {
	b.life.Lock()
	defer b.life.Unlock()
	if b.stopped {
		return // removed before it started
	}
	ctx, b.cancel = context.WithCancel(ctx)
	b.runCtx.Store(&ctx)
	go func() {
		defer close(b.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.runner.Run(ctx)
		}()
		defer wg.Wait()
		if b.s.nats != nil {
			b.runLeased(ctx, fatal)
			return
		}
		b.runClient(ctx, fatal)
	}()
}

// runClient runs the Telegram client until ctx ends (false) or the login
// is refused for good (true), reconnecting with backoff.
func (b *bot) runClient(ctx context.Context, fatal func(*bot, error)) (stop bool) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = time.Second, time.Minute, 0
	for {
		started := time.Now()
		c := b.conn.Load()
		if c.used {
			if err := b.connect(); err != nil {
				b.login(err)
				fatal(b, err)
				return true
			}
			c = b.conn.Load()
		}
		c.used = true
		err := c.client.Run(ctx, func(ctx context.Context) error { return b.runTelegram(ctx, c) })
		if time.Since(started) > time.Minute {
			bo.Reset() // it ran: the next failure is a new one
		}
		b.authorized.Store(false)
		b.ready.Store(false)
		if ctx.Err() != nil {
			b.login(ctx.Err())
			return false
		}
		if err == nil {
			err = errors.New("telegram client stopped")
		}
		if permanent(err) {
			b.setStatus(bots.StatusError, reason(err))
			b.log.Error("bot stopped: login refused", zap.Error(err))
			b.login(err)
			fatal(b, err)
			return true
		}
		wait := bo.NextBackOff()
		b.setStatus(bots.StatusError, reason(err))
		b.log.Warn("telegram connection failed, retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			b.login(ctx.Err())
			return false
		case <-time.After(wait):
		}
	}
}

// stop ends the bot and waits for its client and handlers to return.
func (b *bot) stop() {
	b.life.Lock()
	b.stopped = true
	cancel := b.cancel
	b.life.Unlock()
	if cancel != nil {
		cancel()
		<-b.done
	}
}

// permanent reports a failure that retrying cannot fix: Telegram refused
// the token or the session, or user mode has no login.
func permanent(err error) bool {
	if errors.Is(err, ErrNotLoggedIn) || errors.Is(err, tgclient.ErrNoBotToken) {
		return true
	}
	for _, code := range []string{"ACCESS_TOKEN_INVALID", "ACCESS_TOKEN_EXPIRED", "AUTH_KEY_UNREGISTERED", "USER_DEACTIVATED", "USER_DEACTIVATED_BAN", "SESSION_REVOKED"} {
		if tgerr.Is(err, code) {
			return true
		}
	}
	return false
}

// reason is a short, secret-free description of err for /admin/bots.
func reason(err error) string {
	if rpc, ok := tgerr.As(err); ok {
		return rpc.Type
	}
	return err.Error()
}

// runTelegram logs in (bots once per session) and runs the update manager.
func (b *bot) runTelegram(ctx context.Context, c *tgConn) error {
	var self *tg.User
	var err error
	if b.token.ID() == 0 {
		st, err := c.client.Auth().Status(ctx)
		if err != nil {
			return fmt.Errorf("auth status: %w", err)
		}
		if !st.Authorized {
			return ErrNotLoggedIn
		}
		self = st.User
	} else if self, err = tgclient.EnsureBotAuth(ctx, c.client, b.token.Value()); err != nil {
		return err
	}
	if b.token.ID() != 0 && self.ID != b.token.ID() {
		return fmt.Errorf("the session belongs to account %d, not to bot %d", self.ID, b.token.ID())
	}
	b.id.Store(self.ID)
	name := self.Username
	b.username.Store(&name)
	b.router.SetBotUsername(self.Username)
	b.setStatus(bots.StatusStarting, "")
	b.authorized.Store(true)
	b.login(nil)
	b.log.Info("logged in", zap.Int64("id", self.ID), zap.String("username", self.Username), zap.Bool("bot", self.Bot))
	return c.gaps.Run(ctx, c.client.API(), self.ID, updates.AuthOptions{
		IsBot: self.Bot,
		OnStart: func(ctx context.Context) {
			// The manager runs its start-up getDifference before it reads
			// pushed updates: this marker comes back through handleUpdates
			// once that is done, which is when the bot is ready.
			go func() { _ = c.gaps.Handle(ctx, &tg.UpdateShort{Update: &tg.UpdateConfig{}}) }()
		},
	})
}

// onConnectionState forces a getDifference whenever the connection comes
// back: gotd's manager does not notice updates pushed while it was down.
func (b *bot) onConnectionState(st telegram.ConnectionState) {
	if st != telegram.ConnectionStateReady {
		b.connected.Store(false)
		return
	}
	b.connected.Store(true)
	if !b.wasReady.Swap(true) {
		return // the first connection: the manager's start-up getDifference covers it
	}
	ctxp := b.runCtx.Load()
	if ctxp == nil {
		return
	}
	ctx := *ctxp
	b.log.Info("reconnected, fetching missed updates")
	go func() {
		if err := b.conn.Load().gaps.Handle(ctx, &tg.UpdatesTooLong{}); err != nil && ctx.Err() == nil {
			b.log.Warn("force getDifference", zap.Error(err))
		}
	}()
}

// tgConn is one run of the Telegram client with its update manager.
type tgConn struct {
	client *telegram.Client
	gaps   *updates.Manager
	used   bool // Run was called: the next run needs a new tgConn
}

// connect builds a new client and update manager and makes them current.
func (b *bot) connect() error {
	gaps := updates.New(updates.Config{
		Handler:      telegram.UpdateHandlerFunc(b.handleUpdates),
		Storage:      b.s.store,
		AccessHasher: b.s.store,
		Logger:       logzap.New(logging.AtLeast(b.log.Named("updates"), zapcore.InfoLevel)),
	})
	opts := b.tgOpts
	opts.UpdateHandler = gaps
	opts.Middlewares = []telegram.Middleware{
		updhook.UpdateHook(gaps.Handle),
		floodwait.NewSimpleWaiter().WithMaxRetries(3).WithMaxWait(time.Minute),
	}
	if b.s.opts.tg != nil {
		b.s.opts.tg(&opts)
	}
	client, err := tgclient.New(b.s.cfg.Telegram, opts)
	if err != nil {
		return err
	}
	b.conn.Store(&tgConn{client: client, gaps: gaps})
	return nil
}

// currentInvoker sends RPCs through the bot's current client.
type currentInvoker struct{ b *bot }

// Invoke implements tg.Invoker.
func (i currentInvoker) Invoke(ctx context.Context, input bin.Encoder, output bin.Decoder) error {
	return i.b.conn.Load().client.Invoke(ctx, input, output)
}

// convStore is where the bot's conversations wait for answers: tg_conv with
// NATS (another replica may take the answer), memory otherwise.
func (s *Service) convStore(tok bots.Token) handler.ConvStore {
	if s.nats != nil && tok.ID() != 0 {
		return natsconv.For(s.nats.conv, tok.ID())
	}
	return handler.NewMemoryConvStore()
}
