// Package receiver is the receiver service: its own MTProto client receives
// the bot's updates, gotd's update manager recovers gaps (state persisted in
// the outbox's bbolt file), every update of a forwarded kind becomes an event
// committed to the durable outbox before its update counts as processed,
// handlers (internal/receiver/handlers) react to updates in per-chat ordered
// queues, and the delivery stage sends the events to the downstream service
// through a driver (a signed webhook by default), in order per chat, with
// retries and dead letters.
//
// Service is the embeddable wiring: New, Run, Addr. cmd/receiver only turns
// signals and the environment into a call to it; tests and the demo start
// it on 127.0.0.1:0.
//
// Limitations:
//   - Handler work is not durable (see internal/receiver/handler); events are.
//   - One process per DATA_DIR: bbolt and the session file are exclusive.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotd/contrib/middleware/floodwait"
	"github.com/gotd/log/logzap"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/updates"
	updhook "github.com/gotd/td/telegram/updates/hook"
	"github.com/gotd/td/tg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/tgbotsvc/tgbot/internal/receiver/delivery"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/receiver/handlers"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
	"github.com/tgbotsvc/tgbot/internal/storage"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// SessionName is the receiver's session file name in DATA_DIR
// (tgclient.SessionFile(DATA_DIR, SessionName)).
const SessionName = "receiver"

// DBFile is the outbox database's file name in DATA_DIR.
const DBFile = "receiver.db"

// Option changes how New wires the service (mostly for tests, the demo and
// benchmarks).
type Option func(*options)

type options struct {
	driver driver.Driver
	routes func(*handler.Router)
	extra  []func(*handler.Router)
	tg     func(*tgclient.Options)
}

// WithDriver delivers events to d instead of the driver DRIVER selects.
func WithDriver(d driver.Driver) Option { return func(o *options) { o.driver = d } }

// WithRoutes replaces the default handlers (handlers.Register) with the
// routes f registers.
func WithRoutes(f func(r *handler.Router)) Option { return func(o *options) { o.routes = f } }

// WithExtraRoutes registers more routes after the default handlers.
func WithExtraRoutes(f func(r *handler.Router)) Option {
	return func(o *options) { o.extra = append(o.extra, f) }
}

// WithTelegramOptions edits the Telegram client options before the client
// is built (e.g. a shorter RetryInterval in tests).
func WithTelegramOptions(f func(*tgclient.Options)) Option { return func(o *options) { o.tg = f } }

// Service is a receiver.
type Service struct {
	cfg     Config
	log     *zap.Logger
	forward map[event.Type]bool

	db       *storage.DB
	store    *outbox.Store
	m        *metrics.Metrics
	disp     *delivery.Dispatcher
	router   *handler.Router
	runner   *handler.Runner
	gaps     *updates.Manager
	client   *telegram.Client
	ln       net.Listener
	srv      *http.Server
	userMode bool

	botID      atomic.Int64
	authorized atomic.Bool
	ready      atomic.Bool
	connected  atomic.Bool
	wasReady   atomic.Bool
	runCtx     atomic.Pointer[context.Context]

	closeOnce sync.Once
}

