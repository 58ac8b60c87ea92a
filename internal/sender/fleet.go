package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/sender/gateway"
	"github.com/tgbotsvc/tgbot/internal/sender/httpapi"
	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/natsjobs"
	"github.com/tgbotsvc/tgbot/internal/sender/ratelimit"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// The sender is a bots.Fleet: /admin/bots adds and removes bots at runtime.
var _ bots.Fleet = (*Service)(nil)

// Names of a bot's files in its directory (DATA_DIR/bots/<bot_id>/), and of
// a single-bot DATA_DIR's files they are moved from.
const (
	sessionName = "sender"
	dbFile      = "sender.db"
)

// unit is one bot: its store, gateway (client, limits, flood waits,
// peers) and job runner, started and stopped on its own.
type unit struct {
	token bots.Token // zero: a session without a token
	bot   *httpapi.Bot
	gw    *gateway.Gateway
	m     *metrics.Metrics
	log   *zap.Logger
	store io.Closer
	jobs  interface{ Run(context.Context) error }
	// background runs beside the client (shared limits, flood waits).
	background []func(context.Context)

	mu       sync.Mutex
	cancel   context.CancelFunc // ends the jobs, then the client
	stopped  bool               // stop was called: start does nothing
	done     chan struct{}
	stopOnce sync.Once
}

// paths returns the session file and store of token t.
func (s *Service) paths(t bots.Token) (session, db string) {
	if t.ID() == 0 {
		return tgclient.SessionFile(s.cfg.DataDir.Path, sessionName), filepath.Join(s.cfg.DataDir.Path, dbFile)
	}
	return bots.SessionFile(s.cfg.DataDir.Path, t.ID(), sessionName), filepath.Join(bots.Dir(s.cfg.DataDir.Path, t.ID()), dbFile)
}

func (s *Service) newUnit(t bots.Token) (*unit, error) {
	sessionPath, dbPath := s.paths(t)
	st, err := store.Open(dbPath)
	if err != nil {
		return nil, err
	}
	label := "default"
	log := s.log
	if t.ID() != 0 {
		label = strconv.FormatInt(t.ID(), 10)
		log = s.log.With(zap.Int64("bot_id", t.ID()))
	}
	m := s.metrics.ForBot(label)
	tgCfg := s.cfg.Telegram
	tgCfg.BotToken, tgCfg.BotTokens = "", nil
	if t.ID() != 0 {
		tgCfg.BotToken = t.Value()
	}
	cfg := s.cfg
	limits := ratelimit.Config{
		GlobalPerSecond:  cfg.RatePerSecond,
		PerChatPerSecond: cfg.RatePerChatPerSecond,
		GroupPerMinute:   cfg.RateGroupPerMinute,
		Burst:            cfg.RateBurst,
	}
	gwCfg := gateway.Config{
		Telegram:        tgCfg,
		SessionPath:     sessionPath,
		DocumentsDir:    filepath.Join(cfg.DataDir.Path, "documents"),
		KeepCopies:      cfg.KeepDocuments,
		Limits:          limits,
		FloodMaxWait:    cfg.FloodMaxWait,
		FloodMaxRetries: cfg.FloodMaxRetries,
		RetryInterval:   cfg.TGRetryInterval,
	}
	var gwStore gateway.Store = st
	var background []func(context.Context)
	if s.nats != nil {
		gwStore, gwCfg.Copies = s.nats.stores.Bot(t.ID()), s.nats.stores.Files()
		shared := s.nats.limits.NewLimiter(t.ID(), s.nats.replica, ratelimit.New(limits, m), log.Named("limits"))
		flood := s.nats.limits.NewFlood(t.ID(), log.Named("flood"))
		gwCfg.Limiter, gwCfg.Flood = shared, flood
		background = append(background, shared.Run, flood.Run)
	}
	gw := gateway.New(gwCfg, gwStore, m, log.Named("gateway"))
	runner := jobs.New(jobs.Config{
		Workers:       cfg.Workers,
		MaxAttempts:   cfg.JobMaxAttempts,
		ShutdownGrace: cfg.ShutdownTimeout,
	}, st, gw, m, log.Named("jobs"))
	u := &unit{
		token: t, gw: gw, m: m, log: log, done: make(chan struct{}), store: st, jobs: runner, background: background,
		bot: &httpapi.Bot{ID: t.ID(), GW: gw, Runner: runner, Store: st},
	}
	if s.nats != nil {
		// Jobs go to TG_SEND and tg_jobs; the local runner only sends
		// small bulk requests at once (SendAll).
		shared := s.nats.queue.New(natsjobs.Config{Config: jobs.Config{
			MaxAttempts:   cfg.JobMaxAttempts,
			ShutdownGrace: cfg.ShutdownTimeout,
		}}, t.ID(), gw, runner, log.Named("jobs"))
		u.jobs, u.bot.Runner, u.bot.Store = shared, shared, shared
	}
	return u, nil
}

// start runs the bot's client and jobs until ctx ends or stop is called. A
// job runner that fails (its store is broken) is reported on fatal.
func (u *unit) start(ctx context.Context, fatal chan<- error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped {
		return // removed before it started; its store is closed
	}
	jobsCtx, stopJobs := context.WithCancel(ctx)
	// The client outlives the jobs until they are done with it.
	gwCtx, stopGW := context.WithCancel(context.WithoutCancel(ctx))
	u.cancel = stopJobs
	go func() {
		defer close(u.done)
		var wg sync.WaitGroup
		for _, run := range u.background {
			wg.Go(func() { run(gwCtx) })
		}
		wg.Go(func() {
			if err := u.gw.Run(gwCtx); err != nil {
				u.log.Error("telegram client stopped", zap.Error(err))
			}
		})
		if err := u.jobs.Run(jobsCtx); err != nil {
			select {
			case fatal <- fmt.Errorf("bot %d: jobs: %w", u.token.ID(), err):
			default:
			}
		}
		stopGW()
		wg.Wait()
	}()
}

