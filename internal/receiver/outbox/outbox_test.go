package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/telegram/updates"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/storage"
)

type collector struct {
	mu   sync.Mutex
	recs []Record
}

func (c *collector) add(rs []Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, rs...)
}

func (c *collector) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.recs {
		out = append(out, r.Event.ID)
	}
	return out
}

func open(t *testing.T, path string, c *collector) (*Store, *storage.DB) {
	t.Helper()
	db, err := storage.Open(path, Buckets...)
	require.NoError(t, err)
	s, err := Open(db, Options{OnCommit: c.add, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	s.Start()
	return s, db
}

func ev(id string, chat int64) event.Event {
	return event.Event{ID: id, Type: event.TypeMessage, Chat: &event.Chat{ID: chat, Type: event.ChatPrivate}}
}

func TestAddDedupeAckAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "receiver.db")
	c := &collector{}
	s, db := open(t, path, c)

	_, found, err := s.GetState(ctx, 1)
	require.NoError(t, err)
	require.False(t, found)
	require.ErrorIs(t, s.SetPts(ctx, 1, 5), errNoState, "Set* must fail without a state")
	require.NoError(t, s.SetState(ctx, 1, updates.State{Pts: 1, Qts: 1, Date: 1, Seq: 1}))

	fresh, err := s.Add(ev("a", 1), ev("b", 2))
	require.NoError(t, err)
	require.Len(t, fresh, 2, "new events are handed to delivery at once")
	fresh, err = s.Add(ev("a", 1))
	require.NoError(t, err)
	require.Empty(t, fresh, "a duplicate of a queued event is not")
	require.NoError(t, s.SetPts(ctx, 1, 3))
	put, err := s.Put(ctx, ev("a", 1), ev("c", 1)) // "a" is a duplicate
	require.NoError(t, err)
	require.Len(t, put, 1)
	require.Equal(t, "c", put[0].Event.ID)
	require.NotZero(t, put[0].Seq)
	require.Equal(t, []string{"a", "b", "c"}, c.ids())
	require.EqualValues(t, 3, s.Depth())

	s.Ack("a")
	require.NoError(t, s.Close())
	require.NoError(t, db.Close())

	c2 := &collector{}
	s, db = open(t, path, c2)
	defer db.Close()
	defer s.Close()
	st, found, err := s.GetState(ctx, 1)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, 3, st.Pts)
	pend, err := s.Pending()
	require.NoError(t, err)
	require.Len(t, pend, 2)
	require.Equal(t, "b", pend[0].Event.ID)
	require.Equal(t, "c", pend[1].Event.ID)
	require.EqualValues(t, 2, s.Depth())

	// A delivered event replayed by getDifference is not queued again.
	fresh, err = s.Add(ev("a", 1), ev("b", 1))
	require.NoError(t, err)
	require.Empty(t, fresh)
	put, err = s.Put(ctx, ev("a", 1))
	require.NoError(t, err)
	require.Empty(t, put)
	require.Empty(t, c2.ids())

	// Acked before its commit: added and removed, and still known.
	fresh, err = s.Add(ev("d", 3))
	require.NoError(t, err)
	require.Len(t, fresh, 1)
	require.Greater(t, fresh[0].Seq, pend[1].Seq, "sequence numbers go on after a reopen")
	// d may be committed by now or not (commits are lazy): ask for one.
	page, err := s.Page(pend[0].Seq, 1)
	require.NoError(t, err)
	require.Len(t, page, 1, "Page lists the records after a sequence number")
	require.Equal(t, "c", page[0].Event.ID)
	s.Ack("d")
	_, err = s.Put(ctx, ev("e", 3))
	require.NoError(t, err)
	pend, err = s.Pending()
	require.NoError(t, err)
	require.Len(t, pend, 3)
	fresh, err = s.Add(ev("d", 3))
	require.NoError(t, err)
	require.Empty(t, fresh)
}

func TestFrozenStateRefusesToMovePts(t *testing.T) {
	ctx := context.Background()
	s, db := open(t, filepath.Join(t.TempDir(), "r.db"), &collector{})
	defer db.Close()
	defer s.Close()
	require.NoError(t, s.SetState(ctx, 1, updates.State{Pts: 10}))
	s.Fail(errors.New("disk full"))
	require.Error(t, s.SetPts(ctx, 1, 11))
	require.Error(t, s.SetQts(ctx, 1, 11))
	require.Error(t, s.SetState(ctx, 1, updates.State{Pts: 12}))
	require.Error(t, s.SetChannelPts(ctx, 1, 7, 3))
	require.NoError(t, s.SetDateSeq(ctx, 1, 5, 5))
	st, _, _ := s.GetState(ctx, 1)
	require.Equal(t, 10, st.Pts)
	require.Error(t, s.Healthy())
}

func TestChannelsAndHashes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	s, db := open(t, path, &collector{})
	require.NoError(t, s.SetChannelPts(ctx, 1, 100, 7))
	require.NoError(t, s.SetChannelAccessHash(ctx, 1, 100, 42))
	require.NoError(t, s.Close())
	require.NoError(t, db.Close())

	s, db = open(t, path, &collector{})
	defer db.Close()
	defer s.Close()
	pts, ok, err := s.GetChannelPts(ctx, 1, 100)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 7, pts)
	h, ok, err := s.GetChannelAccessHash(ctx, 1, 100)
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 42, h)
	var seen []int64
	require.NoError(t, s.ForEachChannels(ctx, 1, func(_ context.Context, id int64, _ int) error {
		seen = append(seen, id)
		return nil
	}))
	require.Equal(t, []int64{100}, seen)
}

func TestDeadLettersReplay(t *testing.T) {
	ctx := context.Background()
	c := &collector{}
	s, db := open(t, filepath.Join(t.TempDir(), "r.db"), c)
	defer db.Close()
	defer s.Close()
	recs, err := s.Put(ctx, ev("x", 1), ev("y", 1))
	require.NoError(t, err)
	recs[0].LastError = "downstream answered 400"
	s.Dead(recs[0])
	s.Dead(recs[1])
	// Depth is updated just after the commit that made the dead letters
	// visible: wait for both.
	require.Eventually(t, func() bool {
		d, err := s.DeadLetters(0)
		return err == nil && len(d) == 2 && s.Depth() == 0
	}, 5*time.Second, 10*time.Millisecond)
	d, err := s.DeadLetters(1)
	require.NoError(t, err)
	require.Len(t, d, 1)
	require.Equal(t, "downstream answered 400", d[0].LastError)
	require.NotNil(t, d[0].DeadAt)

	_, err = s.Replay("nope")
	require.ErrorIs(t, err, ErrNotFound)
	out, err := s.Replay("x")
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Zero(t, out[0].Attempts)
	out, err = s.Replay()
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, "y", out[0].Event.ID)
	require.Equal(t, []string{"x", "y"}, c.ids(), "replays are not commits of new events")
	require.EqualValues(t, 2, s.Depth())
	d, err = s.DeadLetters(0)
	require.NoError(t, err)
	require.Empty(t, d)
}
