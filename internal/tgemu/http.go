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

	"github.com/tgbotsvc/tgbot/internal/tgemu/web"
)

// Handler is the control API (JSON over HTTP): it plays the users, sets
// limits and faults, and reports stats. See doc.go for the routes.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	page := web.Handler()
	r.Get("/", page.ServeHTTP)
	r.Get("/assets/*", page.ServeHTTP)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Route("/v1", func(r chi.Router) {
		r.Get("/public-key", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(s.PublicKeyPEM())
		})
		r.Post("/users", endpoint(s, http.StatusCreated, s.httpCreateUser))
		r.Get("/users", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"users": s.Users()})
		})
		r.Post("/bots", endpoint(s, http.StatusCreated, s.httpCreateBot))
		r.Get("/bots", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"bots": s.Bots()})
		})
		r.Post("/users/{id}/messages", endpoint(s, http.StatusCreated, s.httpUserSendMessage))
		r.Get("/users/{id}/messages", endpoint(s, http.StatusOK, s.httpUserMessages))
		r.Patch("/users/{id}/messages/{message_id}", endpoint(s, http.StatusOK, s.httpUserEditMessage))
		r.Post("/users/{id}/callbacks", endpoint(s, http.StatusCreated, s.httpUserPressButton))
		r.Post("/users/{id}/albums", endpoint(s, http.StatusCreated, s.httpUserSendAlbum))
		r.Post("/users/{id}/block", endpoint(s, http.StatusOK, s.httpBlock(true)))
		r.Post("/users/{id}/unblock", endpoint(s, http.StatusOK, s.httpBlock(false)))
		r.Get("/events", s.httpEvents)
		r.Get("/documents/{id}", s.httpDocument)
		r.Get("/groups", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"groups": s.Groups()})
		})
		r.Post("/groups", endpoint(s, http.StatusCreated, s.httpCreateGroup))
		r.Post("/groups/{id}/messages", endpoint(s, http.StatusCreated, s.httpGroupSendMessage))
		r.Get("/groups/{id}/messages", endpoint(s, http.StatusOK, s.httpGroupMessages))
		r.Get("/channels", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"channels": s.Channels()})
		})
		r.Post("/channels", endpoint(s, http.StatusCreated, s.httpCreateChannel))
		r.Post("/channels/{id}/messages", endpoint(s, http.StatusCreated, s.httpChannelSendMessage))
		r.Get("/channels/{id}/messages", endpoint(s, http.StatusOK, s.httpChannelMessages))
		r.Put("/limits", endpoint(s, http.StatusOK, s.httpSetLimits))
		r.Post("/faults", endpoint(s, http.StatusCreated, s.httpInjectFault))
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

// endpoint adapts fn to HTTP: it parses the {id} path parameter (when the
// route has one) and the JSON body into In (unless In is struct{}), calls
// fn and writes its result with status, or the error.
func endpoint[In any](s *Server, status int, fn func(r *http.Request, id int64, in In) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var (
			id  int64
			in  In
			err error
		)
		if chi.URLParam(r, "id") != "" {
			if id, err = pathID(r); err != nil {
				s.writeError(w, err)
				return
			}
		}
		// An empty body is an empty object (POST .../block needs none).
		if _, none := any(in).(struct{}); !none && r.ContentLength != 0 {
			if err := decode(r, &in); err != nil {
				s.writeError(w, err)
				return
			}
		}
		out, err := fn(r, id, in)
		if err != nil {
			s.writeError(w, err)
			return
		}
		writeJSON(w, status, out)
	}
}

type createUserIn struct {
	FirstName string `json:"first_name"`
	Username  string `json:"username"`
	Phone     string `json:"phone"`
	Password  string `json:"password"`
}

type createBotIn struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

func (s *Server) httpCreateBot(_ *http.Request, _ int64, in createBotIn) (any, error) {
	return s.CreateBot(in.ID, in.Username)
}

