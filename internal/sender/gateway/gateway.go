// Package gateway is the sender's one long-lived MTProto client and
// everything it does with it: logging the bot in once (the session file in
// DATA_DIR keeps it logged in across restarts), resolving recipients to
// peers, sending messages and documents with a caller-chosen random_id,
// uploading documents and keeping them usable after their file reference
// expires, and turning Telegram's errors into send.Error kinds.
//
// Every RPC passes through three gotd middlewares, outermost first: flood
// wait (gotd/contrib SimpleWaiter: waits FLOOD_WAIT_X up to a maximum and
// retries), the proactive rate limits (package ratelimit) and metrics.
//
// Limitations:
//   - A user addressed by ID for the first time is sent to with access hash
//     0, which Telegram accepts from bots for users who wrote to them (anyone
//     else answers chat_not_found); the real hash that comes back with the
//     sent message is stored and used from then on.
//   - A FILE_REFERENCE_EXPIRED is repaired from a message the document was
//     sent in (messages.getMessages) or, failing that, by uploading the copy
//     kept in DATA_DIR again; with neither the send fails.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gotd/contrib/middleware/floodwait"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/ratelimit"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// Config configures a Gateway.
type Config struct {
	Telegram    config.Telegram
	SessionPath string
	// DocumentsDir holds the copies of uploaded documents.
	DocumentsDir string
	// KeepCopies keeps each uploaded file in DocumentsDir to upload it
	// again if its file reference cannot be refreshed otherwise.
	KeepCopies      bool
	Limits          ratelimit.Config
	FloodMaxWait    time.Duration
	FloodMaxRetries uint
	// RetryInterval between gotd's resends of an unanswered request; 0
	// means gotd's default.
	RetryInterval time.Duration
	// UploadThreads is how many parts of one file are uploaded at once.
	UploadThreads int
	// Copies keeps the documents' bytes; nil keeps them as files in
	// DocumentsDir.
	Copies Copies
	// Limiter admits message sends; nil is an in-process
	// ratelimit.Limiter with Limits.
	Limiter Limiter
	// Flood shares FLOOD_WAITs with other replicas; nil: none.
	Flood FloodGate
}

// Gateway owns the client. Send and CreateDocument may be called from many
// goroutines; while the client is not ready (starting, or reconnecting after
// a dropped connection) a send whose ctx has a deadline waits for it and is
// sent again with the same random_id, failing with KindUnavailable when the
// deadline passes.
type Gateway struct {
	cfg     Config
	log     *zap.Logger
	store   Store
	copies  Copies
	metrics *metrics.Metrics
	limiter Limiter

	api       atomic.Pointer[tg.Client]
	connected atomic.Bool
	authed    atomic.Bool
	self      atomic.Int64
	username  atomic.Pointer[string]
	readyOnce sync.Once
	readyCh   chan struct{}
	// readiness wakes the calls waiting for a (re)connection.
	readiness readiness

	learner    *learner
	docLocks   keyedMutex
	remembered sync.Map // document IDs whose SentIn was recorded in this run
}

// New returns a Gateway; Run connects it.
func New(cfg Config, st Store, m *metrics.Metrics, log *zap.Logger) *Gateway {
	if cfg.UploadThreads <= 0 {
		cfg.UploadThreads = 4
	}
	copies, limiter := cfg.Copies, cfg.Limiter
	if copies == nil {
		copies = diskCopies{dir: cfg.DocumentsDir}
	}
	if limiter == nil {
		limiter = ratelimit.New(cfg.Limits, m)
	}
	return &Gateway{
		cfg:     cfg,
		log:     log,
		store:   st,
		copies:  copies,
		metrics: m,
		limiter: limiter,
		learner: newLearner(st, log),
		readyCh: make(chan struct{}),
	}
}

// Ready reports whether the client is connected and authorized.
func (g *Gateway) Ready() bool {
	return g.connected.Load() && g.authed.Load() && g.api.Load() != nil
}

