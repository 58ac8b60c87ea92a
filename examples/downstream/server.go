package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/examples/downstream/webhook"
)

// maxBody bounds an event body; the receiver's events are a few KiB.
const maxBody = 1 << 20

// Event is the part of the receiver's event this service reads.
type Event struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	BotID int64  `json:"bot_id"`
	Chat  *struct {
		ID int64 `json:"id"`
	} `json:"chat,omitempty"`
	From *struct {
		ID    int64 `json:"id"`
		IsBot bool  `json:"is_bot"`
	} `json:"from,omitempty"`
	Message *struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	} `json:"message,omitempty"`
	Data *struct {
		Name   string `json:"name"`
		ChatID int64  `json:"chat_id"`
	} `json:"data,omitempty"`
}

// chatID is the chat the event is about, or 0.
func (e Event) chatID() int64 {
	switch {
	case e.Chat != nil:
		return e.Chat.ID
	case e.Data != nil:
		return e.Data.ChatID
	}
	return 0
}

// User is a user created by a "user.create" event.
type User struct {
	Name      string    `json:"name"`
	ChatID    int64     `json:"chat_id"`
	CreatedAt time.Time `json:"created_at"`
}

// SeenEvent is one accepted delivery, for GET /state.
type SeenEvent struct {
	WebhookID string `json:"webhook_id"`
	Type      string `json:"type"`
	ChatID    int64  `json:"chat_id,omitempty"`
	Text      string `json:"text,omitempty"`
}

// Reply is a message this service sent back through the sender.
type Reply struct {
	ChatID    int64  `json:"chat_id"`
	Text      string `json:"text"`
	MessageID int    `json:"message_id"`
}

// State is what GET /state returns.
type State struct {
	Users      []User      `json:"users"`
	Events     []SeenEvent `json:"events"`
	Replies    []Reply     `json:"replies"`
	Duplicates int         `json:"duplicates"`
	Rejected   int         `json:"rejected"`
	// Failed counts the deliveries answered with an error on purpose
	// (POST /faults).
	Failed int `json:"failed"`
}

// Replier sends a text to a chat; *SenderClient is the real one.
type Replier interface {
	SendMessage(ctx context.Context, chatID int64, text, idempotencyKey string) (messageID int, err error)
}

// conversationCommand opens a conversation in a chat that the receiver's
// handler runs: the chat's next plain messages are answers to it, not texts to
// echo. The conversation ends with the "user.create" event of that chat, or
// after conversationTimeout (the user gave up).
const (
	conversationCommand = "/familiarize"
	conversationTimeout = 5 * time.Minute
)

// Server is the downstream service: it verifies, deduplicates and handles the
// receiver's webhook events.
type Server struct {
	secret    string
	tolerance time.Duration
	replier   Replier // nil: never answer
	faultsAPI bool    // serve POST /faults
	log       *zap.Logger
	now       func() time.Time

	mu            sync.Mutex
	done          map[string]bool     // webhook-id -> handled (false: in flight)
	conversations map[int64]time.Time // chat -> when its conversation started
	fault         Fault               // what the next events answer (POST /faults)
	state         State
}

// NewServer returns a Server verifying events with secret.
func NewServer(secret string, tolerance time.Duration, replier Replier, log *zap.Logger) *Server {
	return &Server{
		secret:        secret,
		tolerance:     tolerance,
		replier:       replier,
		log:           log,
		now:           time.Now,
		done:          map[string]bool{},
		conversations: map[int64]time.Time{},
		state:         State{Users: []User{}, Events: []SeenEvent{}, Replies: []Reply{}},
	}
}

// EnableFaults serves POST /faults, which makes the next events fail on
// purpose (to see the receiver's retries and dead letters).
func (s *Server) EnableFaults() { s.faultsAPI = true }

// Handler routes POST /events (and POST /), GET /state, GET /healthz and,
// after EnableFaults, POST /faults.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Post("/events", s.handleEvent)
	r.Post("/", s.handleEvent)
	r.Get("/state", s.handleState)
	if s.faultsAPI {
		r.Post("/faults", s.handleFaults)
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return r
}

// State returns a copy of the current state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Users = append([]User{}, st.Users...)
	st.Events = append([]SeenEvent{}, st.Events...)
	st.Replies = append([]Reply{}, st.Replies...)
	return st
}

