package tgemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
)

// Handler is the control API (JSON over HTTP): it plays the users, sets
// limits and faults, and reports stats. See doc.go for the routes.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Route("/v1", func(r chi.Router) {
		r.Get("/public-key", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(s.PublicKeyPEM())
		})
		r.Post("/users", s.httpCreateUser)
		r.Get("/users", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"users": s.Users()})
		})
		r.Post("/users/{id}/messages", s.httpUserSendMessage)
		r.Get("/users/{id}/messages", s.httpUserMessages)
		r.Post("/users/{id}/callbacks", s.httpUserPressButton)
		r.Post("/users/{id}/block", s.httpBlock(true))
		r.Post("/users/{id}/unblock", s.httpBlock(false))
		r.Post("/groups", s.httpCreateGroup)
		r.Post("/groups/{id}/messages", s.httpGroupSendMessage)
		r.Get("/groups/{id}/messages", s.httpGroupMessages)
		r.Put("/limits", s.httpSetLimits)
		r.Post("/faults", s.httpInjectFault)
		r.Post("/disconnect", func(w http.ResponseWriter, _ *http.Request) {
			s.DisconnectAll()
			writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		})
		r.Get("/stats", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, s.Stats())
		})
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{"no such route"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method not allowed"})
	})
	return r
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError is the one place that maps errors to HTTP status.
func (s *Server) writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	default:
		s.log.Error("control api", zap.Error(err))
	}
	writeJSON(w, status, errorBody{err.Error()})
}

// decode reads a JSON body into v, rejecting unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %s", ErrInvalid, err.Error())
	}
	return nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: id must be a positive integer", ErrInvalid)
	}
	return id, nil
}

func queryBotID(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("bot_id")
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("%w: bot_id must be an integer", ErrInvalid)
	}
	return id, nil
}

func (s *Server) httpCreateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		FirstName string `json:"first_name"`
		Username  string `json:"username"`
		Phone     string `json:"phone"`
		Password  string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	if in.Password != "" && in.Phone == "" {
		s.writeError(w, fmt.Errorf("%w: a password needs a phone to log in with", ErrInvalid))
		return
	}
	u, err := s.CreateUserWithPhone(in.FirstName, in.Username, in.Phone)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if in.Password != "" {
		if err := s.SetPassword(u.ID, in.Password); err != nil {
			s.writeError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *Server) httpUserSendMessage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var in struct {
		Text  string `json:"text"`
		BotID int64  `json:"bot_id"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	msgID, err := s.UserSendMessage(id, in.BotID, in.Text)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int{"message_id": msgID})
}

func (s *Server) httpUserMessages(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	botID, err := queryBotID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	msgs, err := s.Messages(id, botID)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Message{"messages": msgs})
}

func (s *Server) httpUserPressButton(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var in struct {
		MessageID int    `json:"message_id"`
		Data      string `json:"data"`
		BotID     int64  `json:"bot_id"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	if err := s.UserPressButton(id, in.BotID, in.MessageID, []byte(in.Data)); err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]bool{"ok": true})
}

func (s *Server) httpBlock(block bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			s.writeError(w, err)
			return
		}
		var in struct {
			BotID int64 `json:"bot_id"`
		}
		if r.ContentLength != 0 {
			if err := decode(r, &in); err != nil {
				s.writeError(w, err)
				return
			}
		}
		if in.BotID == 0 {
			if in.BotID, err = queryBotID(r); err != nil {
				s.writeError(w, err)
				return
			}
		}
		if block {
			err = s.Block(id, in.BotID)
		} else {
			err = s.Unblock(id, in.BotID)
		}
		if err != nil {
			s.writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"blocked": block})
	}
}

func (s *Server) httpCreateGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title     string  `json:"title"`
		MemberIDs []int64 `json:"member_ids"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	c, err := s.CreateGroup(in.Title, in.MemberIDs)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) httpGroupSendMessage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var in struct {
		UserID int64  `json:"user_id"`
		Text   string `json:"text"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	msgID, err := s.UserSendGroupMessage(in.UserID, id, in.Text)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int{"message_id": msgID})
}

func (s *Server) httpGroupMessages(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	botID, err := queryBotID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	msgs, err := s.GroupMessages(id, botID)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Message{"messages": msgs})
}

func (s *Server) httpSetLimits(w http.ResponseWriter, r *http.Request) {
	var in Limits
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	if in.GlobalPerSecond < 0 || in.PerChatPerSecond < 0 || in.GroupPerMinute < 0 {
		s.writeError(w, fmt.Errorf("%w: limits must not be negative", ErrInvalid))
		return
	}
	s.SetLimits(in)
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) httpInjectFault(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Method string `json:"method"`
		Error  string `json:"error"`
		Count  int    `json:"count"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	if in.Count == 0 {
		in.Count = 1
	}
	if err := s.InjectFault(in.Method, in.Error, in.Count); err != nil {
		s.writeError(w, fmt.Errorf("%w: %s", ErrInvalid, err.Error()))
		return
	}
	writeJSON(w, http.StatusCreated, in)
}
