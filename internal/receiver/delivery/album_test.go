package delivery

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// albumDriver records what it gets and fails the first fail attempts,
// permanently when permanent is set.
type albumDriver struct {
	mu        sync.Mutex
	got       []event.Event
	fail      int
	permanent bool
}

func (a *albumDriver) Deliver(_ context.Context, ev event.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail > 0 {
		a.fail--
		if a.permanent {
			return driver.Permanent(errors.New("422 unprocessable"))
		}
		return errors.New("503 unavailable")
	}
	a.got = append(a.got, ev)
	return nil
}

func (a *albumDriver) events() []event.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]event.Event(nil), a.got...)
}

func albumItem(msgID int, group string) event.Event {
	return event.Event{ID: event.MessageID(7, 0, msgID), Type: event.TypeMessage, BotID: 7, Chat: &event.Chat{ID: 1, Type: event.ChatPrivate},
		Message: &event.Message{ID: msgID, MediaGroupID: group}}
}

// TestAlbumDeliveredAsOneEvent: an album's messages, stored one by one,
// leave as one media_group event after AlbumWait, before the message that
// followed them; a failed attempt retries the whole album, and its
// delivery acknowledges every message of it in the outbox.
func TestAlbumDeliveredAsOneEvent(t *testing.T) {
	st := openOutbox(t, filepath.Join(t.TempDir(), "receiver.db"))
	drv := &albumDriver{fail: 2}
	const wait = 200 * time.Millisecond
	d := start(t, Config{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, AlbumWait: wait}, drv, st)

	first, err := st.Add(albumItem(1, "42"))
	require.NoError(t, err)
	d.Push(first)
	sent := time.Now()
	time.Sleep(wait / 4) // the rest of the album comes a little later
	rest, err := st.Add(albumItem(2, "42"), albumItem(3, "42"), event.Event{ID: "7:m4", Type: event.TypeMessage, BotID: 7,
		Chat: &event.Chat{ID: 1, Type: event.ChatPrivate}, Message: &event.Message{ID: 4, Text: "after"}})
	require.NoError(t, err)
	d.Push(rest)

	require.Eventually(t, func() bool { return len(drv.events()) == 2 }, 5*time.Second, 2*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(sent), wait, "the album left before AlbumWait")
	got := drv.events()
	require.Equal(t, event.TypeMediaGroup, got[0].Type)
	require.Equal(t, event.MediaGroupID(7, 0, 1), got[0].ID)
	require.Equal(t, "42", got[0].MediaGroup.ID)
	var ids []int
	for _, m := range got[0].MediaGroup.Messages {
		ids = append(ids, m.ID)
	}
	require.Equal(t, []int{1, 2, 3}, ids)
	require.Equal(t, "after", got[1].Message.Text)
	require.Eventually(t, func() bool { return st.Depth() == 0 }, 5*time.Second, 5*time.Millisecond, "every message of the album acknowledged")
}

// TestAlbumDeadLettersEveryMessage: a permanent error dead-letters each
// message of the album, so a replay brings all of them back.
func TestAlbumDeadLettersEveryMessage(t *testing.T) {
	st := openOutbox(t, filepath.Join(t.TempDir(), "receiver.db"))
	drv := &albumDriver{fail: 1, permanent: true}
	d := start(t, Config{AlbumWait: time.Millisecond}, drv, st)
	recs, err := st.Add(albumItem(1, "9"), albumItem(2, "9"))
	require.NoError(t, err)
	d.Push(recs)
	require.Eventually(t, func() bool {
		dead, err := st.DeadLetters(0)
		return err == nil && len(dead) == 2 && st.Depth() == 0
	}, 5*time.Second, 5*time.Millisecond)
	require.Empty(t, drv.events())

	replayed, err := st.Replay()
	require.NoError(t, err)
	d.Push(replayed)
	require.Eventually(t, func() bool { return len(drv.events()) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Len(t, drv.events()[0].MediaGroup.Messages, 2)
}
