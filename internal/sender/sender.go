// Package sender is the sender service: a REST API (package httpapi) that
// other services call to reach Telegram users, over one long-lived MTProto
// client per bot (package gateway), with persistent bulk jobs (package
// jobs), each bot's state in DATA_DIR/bots/<bot_id>/sender.db (package
// store), proactive rate limits per bot (package ratelimit) and Prometheus
// metrics (package metrics).
//
// Embedding (the demo, the benchmarks, tests):
//
//	svc, err := sender.New(cfg, log) // listens on cfg.Addr at once
//	go svc.Run(ctx)                   // until ctx ends, then shuts down gracefully
//	err = svc.WaitReady(ctx)          // every bot's Telegram client connected and authorized
//	url := "http://" + svc.Addr()
package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/api"
	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/lifecycle"
	"github.com/tgbotsvc/tgbot/internal/sender/httpapi"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/natsingress"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Service is a running sender. Create it with New, then call Run once.
type Service struct {
	cfg     Config
	log     *zap.Logger
	store   *store.Store // idempotency answers, shared by the bots (bbolt mode)
	nats    *natsMode    // nil: bbolt mode (NATS_URL empty)
	bots    *httpapi.Bots
	metrics *metrics.Metrics
	ln      net.Listener
	srv     *http.Server
	once    sync.Once

	mu      sync.Mutex
	units   map[int64]*unit // by token ID (0: a session without a token)
	runCtx  context.Context // set by Run: units added later start in it
	unitErr chan error
}

// SharedDBFile is the store of what the bots share (idempotency answers),
// in DATA_DIR. Each bot's own store is DATA_DIR/bots/<bot_id>/sender.db.
const SharedDBFile = "sender-shared.db"

