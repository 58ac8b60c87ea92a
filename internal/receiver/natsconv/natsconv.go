// Package natsconv keeps the receiver's conversations (handlers waiting for
// a user's answer, handler.Conversation) in NATS KV bucket tg_conv, key
// "<bot_id>.<chat_id>", so that the replica that takes a bot over continues
// a conversation its previous holder started. Entries expire after the
// conversation timeout (the bucket's TTL).
package natsconv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
)

// Bucket is the KV bucket of the conversations.
const Bucket = "tg_conv"

// Open creates or opens the bucket; entries live ttl (the conversation
// timeout).
func Open(ctx context.Context, conn *natsx.Conn, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := conn.KV(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "receiver: conversations waiting for an answer, by bot and chat",
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// Store is the handler.ConvStore of one bot.
type Store struct {
	kv  jetstream.KeyValue
	bot int64
}

// For returns the conversations of bot in kv.
func For(kv jetstream.KeyValue, bot int64) *Store { return &Store{kv: kv, bot: bot} }

var _ handler.ConvStore = (*Store)(nil)

func (s *Store) key(chat int64) string {
	return strconv.FormatInt(s.bot, 10) + "." + strconv.FormatInt(chat, 10)
}

// Load implements handler.ConvStore.
func (s *Store) Load(ctx context.Context, chat int64) (*handler.Conversation, error) {
	e, err := s.kv.Get(ctx, s.key(chat))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c handler.Conversation
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return nil, fmt.Errorf("conversation %s: %w", e.Key(), err)
	}
	return &c, nil
}

// Save implements handler.ConvStore.
func (s *Store) Save(ctx context.Context, chat int64, c *handler.Conversation) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, s.key(chat), data)
	return err
}

// Delete implements handler.ConvStore.
func (s *Store) Delete(ctx context.Context, chat int64) error {
	err := s.kv.Delete(ctx, s.key(chat))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}