// New validates cfg, opens the outbox in DATA_DIR, builds the Telegram
// client, the handlers and the driver, and starts listening on cfg.Addr
// (so Addr is known before Run). Call Run, or Close if Run is never called.
func New(cfg Config, log *zap.Logger, opts ...Option) (*Service, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg.setDefaults()
	for _, v := range []interface{ Validate() error }{&cfg, &cfg.Log, &cfg.Telegram, &cfg.DataDir} {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	forward, _ := event.ParseTypes(cfg.ForwardTypes)
	log = log.Named("receiver")
	s := &Service{cfg: cfg, log: log, forward: forward, userMode: cfg.BotToken == ""}

	sessionPath := tgclient.SessionFile(cfg.Path, SessionName)
	if s.userMode {
		if _, err := os.Stat(sessionPath); err != nil {
			return nil, fmt.Errorf("TG_BOT_TOKEN is empty (user mode) and there is no saved session at %s: run `receiver login` first", sessionPath)
		}
	}

	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	var err error
	if s.db, err = storage.Open(filepath.Join(cfg.Path, DBFile), outbox.Buckets...); err != nil {
		return nil, err
	}
	// The outbox churns (every event is inserted, then deleted): writing
	// bbolt's freelist on every commit costs more than rebuilding it by a
	// scan when the file is opened after a crash. bbolt checks this field
	// at each commit, and converts the file back when opened without it.
	s.db.NoFreelistSync = true
	s.m = metrics.New(func() float64 { return float64(s.store.Depth()) })
	s.store, err = outbox.Open(s.db, outbox.Options{
		OnCommit: s.onCommit,
		DedupTTL: cfg.DedupTTL,
		Logger:   log,
		ObserveCommit: func(d time.Duration, ops int) {
			s.m.CommitLatency.Observe(d.Seconds())
			s.m.CommitOps.Observe(float64(ops))
		},
	})
	if err != nil {
		return nil, err
	}

	drv := o.driver
	if drv == nil {
		if drv, err = newDriver(cfg, log); err != nil {
			return nil, err
		}
	}
	s.disp = delivery.New(delivery.Config{
		MaxAttempts:    cfg.MaxAttempts,
		MaxAge:         cfg.MaxAge,
		InitialBackoff: cfg.BackoffMin,
		MaxBackoff:     cfg.BackoffMax,
		Concurrency:    cfg.Concurrency,
	}, drv, s.store, s.m, log)

	s.router = handler.NewRouter()
	if o.routes != nil {
		o.routes(s.router)
	} else {
		handlers.Register(s.router)
	}
	for _, f := range o.extra {
		f(s.router)
	}

	s.gaps = updates.New(updates.Config{
		Handler:      telegram.UpdateHandlerFunc(s.handleUpdates),
		Storage:      s.store,
		AccessHasher: s.store,
		Logger:       logzap.New(log.Named("updates").WithOptions(zap.IncreaseLevel(zapcore.InfoLevel))),
	})
	tgOpts := tgclient.Options{
		SessionPath:   sessionPath,
		Logger:        log.Named("telegram"),
		UpdateHandler: s.gaps,
		Middlewares: []telegram.Middleware{
			updhook.UpdateHook(s.gaps.Handle),
			floodwait.NewSimpleWaiter().WithMaxRetries(3).WithMaxWait(time.Minute),
		},
		RetryInterval:     cfg.TGRetry,
		OnConnectionState: s.onConnectionState,
	}
	if o.tg != nil {
		o.tg(&tgOpts)
	}
	if s.client, err = tgclient.New(cfg.Telegram, tgOpts); err != nil {
		return nil, err
	}
	s.runner = handler.NewRunner(handler.RunnerConfig{
		QueueSize:           cfg.HandlerQueue,
		ConversationTimeout: cfg.ConvTimeout,
	}, s.router, newReplier(s.client.API()), emitter{s}, s.m, log)

	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("RECEIVER_ADDR: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ok = true
	return s, nil
}

// Addr is the address the HTTP endpoints listen on (the real port when
// RECEIVER_ADDR asked for port 0).
func (s *Service) Addr() string { return s.ln.Addr().String() }

// BotID is the ID of the logged-in account (0 before login).
func (s *Service) BotID() int64 { return s.botID.Load() }

// Ready reports what /readyz reports: authorized, the update manager
// running with its start-up getDifference applied, and the store healthy.
func (s *Service) Ready() bool {
	return s.authorized.Load() && s.ready.Load() && s.store.Healthy() == nil
}

// Run receives, handles and delivers until ctx is cancelled, then shuts
// down gracefully (in-flight deliveries get a few seconds; what is not
// delivered stays in the outbox). It returns the first error that stopped
// it, or nil after a requested shutdown. Run closes the service.
func (s *Service) Run(ctx context.Context) error {
	defer s.Close()
	pending, err := s.store.Pending()
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		s.log.Info("delivering events left in the outbox", zap.Int("count", len(pending)))
		s.disp.Push(pending)
	}
	s.store.Start()

	g, gctx := errgroup.WithContext(ctx)
	s.runCtx.Store(&gctx)
	g.Go(func() error { return s.disp.Run(gctx) })
	g.Go(func() error { return s.runner.Run(gctx) })
	g.Go(func() error {
		err := s.client.Run(gctx, s.runTelegram)
		if gctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("telegram client stopped")
		}
		return fmt.Errorf("telegram: %w", err)
	})
	g.Go(func() error {
		if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return s.srv.Shutdown(sctx)
	})
	s.log.Info("receiver started", zap.String("addr", s.Addr()), zap.Bool("user_mode", s.userMode))
	err = g.Wait()
	s.log.Info("receiver stopped", zap.Int64("outbox_depth", s.store.Depth()))
	return err
}

