package delivery

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
	"github.com/tgbotsvc/tgbot/internal/storage"
)

// openOutbox opens a real outbox in a temporary bbolt file.
func openOutbox(t *testing.T, path string) *outbox.Store {
	t.Helper()
	db, err := storage.Open(path, outbox.Buckets...)
	require.NoError(t, err)
	s, err := outbox.Open(db, outbox.Options{Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.NoError(t, db.Close())
	})
	return s
}

// outage is a downstream that fails until it is told to recover, then
// records what it gets per chat.
type outage struct {
	down  atomic.Bool
	mu    sync.Mutex
	got   map[int64][]int
	total int
}

func (o *outage) Deliver(_ context.Context, ev event.Event) error {
	if o.down.Load() {
		return errors.New("503 service unavailable")
	}
	var chat, n int
	if _, err := fmt.Sscanf(ev.ID, "c%d-%d", &chat, &n); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got[int64(chat)] = append(o.got[int64(chat)], n)
	o.total++
	return nil
}

func (o *outage) delivered() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total
}

// TestBoundedMemoryDuringOutage pushes many events while the downstream is
// down: the dispatcher holds at most MaxInMemory of them (the rest stay in
// the outbox), and once the downstream is back every event arrives once, in
// order per chat.
func TestBoundedMemoryDuringOutage(t *testing.T) {
	const (
		chats   = 7
		perChat = 600
		window  = 100
	)
	st := openOutbox(t, filepath.Join(t.TempDir(), "receiver.db"))
	drv := &outage{got: map[int64][]int{}}
	drv.down.Store(true)
	d := start(t, Config{InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Concurrency: 4, MaxInMemory: window}, drv, st)

	peak := 0
	observe := func() {
		peak = max(peak, d.Held())
	}
	for n := range perChat {
		var evs []event.Event
		for c := range chats {
			evs = append(evs, event.Event{ID: fmt.Sprintf("c%d-%d", c, n), Type: event.TypeMessage, Chat: &event.Chat{ID: int64(c)}})
		}
		fresh, err := st.Add(evs...)
		require.NoError(t, err)
		d.Push(fresh) // as the receiver does: delivery before the commit
		observe()
	}
	require.Eventually(t, func() bool { return st.Depth() == chats*perChat }, 10*time.Second, 5*time.Millisecond)
	for range 20 { // the outage goes on: retries, no growth
		time.Sleep(5 * time.Millisecond)
		observe()
	}
	require.Equal(t, 0, drv.delivered())
	// A pushed record is kept up to the window; records pushed by
	// concurrent callers below the paging start may add a few.
	require.LessOrEqual(t, peak, window, "records held in memory during the outage")

	drv.down.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for drv.delivered() < chats*perChat && time.Now().Before(deadline) {
		observe()
		time.Sleep(2 * time.Millisecond)
	}
	require.Equal(t, chats*perChat, drv.delivered())
	require.LessOrEqual(t, peak, window, "records held in memory while draining")
	drv.mu.Lock()
	defer drv.mu.Unlock()
	for c := range chats {
		got := drv.got[int64(c)]
		require.Len(t, got, perChat, "chat %d", c)
		for i, n := range got {
			require.Equal(t, i, n, "chat %d delivered out of order", c)
		}
	}
	require.Eventually(t, func() bool { return st.Depth() == 0 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, d.Held())
}

// TestPagingResumesBacklogAfterRestart starts a dispatcher on an outbox
// that already holds a backlog (a restart after an outage): it reads the
// backlog in windows and delivers it in order, then takes new pushes.
func TestPagingResumesBacklogAfterRestart(t *testing.T) {
	const total, window = 500, 50
	st := openOutbox(t, filepath.Join(t.TempDir(), "receiver.db"))
	var evs []event.Event
	for n := range total {
		evs = append(evs, event.Event{ID: fmt.Sprintf("c%d-%d", n%3, n/3), Type: event.TypeMessage, Chat: &event.Chat{ID: int64(n % 3)}})
	}
	_, err := st.Put(context.Background(), evs...)
	require.NoError(t, err)

	drv := &outage{got: map[int64][]int{}}
	d := start(t, Config{Concurrency: 2, MaxInMemory: window}, drv, st)
	require.Eventually(t, func() bool { return drv.delivered() == total }, 20*time.Second, 5*time.Millisecond)
	fresh, err := st.Add(event.Event{ID: "c0-1000", Type: event.TypeMessage, Chat: &event.Chat{ID: 0}})
	require.NoError(t, err)
	d.Push(fresh)
	require.Eventually(t, func() bool { return drv.delivered() == total+1 }, 5*time.Second, 5*time.Millisecond)

	drv.mu.Lock()
	defer drv.mu.Unlock()
	for c, got := range drv.got {
		for i := 1; i < len(got); i++ {
			require.Less(t, got[i-1], got[i], "chat %d delivered out of order", c)
		}
	}
	require.Equal(t, 1000, drv.got[0][len(drv.got[0])-1])
}

// perBot fails every event of one bot until told to recover, and records
// the others' per chat, as outage does.
type perBot struct {
	outage
	failing int64
}

func (p *perBot) Deliver(ctx context.Context, ev event.Event) error {
	if ev.BotID == p.failing && p.down.Load() {
		return errors.New("503 service unavailable")
	}
	var chat, n int
	if _, err := fmt.Sscanf(ev.ID, "b%d-c%d-%d", new(int64), &chat, &n); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := ev.BotID*1000 + int64(chat)
	p.got[key] = append(p.got[key], n)
	p.total++
	return nil
}

func botEvent(bot, chat int64, n int) event.Event {
	return event.Event{ID: fmt.Sprintf("b%d-c%d-%d", bot, chat, n), BotID: bot, Type: event.TypeMessage, Chat: &event.Chat{ID: chat}}
}

// TestFailingBotDoesNotStarveOthers: one bot's downstream refuses a backlog
// far larger than MaxInMemory; another bot's events, pushed after it, are
// delivered at once, and the first bot's backlog arrives in full and in
// order once its downstream is back. Memory stays within MaxInMemory.
func TestFailingBotDoesNotStarveOthers(t *testing.T) {
	const (
		window  = 100
		backlog = 20 * window
		quiet   = 50
		bad     = int64(1)
		good    = int64(2)
	)
	st := openOutbox(t, filepath.Join(t.TempDir(), "receiver.db"))
	drv := &perBot{outage: outage{got: map[int64][]int{}}, failing: bad}
	drv.down.Store(true)
	d := start(t, Config{InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Concurrency: 4, MaxInMemory: window}, drv, st)

	peak := 0
	for n := range backlog {
		fresh, err := st.Add(botEvent(bad, int64(n%10), n/10))
		require.NoError(t, err)
		d.Push(fresh)
		peak = max(peak, d.Held())
	}
	require.Eventually(t, func() bool { return st.Depth() == backlog }, 10*time.Second, 5*time.Millisecond)

	for n := range quiet {
		fresh, err := st.Add(botEvent(good, int64(n%5), n/5))
		require.NoError(t, err)
		d.Push(fresh)
		peak = max(peak, d.Held())
	}
	require.Eventually(t, func() bool { return drv.delivered() == quiet }, 10*time.Second, 2*time.Millisecond,
		"the quiet bot's events wait behind the failing bot's backlog")
	// The failing bot filled the whole window while it was alone; the
	// other one may still hold its minimum.
	require.LessOrEqual(t, peak, window+minShare, "records held in memory")

	drv.down.Store(false)
	require.Eventually(t, func() bool { return drv.delivered() == quiet+backlog }, 30*time.Second, 5*time.Millisecond)
	drv.mu.Lock()
	defer drv.mu.Unlock()
	for key, got := range drv.got {
		for i, n := range got {
			require.Equal(t, i, n, "chat %d delivered out of order", key)
		}
	}
	require.Len(t, drv.got[bad*1000], backlog/10)
	require.Eventually(t, func() bool { return st.Depth() == 0 }, 5*time.Second, 5*time.Millisecond)
}

// TestRestartWithFailingBotBacklog: after a restart, a backlog on disk of a
// bot whose downstream still fails does not hold up another bot's backlog
// (written after it) nor its new events.
func TestRestartWithFailingBotBacklog(t *testing.T) {
	const window = 200
	st := openOutbox(t, filepath.Join(t.TempDir(), "receiver.db"))
	var evs []event.Event
	for n := range 10 * window {
		evs = append(evs, botEvent(1, int64(n%3), n/3))
	}
	for n := range 30 {
		evs = append(evs, botEvent(2, 0, n))
	}
	_, err := st.Put(context.Background(), evs...)
	require.NoError(t, err)

	drv := &perBot{outage: outage{got: map[int64][]int{}}, failing: 1}
	drv.down.Store(true)
	d := start(t, Config{InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Concurrency: 2, MaxInMemory: window}, drv, st)
	require.Eventually(t, func() bool { return drv.delivered() == 30 }, 10*time.Second, 2*time.Millisecond)
	fresh, err := st.Add(botEvent(2, 0, 30))
	require.NoError(t, err)
	d.Push(fresh)
	require.Eventually(t, func() bool { return drv.delivered() == 31 }, 5*time.Second, 2*time.Millisecond)
	require.LessOrEqual(t, d.Held(), window)

	drv.down.Store(false)
	require.Eventually(t, func() bool { return drv.delivered() == 31+10*window }, 30*time.Second, 5*time.Millisecond)
}
