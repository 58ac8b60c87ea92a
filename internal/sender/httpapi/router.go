// Package httpapi is the sender's REST API: the chi router, strict JSON
// decoding, bearer-token auth, Idempotency-Key handling, the error shape
// (one function maps error kinds to status codes), access logs, metrics, the
// OpenAPI document and an offline Swagger UI. The API is described by
// api/openapi.yaml; a test checks the router against it.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/bearer"
	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Gateway is what the API needs from one bot's Telegram client;
// *gateway.Gateway has it.
type Gateway interface {
	Send(ctx context.Context, req send.Request, randomID int64) (send.Result, error)
	// SendAlbum sends an album, one random ID per item.
	SendAlbum(ctx context.Context, album send.Album, randomIDs []int64) (send.AlbumResult, error)
	// Spool keeps an uploaded file on disk for CreateDocument.
	Spool(r io.Reader, maxSize int64) (*send.Spool, error)
	CreateDocument(ctx context.Context, nd send.NewDocument, sp *send.Spool) (store.Document, error)
	// Document returns send.ErrDocumentNotFound for an unknown ID.
	Document(id string) (store.Document, error)
	// Adopt makes a document created by another bot sendable by this one
	// (uploaded again from its kept copy).
	Adopt(ctx context.Context, doc store.Document) (store.Document, error)
	Ready() bool
	BotID() int64
	Username() string
	// WaitReady waits for Ready until ctx is done (then an unavailable
	// error).
	WaitReady(ctx context.Context) error
	Editor // edit.go
}

// Options are the API's limits and policies.
type Options struct {
	// Tokens are the accepted bearer tokens; empty means no auth (only
	// when the operator allowed it).
	Tokens           []string
	AsyncThreshold   int
	MaxRecipients    int
	MaxJSONBytes     int64
	MaxDocumentBytes int64
	RequestTimeout   time.Duration
	// IdempotencyWait is how long a duplicate of a request still in flight
	// waits for the first one before answering 409.
	IdempotencyWait time.Duration
	OpenAPIYAML     []byte
	// AdminTokens open /admin (empty: /admin answers 404).
	AdminTokens []string
	// Admin is what /admin/bots drives; nil: no bot administration.
	Admin bots.Fleet
}

// API holds the handlers' dependencies.
type API struct {
	opts    Options
	bots    *Bots
	store   IdempotencyStore // idempotency answers, shared by the bots
	metrics *metrics.Metrics
	log     *zap.Logger
	// access writes the access log: without the caller, which would be
	// the same line of observe every time and costs a stack walk each.
	access *zap.Logger

	tokens  bearer.Tokens
	admin   bearer.Tokens
	idem    *idempotency
	openapi openAPIDocs
}

