// Package sender is the sender service: a REST API (package httpapi) that
// other services call to reach Telegram users, over one long-lived MTProto
// client (package gateway), with persistent bulk jobs (package jobs), state
// in DATA_DIR/sender.db (package store), proactive rate limits (package
// ratelimit) and Prometheus metrics (package metrics).
//
// Embedding (the demo, the benchmarks, tests):
//
//	svc, err := sender.New(cfg, log) // listens on cfg.Addr at once
//	go svc.Run(ctx)                   // until ctx ends, then shuts down gracefully
//	<-svc.Ready()                     // Telegram client connected and authorized
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
	"github.com/tgbotsvc/tgbot/internal/sender/gateway"
	"github.com/tgbotsvc/tgbot/internal/sender/httpapi"
	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/ratelimit"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// Service is a running sender. Create it with New, then call Run once.
type Service struct {
	cfg     Config
	log     *zap.Logger
	store   *store.Store
	gw      *gateway.Gateway
	runner  *jobs.Runner
	metrics *metrics.Metrics
	ln      net.Listener
	srv     *http.Server
	once    sync.Once
}

// New opens the store, builds the client and the API and starts listening
// on cfg.Addr (so Addr is known before Run). It does not connect to
// Telegram yet. cfg is validated again here for embedders that did not load
// it through internal/config.
func New(cfg Config, log *zap.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.DataDir.Validate(); err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir.Path, "sender.db"))
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	gw := gateway.New(gateway.Config{
		Telegram:     cfg.Telegram,
		SessionPath:  tgclient.SessionFile(cfg.DataDir.Path, "sender"),
		DocumentsDir: filepath.Join(cfg.DataDir.Path, "documents"),
		KeepCopies:   cfg.KeepDocuments,
		Limits: ratelimit.Config{
			GlobalPerSecond:  cfg.RatePerSecond,
			PerChatPerSecond: cfg.RatePerChatPerSecond,
			GroupPerMinute:   cfg.RateGroupPerMinute,
			Burst:            cfg.RateBurst,
		},
		FloodMaxWait:    cfg.FloodMaxWait,
		FloodMaxRetries: cfg.FloodMaxRetries,
		RetryInterval:   cfg.TGRetryInterval,
	}, st, m, log.Named("gateway"))
	runner := jobs.New(jobs.Config{
		Workers:       cfg.Workers,
		MaxAttempts:   cfg.JobMaxAttempts,
		ShutdownGrace: cfg.ShutdownTimeout,
	}, st, gw, m, log.Named("jobs"))
	handler, err := httpapi.New(httpapi.Options{
		Tokens:           cfg.APITokens,
		AsyncThreshold:   cfg.AsyncThreshold,
		MaxRecipients:    cfg.MaxRecipients,
		MaxJSONBytes:     cfg.MaxBodyMB << 20,
		MaxDocumentBytes: cfg.MaxDocumentMB << 20,
		RequestTimeout:   cfg.RequestTimeout,
		IdempotencyWait:  cfg.RequestTimeout,
		OpenAPIYAML:      api.SenderOpenAPI,
	}, gw, runner, st, m, log.Named("http"))
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("SENDER_ADDR: %w", err)
	}
	return &Service{
		cfg: cfg, log: log, store: st, gw: gw, runner: runner, metrics: m, ln: ln,
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			// No ReadTimeout/WriteTimeout: a 2000 MB upload takes long.
			// Synchronous sends are bounded by SENDER_REQUEST_TIMEOUT.
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       zap.NewStdLog(log.Named("http")),
		},
	}, nil
}

// Addr is the address the API listens on (the real port when cfg.Addr
// asked for port 0).
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Ready is closed once the Telegram client is first connected and
// authorized. Readiness afterwards is at /readyz.
func (s *Service) Ready() <-chan struct{} { return s.gw.FirstReady() }

// Handler is the HTTP handler (for tests that want no listener).
func (s *Service) Handler() http.Handler { return s.srv.Handler }

// Run serves until ctx ends, then shuts down: the listener stops accepting,
// requests in flight and sends of jobs in flight get SENDER_SHUTDOWN_TIMEOUT
// to finish, job progress is committed (what is unsent resumes at the next
// start), the client disconnects and the store closes. Run may be called
// once.
func (s *Service) Run(ctx context.Context) error {
	err := errors.New("sender: Run called twice")
	s.once.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Service) run(ctx context.Context) error {
	defer s.store.Close()
	// The client outlives ctx until the API and the jobs are done with it.
	gwCtx, stopGW := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGW()
	var wg sync.WaitGroup
	var gwErr, jobsErr error
	wg.Go(func() { gwErr = s.gw.Run(gwCtx) })

	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		jobsErr = s.runner.Run(ctx)
	}()
	wg.Go(func() { s.expireIdempotency(ctx) })

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(s.ln) }()
	s.log.Info("sender listening", zap.String("addr", s.Addr()))

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case <-jobsDone:
		err = jobsErr
	}
	s.log.Info("sender shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if serr := s.srv.Shutdown(shutdownCtx); serr != nil {
		s.log.Warn("http shutdown", zap.Error(serr))
		_ = s.srv.Close()
	}
	if err != nil {
		stopGW() // the runner's context is not done: do not wait for it
	}
	<-jobsDone
	stopGW()
	wg.Wait()
	if err == nil && gwErr != nil {
		err = gwErr
	}
	s.log.Info("sender stopped")
	return err
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