// FirstReady is closed the first time the client becomes ready.
func (g *Gateway) FirstReady() <-chan struct{} { return g.readyCh }

// BotID is the bot's user ID once logged in, else 0.
func (g *Gateway) BotID() int64 { return g.self.Load() }

func (g *Gateway) setReady() {
	ready := g.Ready()
	if g.metrics != nil {
		g.metrics.Ready.Set(map[bool]float64{true: 1, false: 0}[ready])
	}
	g.readiness.set(ready)
	if ready {
		g.readyOnce.Do(func() { close(g.readyCh) })
	}
}

// Run connects, logs in once if the session is not authorized, and keeps
// the client running until ctx is done. When the client stops with an
// error (Telegram unreachable at start) it starts again after a pause.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { g.learner.run(ctx, 200*time.Millisecond) })
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 500*time.Millisecond, 30*time.Second, 0
	for {
		started := time.Now()
		err := g.runOnce(ctx)
		if time.Since(started) > time.Minute {
			retry.Reset() // it ran: the next failure is a new one
		}
		g.api.Store(nil)
		g.connected.Store(false)
		g.setReady()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, tgclient.ErrNoBotToken) {
			return err
		}
		pause := retry.NextBackOff()
		g.log.Warn("telegram client stopped, restarting", zap.Error(err), zap.Duration("after", pause))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
	}
}

func (g *Gateway) runOnce(ctx context.Context) error {
	waiter := floodwait.NewSimpleWaiter().WithMaxRetries(g.cfg.FloodMaxRetries).WithMaxWait(g.cfg.FloodMaxWait)
	opts, err := tgclient.ClientOptions(g.cfg.Telegram, tgclient.Options{
		SessionPath:   g.cfg.SessionPath,
		Logger:        g.log.Named("mtproto"),
		NoUpdates:     true,
		RetryInterval: g.cfg.RetryInterval,
		Middlewares: []telegram.Middleware{
			waiter,
			telegram.MiddlewareFunc(g.floodGate),
			telegram.MiddlewareFunc(g.limit),
			telegram.MiddlewareFunc(g.observe),
		},
		OnConnectionState: func(s telegram.ConnectionState) {
			g.connected.Store(s == telegram.ConnectionStateReady)
			g.setReady()
		},
	})
	if err != nil {
		return fmt.Errorf("telegram client: %w", err)
	}
	opts.Logger = newLazyLogger(opts.Logger)
	client := telegram.NewClient(g.cfg.Telegram.AppID, g.cfg.Telegram.AppHash, opts)
	return client.Run(ctx, func(ctx context.Context) error {
		self, err := tgclient.EnsureBotAuth(ctx, client, g.cfg.Telegram.BotToken)
		if err != nil {
			return err
		}
		g.self.Store(self.ID)
		name := self.Username
		g.username.Store(&name)
		g.authed.Store(true)
		g.connected.Store(true)
		g.api.Store(client.API())
		g.setReady()
		g.log.Info("telegram client ready", zap.Int64("bot_id", self.ID), zap.String("bot_username", self.Username))
		<-ctx.Done()
		return ctx.Err()
	})
}

// errNotConnected is the cause of the error sends get while the client is
// not ready.
var errNotConnected = errors.New("telegram client not connected")

// client returns the API or an unavailable error.
func (g *Gateway) client() (*tg.Client, error) {
	api := g.api.Load()
	if api == nil || !g.Ready() {
		return nil, send.Unavailable("the Telegram client is not connected yet", errNotConnected)
	}
	return api, nil
}

// keyedMutex serializes work per key (a document's refresh).
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*sync.Mutex{}
	}
	m := k.locks[key]
	if m == nil {
		m = &sync.Mutex{}
		k.locks[key] = m
	}
	k.mu.Unlock()
	m.Lock()
	return m.Unlock
}
