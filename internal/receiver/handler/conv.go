package handler

import (
	"context"
	"sync"
	"time"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Conversation is a handler waiting for a user's answer, as kept in a
// ConvStore: enough for any replica to continue it. The handler is run
// again from the start with the update that started it; its first
// len(Answers) questions get those answers without being sent again (and
// nothing it replies or emits meanwhile is sent twice), the next one gets
// the new message. A handler must therefore ask the same questions for the
// same answers (no randomness, no clock) up to its last question.
type Conversation struct {
	// Start is the update that started the handler.
	Start event.Event `json:"start"`
	// Answers are the messages that answered its questions so far.
	Answers []event.Event `json:"answers,omitempty"`
	// Sender is the user whose answer it waits for.
	Sender int64 `json:"sender"`
	// Asked is when the question waiting for an answer was sent.
	Asked time.Time `json:"asked"`
}

// ConvStore keeps the conversations of one bot by chat ID: in memory in
// single-process mode, in NATS KV bucket tg_conv with NATS_URL, so that a
// replica taking a bot over continues a conversation half-way.
type ConvStore interface {
	// Load returns the chat's conversation, nil when none waits.
	Load(ctx context.Context, chat int64) (*Conversation, error)
	// Save stores the chat's conversation.
	Save(ctx context.Context, chat int64, c *Conversation) error
	// Delete forgets the chat's conversation (none is not an error).
	Delete(ctx context.Context, chat int64) error
}

// MemoryConvStore is a ConvStore in the process's memory.
type MemoryConvStore struct {
	mu sync.Mutex
	m  map[int64]Conversation
}

// NewMemoryConvStore returns an empty MemoryConvStore.
func NewMemoryConvStore() *MemoryConvStore { return &MemoryConvStore{m: map[int64]Conversation{}} }

// Load implements ConvStore.
func (s *MemoryConvStore) Load(_ context.Context, chat int64) (*Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[chat]
	if !ok {
		return nil, nil
	}
	c.Answers = append([]event.Event(nil), c.Answers...)
	return &c, nil
}

// Save implements ConvStore.
func (s *MemoryConvStore) Save(_ context.Context, chat int64, c *Conversation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc := *c
	cc.Answers = append([]event.Event(nil), c.Answers...)
	s.m[chat] = cc
	return nil
}

// Delete implements ConvStore.
func (s *MemoryConvStore) Delete(_ context.Context, chat int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, chat)
	return nil
}
