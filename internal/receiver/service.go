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
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/lifecycle"
	"github.com/tgbotsvc/tgbot/internal/receiver/delivery"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
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
	opts    options
	log     *zap.Logger
	forward map[event.Type]bool

	db       *storage.DB
	outbox   *outbox.Store // nil with NATS_URL set
	store    eventStore    // the outbox, or NATS (natsEvents)
	nats     *natsMode     // nil without NATS_URL
	m        *metrics.Metrics
	disp     dispatcher
	ln       net.Listener
	srv      *http.Server
	userMode bool

	mu     sync.Mutex
	bots   map[int64]*bot // by token ID (0: the user-mode account)
	order  []int64        // start order
	runCtx context.Context
	fatal  chan error

	closeOnce sync.Once
}

// New validates cfg, opens the outbox in DATA_DIR, builds one Telegram
// client per bot (TG_BOT_TOKEN, TG_BOT_TOKENS and the bots added at
// runtime), the handlers and the driver, and starts listening on cfg.Addr
// (so Addr is known before Run). Call Run, or Close if Run is never called.
func New(cfg Config, log *zap.Logger, opts ...Option) (*Service, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for _, v := range []interface{ Validate() error }{&cfg, &cfg.HTTP, &cfg.Log, &cfg.Telegram, &cfg.DataDir, &cfg.NATS} {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	tokens, err := bots.FromConfig(cfg.BotToken, cfg.BotTokens)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	saved, err := bots.Saved(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("DATA_DIR: %w", err)
	}
	forward, _ := event.ParseTypes(cfg.ForwardTypes)
	log = log.Named("receiver")
	s := &Service{cfg: cfg, opts: o, log: log, forward: forward, userMode: len(tokens) == 0 && len(saved) == 0,
		bots: map[int64]*bot{}, fatal: make(chan error, 1)}

	legacySession := tgclient.SessionFile(cfg.Path, SessionName)
	if s.userMode {
		if _, err := os.Stat(legacySession); err != nil {
			return nil, fmt.Errorf("TG_BOT_TOKEN is empty (user mode) and there is no saved session at %s: run `receiver login` first", legacySession)
		}
	} else if err := migrateSession(cfg, tokens, log); err != nil {
		return nil, err
	}

	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	s.m = metrics.New(func() float64 { return float64(s.store.Depth()) })
	drv := o.driver
	if drv == nil {
		if drv, err = newDriver(cfg, log); err != nil {
			return nil, err
		}
	}
	if cfg.NATS.Enabled() {
		err = s.openNATS(drv)
	} else {
		err = s.openOutbox(drv)
	}
	if err != nil {
		return nil, err
	}

	if err := s.buildBots(bots.Merge(tokens, saved), legacySession); err != nil {
		return nil, err
	}

	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("RECEIVER_ADDR: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      45 * time.Second, // PUT /admin/bots waits for a login (bots.AddTimeout)
		IdleTimeout:       2 * time.Minute,
	}
	ok = true
	return s, nil
}

// openOutbox opens the bbolt outbox in DATA_DIR and the dispatcher that
// delivers from it (NATS_URL empty).
func (s *Service) openOutbox(drv driver.Driver) error {
	var err error
	if s.db, err = storage.Open(filepath.Join(s.cfg.Path, DBFile), outbox.Buckets...); err != nil {
		return err
	}
	// The outbox churns (every event is inserted, then deleted): writing
	// bbolt's freelist on every commit costs more than rebuilding it by a
	// scan when the file is opened after a crash. bbolt checks this field
	// at each commit, and converts the file back when opened without it.
	s.db.NoFreelistSync = true
	s.outbox, err = outbox.Open(s.db, outbox.Options{
		OnCommit: s.onCommit,
		DedupTTL: s.cfg.DedupTTL,
		Logger:   s.log,
		ObserveCommit: func(d time.Duration, ops int) {
			s.m.CommitLatency.Observe(d.Seconds())
			s.m.CommitOps.Observe(float64(ops))
		},
	})
	if err != nil {
		return err
	}
	s.store = s.outbox
	s.disp = delivery.New(delivery.Config{
		MaxAttempts:    s.cfg.MaxAttempts,
		MaxAge:         s.cfg.MaxAge,
		InitialBackoff: s.cfg.BackoffMin,
		MaxBackoff:     s.cfg.BackoffMax,
		Concurrency:    s.cfg.Concurrency,
		MaxInMemory:    s.cfg.MaxInMemory,
		AlbumWait:      s.cfg.AlbumWait,
	}, drv, s.outbox, s.m, s.log)
	return nil
}

// migrateSession moves a single-bot DATA_DIR's session to the directory of
// its bot: TG_BOT_TOKEN's bot, or the only bot configured.
func migrateSession(cfg Config, tokens []bots.Token, log *zap.Logger) error {
	owner, ok := bots.LegacyOwner(cfg.BotToken, tokens)
	if !ok {
		return nil
	}
	moved, err := bots.MigrateSession(tgclient.SessionFile(cfg.Path, SessionName), cfg.Path, owner, SessionName)
	if err != nil {
		return fmt.Errorf("DATA_DIR: moving the session to bots/%d: %w", owner, err)
	}
	if moved {
		log.Info("session moved to the bot's directory", zap.Int64("bot_id", owner))
	}
	return nil
}

// buildBots builds the user-mode account (its session at legacySession)
// or one client per token.
func (s *Service) buildBots(tokens []bots.Token, legacySession string) error {
	if s.userMode {
		b, err := s.newBot(bots.Token{}, legacySession)
		if err != nil {
			return err
		}
		s.bots[0], s.order = b, []int64{0}
	}
	for _, t := range tokens {
		b, err := s.newBot(t, bots.SessionFile(s.cfg.Path, t.ID(), SessionName))
		if err != nil {
			return err
		}
		s.bots[t.ID()] = b
		s.order = append(s.order, t.ID())
	}
	return nil
}

// Addr is the address the HTTP endpoints listen on (the real port when
// RECEIVER_ADDR asked for port 0).
func (s *Service) Addr() string { return s.ln.Addr().String() }

// BotID is the ID of the first account (0 before a user-mode login).
func (s *Service) BotID() int64 {
	if b := s.first(); b != nil {
		return b.id.Load()
	}
	return 0
}

func (s *Service) first() *bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return nil
	}
	return s.bots[s.order[0]]
}