func (s *Server) httpCreateUser(_ *http.Request, _ int64, in createUserIn) (any, error) {
	if in.Password != "" && in.Phone == "" {
		return nil, fmt.Errorf("%w: a password needs a phone to log in with", ErrInvalid)
	}
	u, err := s.CreateUserWithPhone(in.FirstName, in.Username, in.Phone)
	if err != nil {
		return nil, err
	}
	if in.Password != "" {
		if err := s.SetPassword(u.ID, in.Password); err != nil {
			return nil, err
		}
	}
	s.feed.publish(Event{Type: "accounts"})
	return u, nil
}

type userMessageIn struct {
	Text  string `json:"text"`
	BotID int64  `json:"bot_id"`
}

func (s *Server) httpUserSendMessage(_ *http.Request, id int64, in userMessageIn) (any, error) {
	msgID, err := s.UserSendMessage(id, in.BotID, in.Text)
	if err != nil {
		return nil, err
	}
	return map[string]int{"message_id": msgID}, nil
}

func (s *Server) httpUserMessages(r *http.Request, id int64, _ struct{}) (any, error) {
	botID, err := queryBotID(r)
	if err != nil {
		return nil, err
	}
	msgs, err := s.Messages(id, botID)
	if err != nil {
		return nil, err
	}
	return userMessagesOut{Messages: msgs, ChatAction: s.ChatAction(id, botID)}, nil
}

type callbackIn struct {
	MessageID int    `json:"message_id"`
	Data      string `json:"data"`
	BotID     int64  `json:"bot_id"`
}

func (s *Server) httpUserPressButton(_ *http.Request, id int64, in callbackIn) (any, error) {
	q, err := s.PressButton(id, in.BotID, in.MessageID, []byte(in.Data))
	if err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "callback_query_id": strconv.FormatInt(q, 10)}, nil
}

type blockIn struct {
	BotID int64 `json:"bot_id"`
}

func (s *Server) httpBlock(block bool) func(*http.Request, int64, blockIn) (any, error) {
	return func(r *http.Request, id int64, in blockIn) (any, error) {
		if in.BotID == 0 {
			var err error
			if in.BotID, err = queryBotID(r); err != nil {
				return nil, err
			}
		}
		set := s.Unblock
		if block {
			set = s.Block
		}
		if err := set(id, in.BotID); err != nil {
			return nil, err
		}
		return map[string]bool{"blocked": block}, nil
	}
}

type groupIn struct {
	Title     string  `json:"title"`
	MemberIDs []int64 `json:"member_ids"`
}

func (s *Server) httpCreateGroup(_ *http.Request, _ int64, in groupIn) (any, error) {
	c, err := s.CreateGroup(in.Title, in.MemberIDs)
	if err != nil {
		return nil, err
	}
	s.feed.publish(Event{Type: "accounts"})
	return c, nil
}

type groupMessageIn struct {
	UserID int64  `json:"user_id"`
	Text   string `json:"text"`
}

func (s *Server) httpGroupSendMessage(_ *http.Request, id int64, in groupMessageIn) (any, error) {
	msgID, err := s.UserSendGroupMessage(in.UserID, id, in.Text)
	if err != nil {
		return nil, err
	}
	return map[string]int{"message_id": msgID}, nil
}

func (s *Server) httpGroupMessages(r *http.Request, id int64, _ struct{}) (any, error) {
	botID, err := queryBotID(r)
	if err != nil {
		return nil, err
	}
	msgs, err := s.GroupMessages(id, botID)
	if err != nil {
		return nil, err
	}
	return userMessagesOut{Messages: msgs, ChatAction: s.GroupChatAction(id, botID)}, nil
}

func (s *Server) httpSetLimits(_ *http.Request, _ int64, in Limits) (any, error) {
	if in.GlobalPerSecond < 0 || in.PerChatPerSecond < 0 || in.GroupPerMinute < 0 {
		return nil, fmt.Errorf("%w: limits must not be negative", ErrInvalid)
	}
	s.SetLimits(in)
	return in, nil
}

type faultIn struct {
	Method string `json:"method"`
	Error  string `json:"error"`
	Count  int    `json:"count"`
}

func (s *Server) httpInjectFault(_ *http.Request, _ int64, in faultIn) (any, error) {
	if in.Count == 0 {
		in.Count = 1
	}
	if err := s.InjectFault(in.Method, in.Error, in.Count); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	return in, nil
}