// New builds the router over the bots in set; st keeps the idempotency
// answers.
func New(opts Options, set *Bots, st IdempotencyStore, m *metrics.Metrics, log *zap.Logger) (http.Handler, error) {
	docs, err := newOpenAPIDocs(opts.OpenAPIYAML)
	if err != nil {
		return nil, err
	}
	a := &API{opts: opts, tokens: bearer.New(opts.Tokens...), admin: bearer.New(opts.AdminTokens...), bots: set, store: st, metrics: m, log: log, openapi: docs,
		access: log.WithOptions(zap.WithCaller(false))}
	var owner [8]byte
	_, _ = rand.Read(owner[:])
	a.idem = &idempotency{store: st, owner: hex.EncodeToString(owner[:]), wait: opts.IdempotencyWait,
		inflight: map[string]chan struct{}{}, log: log}

	r := chi.NewRouter()
	r.Use(a.recoverer, a.observe)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { a.fail(w, r, errNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) { a.fail(w, r, errMethodNotAllowed) })

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", a.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	r.Get("/docs", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/docs/", http.StatusMovedPermanently)
	})
	r.Get("/docs/*", a.openapi.swaggerUI)
	r.Get("/api_v1/openapi.json", a.openapi.serveJSON)
	r.Get("/api_v1/openapi.yaml", a.openapi.serveYAML)

	r.Group(func(r chi.Router) {
		r.Use(a.auth)
		r.Get("/api_v1/jobs/{id}", a.getJob)
		r.Get("/api_v1/jobs", a.listJobs)
		r.Get("/api_v1/jobs/{id}/recipients", a.jobRecipients)
		r.Post("/api_v1/jobs/{id}/pause", a.controlJob(func(b *Bot, id string) (store.Job, error) { return b.Runner.Pause(id) }))
		r.Post("/api_v1/jobs/{id}/resume", a.controlJob(func(b *Bot, id string) (store.Job, error) { return b.Runner.Resume(id) }))
		r.Post("/api_v1/jobs/{id}/cancel", a.controlJob(func(b *Bot, id string) (store.Job, error) { return b.Runner.Cancel(id) }))
		r.Get("/api_v1/bots", a.listBots)
		r.Group(func(r chi.Router) {
			r.Use(a.idem.middleware(a, a.jsonContent))
			r.Post("/api_v1/send_message", a.sendMessage)
			r.Post("/api_v1/send_multiple_message", a.sendMultipleMessages)
			r.Post("/api_v1/send_multiple_messages", a.sendMultipleMessages)
			r.Post("/api_v1/send_document", a.sendDocument)
			r.Post("/api_v1/send_multiple_documents", a.sendMultipleDocuments)
			r.Post("/api_v1/send_photo", a.sendPhoto)
			r.Post("/api_v1/send_media_group", a.sendMediaGroup)
			a.editRoutes(r)
		})
		r.With(a.idem.middleware(a, a.documentContent)).Post("/api_v1/create_document", a.createDocument)
	})
	r.Route("/admin", func(r chi.Router) {
		r.Use(a.adminAuth)
		if opts.Admin != nil {
			bots.Routes(r, opts.Admin)
		}
	})
	return r, nil
}

// adminAuth hides /admin when SENDER_ADMIN_TOKEN is unset and checks the
// bearer token (SHA-256, constant time) otherwise.
func (a *API) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.admin.Empty() {
			a.fail(w, r, errNotFound)
			return
		}
		if _, ok := a.admin.Check(r); !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sender admin"`)
			a.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, a.log, err)
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if err := a.bots.Ready(); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

type callerKey struct{}

// auth accepts a request whose bearer token is one of the configured ones,
// comparing SHA-256 digests in constant time (no length or prefix leaks).
// The caller's digest scopes its Idempotency-Keys.
func (a *API) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(trustedKey{}).(string); ok {
			// An in-process request (NATS ingress): authenticated by NATS.
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
			return
		}
		if a.tokens.Empty() {
			next.ServeHTTP(w, r)
			return
		}
		sum, ok := a.tokens.Check(r)
		if !ok {
			a.fail(w, r, errUnauthorized)
			return
		}
		ctx := context.WithValue(r.Context(), callerKey{}, hex.EncodeToString(sum[:8]))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type trustedKey struct{}

// Trusted marks an in-process request (one served from another transport
// that authenticated its caller, such as NATS) as made by caller: it skips
// the bearer check, and caller scopes its Idempotency-Keys. A request from
// the network cannot carry it.
func Trusted(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, trustedKey{}, caller)
}

func caller(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(string)
	return c
}

// recoverer turns a panic (a bug) into a logged 500 with the error shape.
func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("panic serving request", zap.String("path", r.URL.Path),
					zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
				a.fail(w, r, send.Internal(fmt.Errorf("panic: %v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// observe writes the access log line and the HTTP metrics. It logs the
// route, never headers (Authorization stays out of logs).
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		a.metrics.ObserveHTTP(route, status, d.Seconds())
		if route == "/metrics" || route == "/healthz" || route == "/readyz" {
			return
		}
		a.access.Info("http request",
			zap.String("method", r.Method), zap.String("route", route), zap.String("path", r.URL.Path),
			zap.Int("status", status), zap.Int("bytes", ww.BytesWritten()), zap.Duration("duration", d),
			zap.String("remote", r.RemoteAddr), zap.Int64("content_length", r.ContentLength))
	})
}