// list returns the bots in start order.
func (s *Service) list() []*bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*bot, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.bots[id])
	}
	return out
}

// Ready reports what /readyz reports: every bot authorized with its update
// manager running (start-up getDifference applied), and the store healthy.
func (s *Service) Ready() bool {
	return s.store.Healthy() == nil && allBots(s.list(), (*bot).isReady)
}

// allBots reports whether there are bots and f holds for each.
func allBots(bs []*bot, f func(*bot) bool) bool {
	for _, b := range bs {
		if !f(b) {
			return false
		}
	}
	return len(bs) > 0
}

// WaitReady waits until Ready or ctx ends.
func (s *Service) WaitReady(ctx context.Context) error {
	return lifecycle.WaitReady(ctx, s.Ready, 10*time.Millisecond)
}

// Run receives, handles and delivers until ctx is cancelled, then shuts
// down gracefully (in-flight deliveries get a few seconds; what is not
// delivered stays in the outbox). It returns the first error that stopped
// it, or nil after a requested shutdown. A bot whose login Telegram refuses
// stops Run when it is the only account; among several it is reported as
// "error" by /admin/bots and the others go on. Run closes the service.
func (s *Service) Run(ctx context.Context) error {
	defer s.Close()
	// The dispatcher reads the events left in the outbox itself, a window
	// at a time (delivery.Pager).
	if s.outbox != nil {
		if n := s.outbox.Depth(); n > 0 {
			s.log.Info("delivering events left in the outbox", zap.Int64("count", n))
		}
		s.outbox.Start()
	}

	g, gctx := errgroup.WithContext(ctx)
	if s.nats != nil {
		s.nats.run(func(err error) { s.botFailed(nil, err) })
	}
	s.mu.Lock()
	s.runCtx = gctx
	s.mu.Unlock()
	for _, b := range s.list() {
		b.start(gctx, s.botFailed)
	}
	g.Go(func() error { return s.disp.Run(gctx) })
	if s.db != nil {
		g.Go(func() error {
			// A backlog read back from the outbox would otherwise stay
			// resident as mapped file pages (see storage.DB.Trim).
			s.db.KeepMappedSmall(gctx, 100*time.Millisecond)
			return nil
		})
	}
	g.Go(func() error {
		select {
		case err := <-s.fatal:
			return fmt.Errorf("telegram: %w", err)
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error {
		if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		return lifecycle.Shutdown(s.srv, 5*time.Second)
	})
	s.log.Info("receiver started", zap.String("addr", s.Addr()), zap.Bool("user_mode", s.userMode), zap.Int("bots", len(s.list())))
	err := g.Wait()
	for _, b := range s.list() {
		b.stop()
	}
	if s.nats != nil {
		s.nats.stop()
	}
	s.log.Info("receiver stopped", zap.Int64("outbox_depth", s.store.Depth()))
	return err
}

// botFailed handles a bot whose login was refused for good: with one
// account the whole service stops (the process exits and says why), with
// several only that bot stops.
func (s *Service) botFailed(b *bot, err error) {
	if b != nil && len(s.list()) > 1 {
		return
	}
	select {
	case s.fatal <- err:
	default:
	}
}

// Close releases the store and the listener. Run calls it; call it only if
// Run was never called.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		if s.ln != nil {
			_ = s.ln.Close()
		}
		if s.outbox != nil {
			_ = s.outbox.Close()
		}
		if s.nats != nil {
			s.nats.close()
		}
		if s.db != nil {
			_ = s.db.Close()
		}
	})
}

// ErrNotLoggedIn is returned in user mode when the saved session is not
// authorized.
var ErrNotLoggedIn = errors.New("the saved session is not logged in: run `receiver login` first (or set TG_BOT_TOKEN)")

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
