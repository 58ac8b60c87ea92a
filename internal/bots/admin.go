package bots

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tgbotsvc/tgbot/internal/httperror"
)

// Status of a bot in a service.
type Status string

// Bot statuses.
const (
	StatusStarting Status = "starting"
	StatusReady    Status = "ready"
	StatusError    Status = "error"
)

// Info describes one bot of a service. It never holds the token.
type Info struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Status   Status `json:"status"`
	// Error is why the bot is in StatusError.
	Error string `json:"error,omitempty"`
}

// Fleet is a service's set of bots, as the admin routes drive it.
type Fleet interface {
	// Bots lists the bots by ID.
	Bots() []Info
	// AddBot logs the bot of t in and keeps it (persisted, see Save). It
	// returns created=false, and changes nothing, when the bot is already
	// there. A login refused by Telegram is a *LoginError.
	AddBot(ctx context.Context, t Token) (info Info, created bool, err error)
	// RemoveBot stops bot id and forgets it (ErrUnknownBot when absent).
	RemoveBot(ctx context.Context, id int64) error
}

// ErrUnknownBot is returned for a bot ID the service does not have.
var ErrUnknownBot = errors.New("no such bot")

// LoginError is a login Telegram refused; Code is Telegram's error
// (ACCESS_TOKEN_INVALID, ...).
type LoginError struct {
	Code string
	Err  error
}

func (e *LoginError) Error() string { return "telegram refused the login: " + e.Code }
func (e *LoginError) Unwrap() error { return e.Err }

// AddTimeout bounds a PUT /admin/bots/{bot_id}: the login must finish
// within it.
const AddTimeout = 30 * time.Second

// Routes mounts GET /bots, PUT /bots/{bot_id} and DELETE /bots/{bot_id} on
// r (the caller's /admin router, authentication already applied).
func Routes(r chi.Router, f Fleet) {
	r.Get("/bots", func(w http.ResponseWriter, _ *http.Request) {
		httperror.WriteJSON(w, http.StatusOK, map[string]any{"bots": f.Bots()})
	})
	r.Put("/bots/{bot_id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		var in struct {
			Token string `json:"token"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			httperror.Write(w, http.StatusBadRequest, httperror.Detail{Code: "invalid_json", Message: `want {"token":"<bot_id>:<secret>"}`})
			return
		}
		t, err := ParseToken(in.Token)
		if err != nil {
			httperror.Write(w, http.StatusBadRequest, httperror.Detail{Code: "invalid_argument", Field: "token", Message: "token: " + err.Error()})
			return
		}
		if t.ID() != id {
			httperror.Write(w, http.StatusBadRequest, httperror.Detail{Code: "invalid_argument", Field: "token",
				Message: "token: belongs to bot " + strconv.FormatInt(t.ID(), 10) + ", not to bot " + strconv.FormatInt(id, 10) + " named in the path"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), AddTimeout)
		defer cancel()
		info, created, err := f.AddBot(ctx, t)
		var le *LoginError
		switch {
		case errors.As(err, &le):
			httperror.Write(w, http.StatusBadRequest, telegramDetail{Code: "telegram_refused", Field: "token",
				Message: le.Error(), TelegramError: le.Code})
		case err != nil:
			httperror.Write(w, http.StatusServiceUnavailable, httperror.Detail{Code: "login_failed", Message: "bot login did not finish: " + err.Error()})
		case created:
			httperror.WriteJSON(w, http.StatusCreated, info)
		default:
			httperror.WriteJSON(w, http.StatusOK, info)
		}
	})
	r.Delete("/bots/{bot_id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		switch err := f.RemoveBot(r.Context(), id); {
		case errors.Is(err, ErrUnknownBot):
			httperror.Write(w, http.StatusNotFound, httperror.Detail{Code: "bot_not_found", Message: "no bot " + strconv.FormatInt(id, 10) + " here"})
		case err != nil:
			httperror.Write(w, http.StatusInternalServerError, httperror.Detail{Code: "internal", Message: "removing the bot failed: " + err.Error()})
		default:
			httperror.WriteJSON(w, http.StatusOK, map[string]any{"removed": id})
		}
	})
}

// telegramDetail is an error body that carries Telegram's own error code.
type telegramDetail struct {
	Code          string `json:"code"`
	Message       string `json:"message"`
	Field         string `json:"field,omitempty"`
	TelegramError string `json:"telegram_error"`
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "bot_id"), 10, 64)
	if err != nil || id <= 0 {
		httperror.Write(w, http.StatusBadRequest, httperror.Detail{Code: "invalid_argument", Field: "bot_id", Message: "bot_id: want a positive integer"})
		return 0, false
	}
	return id, true
}
