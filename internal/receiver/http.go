package receiver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/api"

	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// routes is the operations endpoint: health, readiness, metrics and the
// dead-letter admin.
func (s *Service) routes() http.Handler {
	r := chi.NewRouter()
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
	})
	return r
}

func (s *Service) readyz(w http.ResponseWriter, _ *http.Request) {
	storeErr := s.store.Healthy()
	body := map[string]any{
		"ready":           s.Ready(),
		"authorized":      s.authorized.Load(),
		"updates_running": s.ready.Load(),
		"connected":       s.connected.Load(),
		"store_ok":        storeErr == nil,
		"outbox_depth":    s.store.Depth(),
	}
	status := http.StatusOK
	if !s.Ready() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// adminAuth hides the admin endpoints when RECEIVER_ADMIN_TOKEN is unset
// and checks the bearer token (in constant time) otherwise.
func (s *Service) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			writeError(w, errAdminDisabled)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
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
	errUnauthorized  = errors.New("missing or wrong bearer token")
	errBadLimit      = errors.New("limit: want a non-negative integer")
)

// writeError is the one place that maps errors to HTTP statuses. Internal
// errors get a generic message (the details are logged by the caller).
func writeError(w http.ResponseWriter, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	switch {
	case errors.Is(err, errAdminDisabled):
		status, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, outbox.ErrNotFound):
		status, msg = http.StatusNotFound, "dead letter not found"
	case errors.Is(err, errUnauthorized):
		status, msg = http.StatusUnauthorized, err.Error()
	case errors.Is(err, errBadLimit):
		status, msg = http.StatusBadRequest, err.Error()
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