// New opens the stores, builds one client per bot (TG_BOT_TOKEN,
// TG_BOT_TOKENS and the bots added at runtime) and the API, and starts
// listening on cfg.Addr (so Addr is known before Run). It does not connect
// to Telegram yet. cfg is validated again here for embedders that did not
// load it through internal/config.
func New(cfg Config, log *zap.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.DataDir.Validate(); err != nil {
		return nil, err
	}
	tokens, err := bots.FromConfig(cfg.BotToken, cfg.BotTokens)
	if err != nil {
		return nil, err
	}
	saved, err := bots.Saved(cfg.DataDir.Path)
	if err != nil {
		return nil, fmt.Errorf("DATA_DIR: %w", err)
	}
	if err := migrate(cfg, tokens, log); err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir.Path, SharedDBFile))
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log, store: st, bots: &httpapi.Bots{}, metrics: metrics.New(),
		units: map[int64]*unit{}, unitErr: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			s.closeUnits()
			_ = st.Close()
			s.nats.close()
		}
	}()
	var idem httpapi.IdempotencyStore = st
	if cfg.NATS.Enabled() {
		if s.nats, err = openNATS(cfg, log); err != nil {
			return nil, err
		}
		idem = s.nats.stores.Idempotency()
	}
	all := bots.Merge(tokens, saved)
	if len(all) == 0 {
		all = []bots.Token{{}} // a session without a token (DATA_DIR/sender.session.json)
	}
	for _, t := range all {
		u, err := s.newUnit(t)
		if err != nil {
			return nil, err
		}
		s.units[t.ID()] = u
		s.bots.Add(u.bot)
	}
	handler, err := httpapi.New(httpapi.Options{
		Tokens:           cfg.APITokens,
		AsyncThreshold:   cfg.AsyncThreshold,
		MaxRecipients:    cfg.MaxRecipients,
		MaxJSONBytes:     cfg.MaxBodyMB << 20,
		MaxDocumentBytes: cfg.MaxDocumentMB << 20,
		RequestTimeout:   cfg.RequestTimeout,
		IdempotencyWait:  cfg.RequestTimeout,
		OpenAPIYAML:      api.SenderOpenAPI,
		AdminTokens:      nonEmpty(cfg.AdminToken),
		Admin:            s,
	}, s.bots, idem, s.metrics, log.Named("http"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("SENDER_ADDR: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout/WriteTimeout: a 2000 MB upload takes long.
		// Synchronous sends are bounded by SENDER_REQUEST_TIMEOUT.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       zap.NewStdLog(log.Named("http")),
	}
	ok = true
	return s, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// Addr is the address the API listens on (the real port when cfg.Addr
// asked for port 0).
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Ready reports what /readyz reports: every bot's Telegram client is
// connected and authorized.
func (s *Service) Ready() bool { return s.bots.Ready() == nil }

// WaitReady waits until Ready or ctx ends.
func (s *Service) WaitReady(ctx context.Context) error {
	return lifecycle.WaitReady(ctx, s.Ready, 10*time.Millisecond)
}

// Close releases the listener and the stores of a service whose Run was
// never called (Run closes them itself).
func (s *Service) Close() {
	s.once.Do(func() {
		_ = s.ln.Close()
		s.closeUnits()
		_ = s.store.Close()
		s.nats.close()
	})
}

// Handler is the HTTP handler (for tests that want no listener).
func (s *Service) Handler() http.Handler { return s.srv.Handler }

// Run serves until ctx ends, then shuts down: the listener stops accepting,
// requests in flight and sends of jobs in flight get SENDER_SHUTDOWN_TIMEOUT
// to finish, job progress is committed (what is unsent resumes at the next
// start), the clients disconnect and the stores close. Run may be called
// once.
func (s *Service) Run(ctx context.Context) error {
	err := errors.New("sender: Run called twice")
	s.once.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Service) run(ctx context.Context) error {
	defer s.store.Close()
	s.mu.Lock()
	s.runCtx = ctx
	units := make([]*unit, 0, len(s.units))
	for _, u := range s.units {
		units = append(units, u)
	}
	s.mu.Unlock()
	for _, u := range units {
		u.start(ctx, s.unitErr)
	}
	var wg sync.WaitGroup
	if s.nats == nil {
		wg.Go(func() { s.expireIdempotency(ctx) })
	} else {
		defer s.nats.close()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(s.ln) }()
	s.log.Info("sender listening", zap.String("addr", s.Addr()), zap.Int("bots", len(units)))
	var ingress *natsingress.Ingress
	if s.nats != nil {
		in, err := natsingress.Start(s.nats.conn.NC, s.srv.Handler, s.log.Named("nats-ingress"))
		if err != nil {
			_ = s.srv.Close()
			s.closeUnits()
			return fmt.Errorf("nats ingress: %w", err)
		}
		s.log.Info("nats ingress listening", zap.String("subject", natsingress.SubjectPrefix+"<bot_id>"))
		ingress = in
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case err = <-s.unitErr:
	}
	s.log.Info("sender shutting down")
	if ingress != nil {
		ingress.Stop() // requests in flight are answered
	}
	if serr := lifecycle.Shutdown(s.srv, s.cfg.ShutdownTimeout); serr != nil {
		s.log.Warn("http shutdown", zap.Error(serr))
	}
	s.mu.Lock()
	s.runCtx = nil
	s.mu.Unlock()
	s.closeUnits()
	wg.Wait()
	s.log.Info("sender stopped")
	return err
}

// closeUnits stops every bot (jobs first, then its client) and closes its
// store.
func (s *Service) closeUnits() {
	s.mu.Lock()
	units := make([]*unit, 0, len(s.units))
	for _, u := range s.units {
		units = append(units, u)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Go(u.stop)
	}
	wg.Wait()
}

func (s *Service) expireIdempotency(ctx context.Context) {
	t := time.NewTicker(min(time.Hour, s.cfg.IdempotencyTTL/2+time.Second))
	defer t.Stop()
	for {
		if n, err := s.store.ExpireIdempotent(time.Now().Add(-s.cfg.IdempotencyTTL)); err != nil {
			s.log.Warn("expire idempotency keys", zap.Error(err))
		} else if n > 0 {
			s.log.Info("expired idempotency keys", zap.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
