package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/storage"
)

// The per-bot index (bucketByBot) lets delivery read one bot's queue in
// order without reading the others': a bot whose downstream keeps failing
// then holds its own share of memory, never the whole of it.

func botKey(bot int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(bot))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// putIDs records a queued record's ID and its place in its bot's queue.
func putIDs(ids, byBot *bolt.Bucket, r Record) error {
	if err := ids.Put([]byte(r.Event.ID), idValue(r.Seq, r.Enqueued, r.Event.BotID)); err != nil {
		return fmt.Errorf("put event id: %w", err)
	}
	if err := byBot.Put(botKey(r.Event.BotID, r.Seq), nil); err != nil {
		return fmt.Errorf("put event index: %w", err)
	}
	return nil
}

// indexByBot builds the per-bot index of an outbox written before it
// existed (its queued records have no entry). It runs once: afterwards
// every commit keeps the index.
func indexByBot(db *storage.DB, log *zap.Logger) error {
	var events, indexed int
	err := db.View(func(tx *bolt.Tx) error {
		events = tx.Bucket([]byte(bucketEvents)).Stats().KeyN
		indexed = tx.Bucket([]byte(bucketByBot)).Stats().KeyN
		return nil
	})
	if err != nil || events == indexed {
		return err
	}
	log.Info("indexing queued events by bot", zap.Int("events", events))
	return db.Update(func(tx *bolt.Tx) error {
		ids, byBot := tx.Bucket([]byte(bucketIDs)), tx.Bucket([]byte(bucketByBot))
		return tx.Bucket([]byte(bucketEvents)).ForEach(func(k, _ []byte) error {
			var r Record
			if err := storage.Get(tx, bucketEvents, k, &r); err != nil {
				return err
			}
			r.Seq = storage.KeyUint64(k)
			return putIDs(ids, byBot, r)
		})
	})
}

// PageBot returns at most n queued events of one bot with a sequence
// number above after, in sequence order.
func (s *Store) PageBot(bot int64, after uint64, n int) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketByBot)).Cursor()
		prefix := botKey(bot, 0)[:8]
		for k, _ := c.Seek(botKey(bot, after+1)); k != nil && len(out) < n; k, _ = c.Next() {
			if string(k[:8]) != string(prefix) {
				break
			}
			var r Record
			err := storage.Get(tx, bucketEvents, k[8:], &r)
			if errors.Is(err, storage.ErrNotFound) {
				continue // an index entry left by an older build: nothing queued
			}
			if err != nil {
				return fmt.Errorf("event %d of bot %d: %w", storage.KeyUint64(k[8:]), bot, err)
			}
			r.Seq = storage.KeyUint64(k[8:])
			out = append(out, r)
		}
		return nil
	})
	s.db.Trim()
	if err != nil {
		return nil, fmt.Errorf("list pending: %w", err)
	}
	return out, nil
}

// Bots lists the bots with queued events, in ID order.
func (s *Store) Bots() ([]int64, error) {
	var out []int64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketByBot)).Cursor()
		for k, _ := c.First(); k != nil; {
			bot := int64(binary.BigEndian.Uint64(k))
			out = append(out, bot)
			if bot == -1 {
				break
			}
			k, _ = c.Seek(botKey(bot+1, 0))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list bots: %w", err)
	}
	return out, nil
}