// stop ends the jobs (sends in flight get SENDER_SHUTDOWN_TIMEOUT, the rest
// stays in the store and resumes at the next start), then the client, and
// closes the store.
func (u *unit) stop() {
	u.stopOnce.Do(func() {
		u.mu.Lock()
		u.stopped = true
		cancel := u.cancel
		u.mu.Unlock()
		if cancel != nil {
			cancel()
			<-u.done
		}
		_ = u.store.Close()
	})
}

// migrate moves a single-bot DATA_DIR's session and store to the directory
// of its bot (TG_BOT_TOKEN's, or the only bot configured), so an existing
// deployment keeps its login, jobs, documents and peers.
func migrate(cfg Config, tokens []bots.Token, log *zap.Logger) error {
	owner, ok := bots.LegacyOwner(cfg.BotToken, tokens)
	if !ok {
		return nil
	}
	dir := cfg.DataDir.Path
	moved, err := bots.MigrateSession(tgclient.SessionFile(dir, sessionName), dir, owner, sessionName)
	if err != nil {
		return fmt.Errorf("DATA_DIR: moving the session to bots/%d: %w", owner, err)
	}
	movedDB, err := bots.MoveFile(filepath.Join(dir, dbFile), filepath.Join(bots.Dir(dir, owner), dbFile))
	if err != nil {
		return fmt.Errorf("DATA_DIR: moving the store to bots/%d: %w", owner, err)
	}
	if moved || movedDB {
		log.Info("single-bot data moved to the bot's directory", zap.Int64("bot_id", owner))
	}
	return nil
}

// Bots implements bots.Fleet.
func (s *Service) Bots() []bots.Info { return s.bots.Infos() }

// AddBot implements bots.Fleet: it logs the bot in first (a short-lived
// client that writes the bot's session), then starts it and persists its
// token (DATA_DIR/bots/<bot_id>/token, 0600). A refused login leaves
// nothing behind.
func (s *Service) AddBot(ctx context.Context, t bots.Token) (bots.Info, bool, error) {
	s.mu.Lock()
	if _, ok := s.units[t.ID()]; ok {
		s.mu.Unlock()
		return s.info(t.ID()), false, nil
	}
	if s.runCtx == nil {
		s.mu.Unlock()
		return bots.Info{}, false, errors.New("the sender is not running")
	}
	s.mu.Unlock()

	sessionPath, _ := s.paths(t)
	if err := s.login(ctx, t, sessionPath); err != nil {
		if !bots.IsSaved(s.cfg.DataDir.Path, t.ID()) {
			_ = bots.Forget(s.cfg.DataDir.Path, t.ID())
		}
		if rpc, ok := tgerr.As(err); ok {
			return bots.Info{}, false, &bots.LoginError{Code: rpc.Type, Err: err}
		}
		return bots.Info{}, false, err
	}
	u, err := s.newUnit(t)
	if err != nil {
		return bots.Info{}, false, err
	}
	s.mu.Lock()
	if _, ok := s.units[t.ID()]; ok || s.runCtx == nil { // added meanwhile, or shutting down
		s.mu.Unlock()
		u.stop()
		return s.info(t.ID()), false, nil
	}
	s.units[t.ID()] = u
	u.start(s.runCtx, s.unitErr)
	s.mu.Unlock()
	s.bots.Add(u.bot)
	if err := bots.Save(s.cfg.DataDir.Path, t); err != nil {
		return bots.Info{}, false, fmt.Errorf("persist the bot: %w", err)
	}
	select {
	case <-u.gw.FirstReady():
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
	s.log.Info("bot added", zap.Int64("bot_id", t.ID()))
	return s.info(t.ID()), true, nil
}

// login checks the token with Telegram and leaves an authorized session at
// sessionPath.
func (s *Service) login(ctx context.Context, t bots.Token, sessionPath string) error {
	tgCfg := s.cfg.Telegram
	tgCfg.BotToken, tgCfg.BotTokens = t.Value(), nil
	client, err := tgclient.New(tgCfg, tgclient.Options{SessionPath: sessionPath, NoUpdates: true, Logger: s.log.Named("login")})
	if err != nil {
		return err
	}
	return client.Run(ctx, func(ctx context.Context) error {
		self, err := tgclient.EnsureBotAuth(ctx, client, t.Value())
		if err != nil {
			return err
		}
		if self.ID != t.ID() {
			return fmt.Errorf("the session belongs to account %d, not to bot %d", self.ID, t.ID())
		}
		return nil
	})
}

func (s *Service) info(id int64) bots.Info {
	for _, in := range s.Bots() {
		if in.ID == id {
			return in
		}
	}
	return bots.Info{ID: id, Status: bots.StatusStarting}
}

// RemoveBot implements bots.Fleet: the bot stops taking requests at once;
// its jobs pause (sends in flight finish, the rest stays in its store) and
// its client disconnects. Its token file is removed, so it does not come
// back at the next start; its session and store stay in its directory, so
// adding it again resumes its paused jobs without a new login.
func (s *Service) RemoveBot(_ context.Context, id int64) error {
	s.mu.Lock()
	u, ok := s.units[id]
	if ok && id != 0 {
		delete(s.units, id)
	}
	s.mu.Unlock()
	if !ok || id == 0 {
		return bots.ErrUnknownBot
	}
	s.bots.Remove(id)
	u.stop()
	u.m.Unregister()
	if err := bots.Unsave(s.cfg.DataDir.Path, id); err != nil {
		return err
	}
	s.log.Info("bot removed", zap.Int64("bot_id", id))
	return nil
}