func (s *Server) handleState(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.State())
}

// handleEvent answers 401 to a bad signature, 200 to a duplicate, 400 to an
// unreadable event (the receiver dead-letters it), 503 when the reply could
// not be sent (the receiver retries; the same webhook-id comes again), and the
// fault's status while POST /faults has set one.
func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	id, err := webhook.Verify(s.secret, r.Header, body, s.now(), s.tolerance)
	if err != nil {
		s.mu.Lock()
		s.state.Rejected++
		s.mu.Unlock()
		s.log.Warn("rejected event", zap.Error(err), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusUnauthorized, "invalid signature")
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		writeError(w, http.StatusBadRequest, "event is not JSON")
		return
	}
	if status := s.takeFault(ev); status != 0 {
		s.log.Warn("failing the event on purpose (POST /faults)", zap.String("webhook_id", id), zap.Int("status", status))
		writeError(w, status, "failing on purpose (POST /faults)")
		return
	}
	if status, dup := s.claim(id); dup {
		writeJSON(w, status, map[string]any{"duplicate": true})
		return
	}
	if err := s.process(r.Context(), id, ev); err != nil {
		s.release(id)
		s.log.Error("handle event", zap.String("webhook_id", id), zap.String("type", ev.Type), zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "could not handle the event, retry later")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// claim marks id as in flight. dup is true when id was handled already
// (status 200) or is being handled right now (409: the receiver retries).
func (s *Server) claim(id string) (status int, dup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	handled, seen := s.done[id]
	switch {
	case seen && handled:
		s.state.Duplicates++
		return http.StatusOK, true
	case seen:
		return http.StatusConflict, true
	}
	s.done[id] = false
	return 0, false
}

func (s *Server) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.done, id)
}

// process handles one new event and records it.
func (s *Server) process(ctx context.Context, id string, ev Event) error {
	log := s.log.With(zap.String("webhook_id", id), zap.String("type", ev.Type), zap.Int64("chat_id", ev.chatID()))
	seen := SeenEvent{WebhookID: id, Type: ev.Type, ChatID: ev.chatID()}
	var reply *Reply
	switch ev.Type {
	case "user.create":
		if ev.Data == nil || ev.Data.Name == "" {
			log.Warn("user.create without a name")
			break
		}
		s.mu.Lock()
		s.state.Users = append(s.state.Users, User{Name: ev.Data.Name, ChatID: ev.Data.ChatID, CreatedAt: s.now().UTC()})
		delete(s.conversations, ev.Data.ChatID)
		s.mu.Unlock()
		log.Info("user created", zap.String("name", ev.Data.Name))
	case "message":
		if ev.Message == nil {
			break
		}
		seen.Text = ev.Message.Text
		if s.shouldAnswer(ev) {
			text := "You said: " + ev.Message.Text
			msgID, err := s.replier.SendMessage(ctx, ev.Chat.ID, text, "reply-"+id)
			if err != nil {
				return err
			}
			reply = &Reply{ChatID: ev.Chat.ID, Text: text, MessageID: msgID}
			log.Info("answered", zap.Int("message_id", msgID))
		} else {
			log.Info("message seen")
		}
	default:
		log.Info("event seen")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done[id] = true
	s.state.Events = append(s.state.Events, seen)
	if reply != nil {
		s.state.Replies = append(s.state.Replies, *reply)
	}
	return nil
}

// shouldAnswer is true for a plain text from a person that is not a command
// and not an answer inside a conversation; a conversation command starts one.
// Messages of bots (the bot's own included) are never answered: two echoing
// bots would loop.
func (s *Server) shouldAnswer(ev Event) bool {
	text := strings.TrimSpace(ev.Message.Text)
	if ev.Chat == nil || text == "" || ev.From == nil || ev.From.IsBot || ev.From.ID == ev.BotID {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(strings.Fields(text)[0], "@")
		if cmd == conversationCommand {
			s.conversations[ev.Chat.ID] = s.now()
		}
		return false
	}
	if started, ok := s.conversations[ev.Chat.ID]; ok {
		if s.now().Sub(started) < conversationTimeout {
			return false
		}
		delete(s.conversations, ev.Chat.ID)
	}
	return s.replier != nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