// Close releases the store and the listener. Run calls it; call it only if
// Run was never called.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		if s.ln != nil {
			_ = s.ln.Close()
		}
		if s.store != nil {
			_ = s.store.Close()
		}
		if s.db != nil {
			_ = s.db.Close()
		}
	})
}

// ErrNotLoggedIn is returned in user mode when the saved session is not
// authorized.
var ErrNotLoggedIn = errors.New("the saved session is not logged in: run `receiver login` first (or set TG_BOT_TOKEN)")

// runTelegram logs in (bots once per session) and runs the update manager.
func (s *Service) runTelegram(ctx context.Context) error {
	var self *tg.User
	var err error
	if s.userMode {
		st, err := s.client.Auth().Status(ctx)
		if err != nil {
			return fmt.Errorf("auth status: %w", err)
		}
		if !st.Authorized {
			return ErrNotLoggedIn
		}
		self = st.User
	} else if self, err = tgclient.EnsureBotAuth(ctx, s.client, s.cfg.BotToken); err != nil {
		return err
	}
	s.botID.Store(self.ID)
	s.router.SetBotUsername(self.Username)
	s.authorized.Store(true)
	s.log.Info("logged in", zap.Int64("id", self.ID), zap.String("username", self.Username), zap.Bool("bot", self.Bot))
	return s.gaps.Run(ctx, s.client.API(), self.ID, updates.AuthOptions{
		IsBot: self.Bot,
		OnStart: func(ctx context.Context) {
			// The manager runs its start-up getDifference before it reads
			// pushed updates: this marker comes back through handleUpdates
			// once that is done, which is when the service is ready.
			go func() { _ = s.gaps.Handle(ctx, &tg.UpdateShort{Update: &tg.UpdateConfig{}}) }()
		},
	})
}

// onConnectionState forces a getDifference whenever the connection comes
// back: gotd's manager does not notice updates pushed while it was down.
func (s *Service) onConnectionState(st telegram.ConnectionState) {
	if st != telegram.ConnectionStateReady {
		s.connected.Store(false)
		return
	}
	s.connected.Store(true)
	if !s.wasReady.Swap(true) {
		return // the first connection: the manager's start-up getDifference covers it
	}
	ctxp := s.runCtx.Load()
	if ctxp == nil {
		return
	}
	ctx := *ctxp
	s.log.Info("reconnected, fetching missed updates")
	go func() {
		if err := s.gaps.Handle(ctx, &tg.UpdatesTooLong{}); err != nil && ctx.Err() == nil {
			s.log.Warn("force getDifference", zap.Error(err))
		}
	}()
}

// onCommit counts committed events.
func (s *Service) onCommit(recs []outbox.Record) {
	for _, r := range recs {
		s.m.EventsQueued.WithLabelValues(string(r.Event.Type)).Inc()
	}
}

// emitter is the handlers' way into the outbox: events they emit are
// committed, then delivered.
type emitter struct{ s *Service }

// Put implements handler.Emitter.
func (e emitter) Put(ctx context.Context, evs ...event.Event) error {
	fresh, err := e.s.store.Put(ctx, evs...)
	if err != nil {
		return err
	}
	e.s.disp.Push(fresh)
	return nil
}
