package tgemu

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Event is a change in the emulator, for pages that follow it live
// (GET /v1/events, server-sent events): which bot chat has a new, edited,
// deleted or pinned message or a chat action, a bot's answer to a button
// press, new accounts or groups. Message IDs are the bot's (as
// GET /v1/users/{id}/messages shows them).
type Event struct {
	// Type is "message", "edit", "delete", "pin", "chat_action",
	// "callback_answer" or "accounts".
	Type  string `json:"type"`
	BotID int64  `json:"bot_id,omitempty"`
	// UserID is the user of a private chat, or who pressed the button
	// (callback_answer).
	UserID int64 `json:"user_id,omitempty"`
	// ChatID is the group of a group chat.
	ChatID int64 `json:"chat_id,omitempty"`
	// ChannelID is the channel or supergroup of a channel chat.
	ChannelID int64 `json:"channel_id,omitempty"`
	// FromID is who sent a new message (message).
	FromID int64 `json:"from_id,omitempty"`
	// MsgID is the message edited, pinned or unpinned, or whose button was
	// pressed.
	MsgID int `json:"msg_id,omitempty"`
	// MsgIDs are the deleted messages (delete).
	MsgIDs []int `json:"msg_ids,omitempty"`
	// Pinned is false when the message was unpinned (pin).
	Pinned bool `json:"pinned,omitempty"`
	// Action is the bot's chat action: "typing", "upload_photo", ...,
	// "cancel" (chat_action).
	Action string `json:"action,omitempty"`
	// Message, Alert and URL are the bot's callback answer.
	Message string `json:"message,omitempty"`
	Alert   bool   `json:"alert,omitempty"`
	URL     string `json:"url,omitempty"`
}

// feedBuffer is how many events a slow subscriber may lag behind before
// further ones are dropped for it (a page then reloads what it shows).
const feedBuffer = 256

// feed fans events out to subscribers without ever blocking the publisher.
// The zero value is ready to use.
type feed struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

func (f *feed) subscribe() (<-chan Event, func()) {
	ch := make(chan Event, feedBuffer)
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[chan Event]struct{}{}
	}
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}
}

func (f *feed) publish(e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribe returns the emulator's events from now on and a function that
// ends the subscription. Events are dropped for a subscriber that falls
// 256 behind.
func (s *Server) Subscribe() (<-chan Event, func()) { return s.feed.subscribe() }

// publishMessageLocked announces a new message from "from" to peer to
// every bot that got a copy (the sender or a recipient).
func (s *Server) publishMessageLocked(from *account, peer peerKey, recipients []*account) {
	e := Event{Type: "message", FromID: from.ID}
	s.publishToBotLocked(from, peer, e)
	for _, bot := range recipients {
		theirs := peer
		if peer.user() {
			theirs = peerKey{ID: from.ID}
		}
		s.publishToBotLocked(bot, theirs, e)
	}
}

// publishToBotLocked announces e about acc's dialog with peer when acc is
// a bot: the page shows bots' chats only.
func (s *Server) publishToBotLocked(acc *account, peer peerKey, e Event) {
	if !acc.Bot {
		return
	}
	e.BotID = acc.ID
	switch {
	case peer.Channel:
		e.ChannelID = peer.ID
	case peer.Chat:
		e.ChatID = peer.ID
	default:
		e.UserID = peer.ID
	}
	s.feed.publish(e)
}

// Groups lists every group by ID.
func (s *Server) Groups() []Chat {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Chat, 0, len(s.st.Chats))
	for _, c := range s.st.Chats {
		out = append(out, Chat{ID: c.ID, Title: c.Title, Members: append([]int64(nil), c.Members...)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Document returns a stored document and its bytes.
func (s *Server) Document(id int64) (DocumentInfo, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.st.Documents[id]
	if d == nil {
		return DocumentInfo{}, nil, fmt.Errorf("%w: document %d", ErrNotFound, id)
	}
	if d.data == nil {
		d.data = s.loadDocument(d)
		if d.data == nil {
			return DocumentInfo{}, nil, fmt.Errorf("%w: the bytes of document %d", ErrNotFound, id)
		}
	}
	return DocumentInfo{ID: d.ID, Name: d.Name, Size: d.Size, MimeType: d.MimeType, SHA256: d.SHA256}, d.data, nil
}

// httpDocument serves a document's bytes as an attachment.
func (s *Server) httpDocument(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	info, data, err := s.Document(id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", info.MimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": info.Name}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(data)
}

// sseHeartbeat keeps idle event streams (and proxies) from timing out.
const sseHeartbeat = 15 * time.Second

// httpEvents streams Subscribe as server-sent events ("event: <type>",
// "data: <json>") until the client leaves or the server closes.
func (s *Server) httpEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The stream outlives the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	events, cancel := s.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	var closed <-chan struct{}
	if s.ctx != nil {
		closed = s.ctx.Done()
	}
	tick := time.NewTicker(sseHeartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-closed:
			return
		case <-tick.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		case e := <-events:
			data, _ := json.Marshal(e) // plain struct: never fails
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, data)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}
