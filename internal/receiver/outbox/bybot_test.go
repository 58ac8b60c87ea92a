package outbox

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

func botEv(id string, bot, chat int64) event.Event {
	e := ev(id, chat)
	e.BotID = bot
	return e
}

func seqIDs(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Event.ID)
	}
	return out
}

// TestPageBotFollowsAcksDeadsAndReplays: each bot's queue reads in order,
// without the other bots' events, and loses what was delivered or
// dead-lettered; a replayed dead letter joins its bot's queue again.
func TestPageBotFollowsAcksDeadsAndReplays(t *testing.T) {
	ctx := context.Background()
	s, db := open(t, filepath.Join(t.TempDir(), "receiver.db"), &collector{})
	defer func() { require.NoError(t, s.Close()); require.NoError(t, db.Close()) }()

	_, err := s.Put(ctx, botEv("a1", 10, 1), botEv("b1", 20, 1), botEv("a2", 10, 2), botEv("b2", 20, 1), botEv("a3", 10, 1))
	require.NoError(t, err)
	bots, err := s.Bots()
	require.NoError(t, err)
	require.Equal(t, []int64{10, 20}, bots)

	a, err := s.PageBot(10, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"a1", "a2", "a3"}, seqIDs(a))
	page, err := s.PageBot(10, a[0].Seq, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"a2"}, seqIDs(page))

	s.Ack("a1")
	s.Dead(a[1])
	b, err := s.PageBot(20, 0, 10)
	require.NoError(t, err)
	s.Ack(b[0].Event.ID)
	s.Ack(b[1].Event.ID)
	require.Eventually(t, func() bool { return s.Depth() == 1 }, 5*time.Second, 5*time.Millisecond)

	a, err = s.PageBot(10, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"a3"}, seqIDs(a))
	bots, err = s.Bots()
	require.NoError(t, err)
	require.Equal(t, []int64{10}, bots)

	_, err = s.Replay("a2")
	require.NoError(t, err)
	a, err = s.PageBot(10, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"a3", "a2"}, seqIDs(a))
}

// TestIndexBuiltForAnOlderOutbox opens an outbox whose queued events have
// no per-bot index and old-style ID values (as an earlier build wrote it):
// the index is built at open, and acks still remove the events.
func TestIndexBuiltForAnOlderOutbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "receiver.db")
	s, db := open(t, path, &collector{})
	_, err := s.Put(ctx, botEv("a1", 10, 1), botEv("b1", 20, 1), botEv("a2", 10, 2))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	// Make it look older: no index, 16-byte ID values.
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucketByBot)); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte(bucketByBot)); err != nil {
			return err
		}
		ids := tx.Bucket([]byte(bucketIDs))
		return ids.ForEach(func(k, v []byte) error {
			return ids.Put(k, append([]byte(nil), v[:16]...))
		})
	}))
	require.NoError(t, db.Close())

	s, db = open(t, path, &collector{})
	defer func() { require.NoError(t, s.Close()); require.NoError(t, db.Close()) }()
	bots, err := s.Bots()
	require.NoError(t, err)
	require.Equal(t, []int64{10, 20}, bots)
	a, err := s.PageBot(10, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"a1", "a2"}, seqIDs(a))
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucketIDs)).Get([]byte("a2"))
		require.Len(t, v, idValueLen)
		require.EqualValues(t, 10, binary.BigEndian.Uint64(v[16:]))
		return nil
	}))

	s.Ack("a1")
	s.Ack("b1")
	require.Eventually(t, func() bool { return s.Depth() == 1 }, 5*time.Second, 5*time.Millisecond)
	bots, err = s.Bots()
	require.NoError(t, err)
	require.Equal(t, []int64{10}, bots)
}
