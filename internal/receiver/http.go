package receiver

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/api"

	"github.com/tgbotsvc/tgbot/internal/bearer"
	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/httperror"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// routes is the operations endpoint: health, readiness, metrics and the
// dead-letter admin.
func (s *Service) routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(httperror.NotFound)
	r.MethodNotAllowed(httperror.MethodNotAllowed)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.readyz)
	r.Handle("/metrics", promhttp.HandlerFor(s.m.Registry, promhttp.HandlerOpts{Registry: s.m.Registry}))
	r.Get("/events.schema.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/schema+json")
		_, _ = w.Write(api.EventsSchema)
	})
	r.Route("/admin", func(r chi.Router) {
		r.Use(s.adminAuth)
		r.Get("/dead-letters", s.listDead)
		r.Post("/dead-letters/replay", s.replay)
		r.Post("/dead-letters/{id}/replay", s.replay)
		bots.Routes(r, s)
	})
	return r
}

func (s *Service) readyz(w http.ResponseWriter, _ *http.Request) {
	storeErr := s.store.Healthy()
	bs := s.list()
	all := func(f func(*bot) bool) bool { return allBots(bs, f) }
	ready := storeErr == nil && all((*bot).isReady)
	infos := make([]map[string]any, 0, len(bs))
	for _, b := range bs {
		in := b.info()
		info := map[string]any{"id": in.ID, "username": in.Username, "status": in.Status,
			"error": in.Error, "connected": b.connected.Load(), "role": b.role()}
		if s.nats != nil {
			info["lease_holder"] = b.leaseHolder()
			if lag, ok := b.streamLag(); ok {
				info["stream_lag"] = lag
			}
		}
		infos = append(infos, info)
	}
	body := map[string]any{
		"ready":           ready,
		"authorized":      all(func(b *bot) bool { return b.authorized.Load() }),
		"updates_running": all(func(b *bot) bool { return b.ready.Load() }),
		"connected":       all(func(b *bot) bool { return b.connected.Load() }),
		"store_ok":        storeErr == nil,
		"outbox_depth":    s.store.Depth(),
		"bots":            infos,
	}
	if s.nats != nil {
		body["replica"] = s.nats.leases.Replica()
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// adminAuth hides the admin endpoints when RECEIVER_ADMIN_TOKEN is unset
// and checks the bearer token (SHA-256, constant time) otherwise.
func (s *Service) adminAuth(next http.Handler) http.Handler {
	tokens := bearer.New(s.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tokens.Empty() {
			writeError(w, errAdminDisabled)
			return
		}
		if _, ok := tokens.Check(r); !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="receiver admin"`)
			writeError(w, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Service) listDead(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, errBadLimit)
			return
		}
		limit = n
	}
	recs, err := s.store.DeadLetters(limit)
	if err != nil {
		s.log.Error("list dead letters", zap.Error(err))
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": recs, "count": len(recs)})
}

func (s *Service) replay(w http.ResponseWriter, r *http.Request) {
	var ids []string
	if raw := chi.URLParam(r, "id"); raw != "" {
		id, err := url.PathUnescape(raw)
		if err != nil {
			writeError(w, outbox.ErrNotFound)
			return
		}
		ids = append(ids, id)
	}
	recs, err := s.store.Replay(ids...)
	if err != nil {
		if !errors.Is(err, outbox.ErrNotFound) {
			s.log.Error("replay dead letters", zap.Error(err))
		}
		writeError(w, err)
		return
	}
	s.disp.Push(recs)
	out := make([]string, 0, len(recs))
	for _, rec := range recs {
		out = append(out, rec.Event.ID)
	}
	s.log.Info("dead letters replayed", zap.Strings("event_ids", out))
	writeJSON(w, http.StatusOK, map[string]any{"replayed": out, "count": len(out)})
}

var (
	errAdminDisabled = errors.New("not found")
	errUnauthorized  = errors.New("missing or invalid bearer token (Authorization: Bearer <token>)")
	errBadLimit      = errors.New("limit: want a non-negative integer")
)

// writeError is the one place that maps errors to HTTP statuses and error
// codes. Internal errors get a generic message (the details are logged by
// the caller).
func writeError(w http.ResponseWriter, err error) {
	status, d := http.StatusInternalServerError, httperror.Detail{Code: "internal", Message: "internal error"}
	switch {
	case errors.Is(err, errAdminDisabled):
		status, d = http.StatusNotFound, httperror.Detail{Code: "not_found", Message: "no such route"}
	case errors.Is(err, outbox.ErrNotFound):
		status, d = http.StatusNotFound, httperror.Detail{Code: "dead_letter_not_found", Message: "dead letter not found"}
	case errors.Is(err, errUnauthorized):
		status, d = http.StatusUnauthorized, httperror.Detail{Code: "unauthorized", Message: err.Error()}
	case errors.Is(err, errBadLimit):
		status, d = http.StatusBadRequest, httperror.Detail{Code: "invalid_argument", Message: err.Error(), Field: "limit"}
	}
	httperror.Write(w, status, d)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httperror.WriteJSON(w, status, v) }
