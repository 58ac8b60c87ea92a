// Package delivery takes committed events from the outbox to the driver:
// one ordered queue per chat, chats delivered concurrently, and the one retry
// stage of the receiver (exponential backoff with jitter, Retry-After
// honoured, dead letters on a permanent error or when the attempts or the
// age run out), in the spirit of alertmanager's notify/retry stage.
//
// A fixed pool of Concurrency workers takes ready chats from one FIFO queue.
// A chat is ready when it has events, no attempt in flight and no backoff
// pending; a worker makes one attempt at the chat's first event and then
// puts the chat back at the end of the queue if it has more, so chats take
// turns. A chat whose attempt failed waits for its backoff on a timer, not on
// a worker, and its timer queues it again: an event that keeps failing holds
// up the later events of its own chat only, and 10,000 backed-up chats cost
// 10,000 small queue entries, not 10,000 goroutines.
//
// Paging: every event is in the outbox on disk, so the dispatcher holds at
// most MaxInMemory of them (when the store is a Pager), shared fairly by the
// bots: each bot has a lane that holds at most its share. Once a lane's
// share waits, it stops keeping that bot's pushed records and instead reads
// the bot's queue in the outbox in sequence order, a window at a time, as
// its chats drain; when a read comes back short and every record dropped
// meanwhile was read, it takes pushed records again. A downstream outage
// costs disk, not memory, and a bot whose events keep failing fills its
// own share only: the other bots' events keep flowing.
//
// Limitations:
//   - A replayed dead letter goes to the end of its chat's queue.
//   - Two records of one chat pushed concurrently, out of sequence order,
//     are delivered in push order (as without paging).
package delivery

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gotd/td/clock"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// Config of the dispatcher. Zero values mean the defaults in brackets.
type Config struct {
	// MaxAttempts before an event is dead-lettered [0 = no limit].
	MaxAttempts int
	// MaxAge of an event before it is dead-lettered [0 = no limit].
	MaxAge time.Duration
	// InitialBackoff is the wait after the first failure [1 s]; it doubles
	// with each attempt, with jitter, up to MaxBackoff [5 min].
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRetryAfter caps a Retry-After requested by the downstream [1 h].
	MaxRetryAfter time.Duration
	// Concurrency is how many driver calls run at once, the number of
	// workers [64].
	Concurrency int
	// ShutdownGrace is how long in-flight calls may finish after the
	// dispatcher is told to stop [5 s].
	ShutdownGrace time.Duration
	// MaxInMemory is how many undelivered records the dispatcher holds;
	// beyond it they are read back from the store (a Pager) as the queues
	// drain [2,000].
	MaxInMemory int
	// Clock drives the backoff timers and the age of events [the system
	// clock]; tests pass a fake one (github.com/gotd/neo).
	Clock clock.Clock
	// AlbumWait is how long the first message of an album waits for the
	// rest before the album goes out as one media_group event [0 = every
	// message of an album is delivered as a media_group event of its own
	// as soon as it is first in its chat].
	AlbumWait time.Duration
}

func (c *Config) setDefaults() {
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = c.InitialBackoff
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = time.Hour
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 5 * time.Second
	}
	if c.MaxInMemory <= 0 {
		c.MaxInMemory = 2000
	}
	if c.Clock == nil {
		c.Clock = clock.System
	}
}

// Store is what the dispatcher needs from the outbox.
type Store interface {
	Ack(id string)
	Update(r outbox.Record)
	Dead(r outbox.Record)
}

// Pager is a Store that can list each bot's queued records by sequence
// number (outbox.Store.PageBot). With one the dispatcher bounds its memory,
// and it reads the records already in the store when Run starts (no Push
// needed for them); without one it holds every record pushed.
type Pager interface {
	Store
	// PageBot returns at most n queued records of bot with Seq above
	// after, in sequence order.
	PageBot(bot int64, after uint64, n int) ([]outbox.Record, error)
	// Bots lists the bots with queued records.
	Bots() ([]int64, error)
}

// minShare is the fewest records a bot's lane may hold, however many bots
// share MaxInMemory: the dispatcher holds at most MaxInMemory records plus
// minShare for each bot beyond the first.
const minShare = 64

// lane is the paging state of one bot; under Dispatcher.mu.
type lane struct {
	bot     int64
	held    int    // records of this bot in the chat queues
	paged   bool   // pushed records above from are dropped and read back
	from    uint64 // paging covers sequence numbers above it...
	cursor  uint64 // ...read from the store up to here
	skipTo  uint64 // after paging: pushed records in (from, skipTo] were read
	dropped uint64 // highest sequence number dropped while paged
}

// chatState is where a chat is in its cycle; it changes under Dispatcher.mu.
type chatState uint8

const (
	// chatIdle: not queued and nothing in flight (no events, or stopped).
	chatIdle chatState = iota
	// chatReady: in the ready queue, waiting for a worker.
	chatReady
	// chatBusy: a worker is making an attempt at its first event.
	chatBusy
	// chatBackoff: its first event failed; its timer queues it again.
	chatBackoff
)

// chat is the ordered queue of one chat: recs[head:] wait, oldest first.
// chatKey names one ordered queue: per-chat order is kept per bot, so two
// bots talking to the same user never wait on each other.
type chatKey struct{ bot, chat int64 }

type chat struct {
	key   chatKey
	recs  []outbox.Record
	head  int
	state chatState
	timer func() // stops the backoff timer that queues the chat again
}

func (q *chat) len() int { return len(q.recs) - q.head }

func (q *chat) add(r outbox.Record) {
	if q.head > 0 && len(q.recs) == cap(q.recs) {
		// Slide the waiting records to the front rather than grow.
		n := copy(q.recs, q.recs[q.head:])
		clear(q.recs[n:])
		q.recs, q.head = q.recs[:n], 0
	}
	q.recs = append(q.recs, r)
}

func (q *chat) pop() {
	q.recs[q.head] = outbox.Record{}
	q.head++
	if q.head == len(q.recs) {
		q.recs, q.head = q.recs[:0], 0
	}
}

// ring is the FIFO of ready chats.
type ring struct {
	buf     []*chat
	head, n int
}

func (r *ring) push(q *chat) {
	if r.n == len(r.buf) {
		buf := make([]*chat, max(16, 2*len(r.buf)))
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = q
	r.n++
}

func (r *ring) pop() *chat {
	q := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return q
}

const (
	// maxFree chats are kept for reuse, so that a steady stream of events
	// to distinct chats does not allocate a queue per event.
	maxFree = 1024
	// maxFreeRecs is the largest record array a reused chat keeps.
	maxFreeRecs = 4
	// bigBacklog chats waiting at once make the chat index and the ready
	// queue worth replacing once they are empty again: Go maps never
	// shrink, and the ready queue only grows.
	bigBacklog = 4096
)

// Dispatcher delivers events per chat in order.
type Dispatcher struct {
	cfg   Config
	drv   driver.Driver
	store Store
	m     *metrics.Metrics
	log   *zap.Logger

	// Set by Run before the workers start, read-only after.
	callCtx  context.Context
	firstCtx context.Context // callCtx carrying attempt 1: no allocation per first attempt

	mu       sync.Mutex
	cond     sync.Cond // signalled when a chat is queued, or on stop
	chats    map[chatKey]*chat
	ready    ring
	free     []*chat
	big      bool // more than bigBacklog chats since the index was last empty
	stopping bool
	wg       sync.WaitGroup

	held int // records in the chat queues

	// Paging (with a Pager); under mu.
	pager       Pager
	lanes       map[int64]*lane
	pageKick    chan struct{}
	relistAtRun bool // New could not list the bots (read-only after New)
}

// New returns a dispatcher; call Run to start delivering.
func New(cfg Config, drv driver.Driver, store Store, m *metrics.Metrics, log *zap.Logger) *Dispatcher {
	cfg.setDefaults()
	d := &Dispatcher{
		cfg:   cfg,
		drv:   drv,
		store: store,
		m:     m,
		log:   log.Named("delivery"),
		chats: map[chatKey]*chat{},
	}
	d.cond.L = &d.mu
	if p, ok := store.(Pager); ok {
		d.pager, d.lanes, d.pageKick = p, map[int64]*lane{}, make(chan struct{}, 1)
		bots, err := p.Bots()
		if err != nil {
			// Listed again by Run's pager.
			d.log.Error("list the bots with queued events", zap.Error(err))
			d.relistAtRun = true
		}
		for _, bot := range bots {
			// Paged from sequence 0: the backlog on disk is read in
			// windows by Run, not handed over all at once.
			d.lanes[bot] = &lane{bot: bot, paged: true}
		}
	}
	return d
}

// share is how many records one lane may hold.
func (d *Dispatcher) shareLocked() int {
	return max(d.cfg.MaxInMemory/max(1, len(d.lanes)), minShare)
}

// laneLocked returns the lane of bot, creating it (not paged: a bot first
// seen in a push has nothing older on disk).
func (d *Dispatcher) laneLocked(bot int64) *lane {
	l := d.lanes[bot]
	if l == nil {
		l = &lane{bot: bot}
		d.lanes[bot] = l
	}
	return l
}

// Held is the number of undelivered records in memory.
func (d *Dispatcher) Held() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held
}

// Push queues committed records (in sequence order). Safe for concurrent
// use; it never blocks on delivery. Records pushed before Run wait for it;
// records pushed after Run stopped stay in memory (and in the outbox).
func (d *Dispatcher) Push(recs []outbox.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range recs {
		if d.pager != nil && !d.keepLocked(d.laneLocked(recs[i].Event.BotID), recs[i].Seq) {
			continue
		}
		d.addLocked(recs[i])
	}
}

// keepLocked decides whether a pushed record stays in memory or is left to
// be read back from the store. Records at or below from were pushed late
// by a concurrent caller and were never read; records paging read (or will
// read) are dropped.
func (d *Dispatcher) keepLocked(l *lane, seq uint64) bool {
	switch {
	case seq <= l.from:
		return true
	case l.paged:
		l.dropped = max(l.dropped, seq)
		return false
	case seq <= l.skipTo:
		return false
	case l.held >= d.shareLocked(), d.held >= d.cfg.MaxInMemory && l.held >= minShare:
		// Its share is full, or memory is full and it has its minimum: a
		// lane that filled a larger share before more bots came keeps it
		// until it drains, and never stops the others.
		l.paged, l.from, l.dropped = true, l.cursor, seq
		return false
	}
	l.cursor = max(l.cursor, seq)
	return true
}

func (d *Dispatcher) addLocked(r outbox.Record) {
	if d.pager != nil {
		d.laneLocked(r.Event.BotID).held++
	}
	key := chatKey{bot: r.Event.BotID, chat: r.Event.ChatID()}
	q := d.chats[key]
	if q == nil {
		q = d.newChatLocked(key)
		d.chats[key] = q
		d.big = d.big || len(d.chats) > bigBacklog
	}
	q.add(r)
	d.held++
	if q.state == chatIdle && !d.stopping {
		d.readyLocked(q)
		d.cond.Signal()
	}
}

// pageRetry is how soon a read that missed records still being committed
// is tried again.
const pageRetry = 20 * time.Millisecond

// page reads the outbox into the queues for every paged lane: a window
// of its bot's queue whenever the lane holds at most half its share, until
// it catches up.
func (d *Dispatcher) page(ctx context.Context) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	if d.relistAtRun {
		d.relist()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.pageKick:
		case <-retry.C:
		}
		if wait := d.pageLanes(ctx); wait > 0 {
			retry.Reset(wait)
		}
	}
}

// relist adds a paged lane for every bot with queued records that has none.
func (d *Dispatcher) relist() {
	bots, err := d.pager.Bots()
	if err != nil {
		d.log.Error("list the bots with queued events", zap.Error(err))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, bot := range bots {
		if d.lanes[bot] == nil {
			d.lanes[bot] = &lane{bot: bot, paged: true}
		}
	}
}

// pageLanes reads one window for each lane that is due, and says how soon
// to look again when a lane waits for records still being committed (or
// a read failed); 0 = when kicked.
func (d *Dispatcher) pageLanes(ctx context.Context) time.Duration {
	type read struct {
		l     *lane
		after uint64
		want  int
	}
	d.mu.Lock()
	share := d.shareLocked()
	var due []read
	for _, l := range d.lanes {
		if l.paged && l.held <= share/2 {
			due = append(due, read{l, l.cursor, share - l.held})
		}
	}
	d.mu.Unlock()

	var wait time.Duration
	for _, r := range due {
		if ctx.Err() != nil {
			return 0
		}
		recs, err := d.pager.PageBot(r.l.bot, r.after, r.want)
		if err != nil {
			d.log.Error("read the outbox, will retry", zap.Int64("bot_id", r.l.bot), zap.Error(err))
			wait = time.Second
			continue
		}
		d.mu.Lock()
		for i := range recs {
			d.addLocked(recs[i])
		}
		l := r.l
		if len(recs) > 0 {
			l.cursor = recs[len(recs)-1].Seq
		}
		switch {
		case len(recs) == r.want:
			d.kickPage() // more may wait: read again once drained
		case l.dropped <= l.cursor:
			// Caught up: every dropped record was read.
			l.paged, l.skipTo = false, l.cursor
		default:
			// Dropped records not committed yet.
			if wait == 0 || wait > pageRetry {
				wait = pageRetry
			}
		}
		d.mu.Unlock()
	}
	return wait
}

func (d *Dispatcher) kickPage() {
	select {
	case d.pageKick <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) newChatLocked(key chatKey) *chat {
	if n := len(d.free); n > 0 {
		q := d.free[n-1]
		d.free[n-1] = nil
		d.free = d.free[:n-1]
		q.key = key
		return q
	}
	return &chat{key: key}
}

// dropLocked forgets an empty chat and keeps it for reuse. When the last
// chat of a big backlog goes, the index and the ready queue sized for it go
// too (every ready chat is in the index, so the queue is empty as well).
func (d *Dispatcher) dropLocked(q *chat) {
	delete(d.chats, q.key)
	q.state = chatIdle
	if len(d.free) < maxFree && cap(q.recs) <= maxFreeRecs {
		d.free = append(d.free, q)
	}
	if len(d.chats) == 0 && d.big {
		d.chats, d.ready, d.big = map[chatKey]*chat{}, ring{}, false
	}
}

func (d *Dispatcher) readyLocked(q *chat) {
	q.state = chatReady
	d.ready.push(q)
}

// Run delivers until ctx is done, then lets in-flight driver calls finish
// for up to ShutdownGrace and returns. Undelivered events stay in the
// outbox for the next start.
func (d *Dispatcher) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	d.callCtx, d.firstCtx = callCtx, driver.WithAttempt(callCtx, 1)
	d.wg.Add(d.cfg.Concurrency)
	for range d.cfg.Concurrency {
		go d.work()
	}
	if d.pager != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.page(ctx)
		}()
	}

	<-ctx.Done()
	d.mu.Lock()
	d.stopping = true
	for _, q := range d.chats {
		if q.state == chatBackoff {
			q.timer()
			q.state = chatIdle
		}
	}
	d.cond.Broadcast()
	d.mu.Unlock()

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	grace := time.NewTimer(d.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		cancel()
		<-done
	}
	return nil
}

// work is one worker: it takes the next ready chat, makes one attempt at
// its first event, and settles the chat, until the dispatcher stops.
func (d *Dispatcher) work() {
	defer d.wg.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		for d.ready.n == 0 && !d.stopping {
			d.cond.Wait()
		}
		if d.stopping {
			return
		}
		q := d.ready.pop()
		rec, members, wait := d.nextLocked(q)
		if wait > 0 {
			// An album's first message waits for the rest, on a timer.
			q.state = chatBackoff
			q.timer = afterFunc(d.cfg.Clock, wait, func() { d.wake(q) })
			continue
		}
		q.state = chatBusy
		d.mu.Unlock()

		res, wait := d.attempt(&rec, members)

		d.mu.Lock()
		switch res {
		case attemptDone:
			n := max(1, len(members))
			for range n {
				q.pop()
			}
			d.held -= n
			if l := d.lanes[q.key.bot]; l != nil {
				l.held -= n
				if l.paged && l.held <= d.shareLocked()/2 {
					d.kickPage()
				}
			}
		case attemptRetry:
			// Attempts and last error, for the next try.
			q.recs[q.head].Attempts, q.recs[q.head].LastError = rec.Attempts, rec.LastError
		}
		switch {
		case q.len() == 0:
			d.dropLocked(q)
		case d.stopping:
			q.state = chatIdle
		case res == attemptRetry:
			q.state = chatBackoff
			q.timer = afterFunc(d.cfg.Clock, wait, func() { d.wake(q) })
		default:
			// To the back of the queue: chats with many events take turns
			// with the others.
			d.readyLocked(q)
		}
	}
}

// afterFunc calls f once d has passed on c, unless the returned stop is
// called first.
func afterFunc(c clock.Clock, d time.Duration, f func()) (stop func()) {
	if c == clock.System {
		t := time.AfterFunc(d, f)
		return func() { t.Stop() }
	}
	t := c.Timer(d)
	done := make(chan struct{})
	go func() {
		select {
		case <-t.C():
			f()
		case <-done:
			clock.StopTimer(t)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// wake queues a chat whose backoff is over.
func (d *Dispatcher) wake(q *chat) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping || q.state != chatBackoff {
		return
	}
	d.readyLocked(q)
	d.cond.Signal()
}

type attemptResult uint8

const (
	// attemptDone: delivered or dead-lettered; the chat moves on.
	attemptDone attemptResult = iota
	// attemptRetry: failed; try again after the returned wait.
	attemptRetry
	// attemptStopped: cut short by the shutdown; left as it was.
	attemptStopped
)

// nextLocked returns what a worker delivers next from q: its first record,
// or, when that is a message of an album, one media_group record made of
// the album's messages at the head of the queue (members, in order) once
// AlbumWait has passed since the first arrived; until then wait > 0.
func (d *Dispatcher) nextLocked(q *chat) (rec outbox.Record, members []outbox.Record, wait time.Duration) {
	rec = q.recs[q.head]
	group := rec.Event.AlbumID()
	if group == "" {
		return rec, nil, 0
	}
	if w := rec.Enqueued.Add(d.cfg.AlbumWait).Sub(d.cfg.Clock.Now()); w > 0 && !d.stopping {
		return rec, nil, w
	}
	n := 1
	for q.head+n < len(q.recs) && q.recs[q.head+n].Event.AlbumID() == group {
		n++
	}
	members = slices.Clone(q.recs[q.head : q.head+n])
	evs := make([]event.Event, n)
	for i := range members {
		evs[i] = members[i].Event
	}
	merged, _ := event.Album(evs)
	return outbox.Record{Seq: rec.Seq, Event: merged, Enqueued: rec.Enqueued, Attempts: rec.Attempts, LastError: rec.LastError},
		members, 0
}

// attempt is the retry stage for one driver call at rec, which it updates
// (attempts, last error) when the call failed. members are the records rec
// was made of (an album), nil when it is a record of the store itself: the
// store's bookkeeping (ack, attempts, dead letter) applies to them.
func (d *Dispatcher) attempt(rec *outbox.Record, members []outbox.Record) (attemptResult, time.Duration) {
	attempt := rec.Attempts + 1
	ctx := d.firstCtx
	if attempt > 1 {
		ctx = driver.WithAttempt(d.callCtx, attempt)
	}
	start := time.Now()
	err := d.drv.Deliver(ctx, rec.Event)
	d.m.AttemptLatency.Observe(time.Since(start).Seconds())
	if err == nil {
		if members == nil {
			d.store.Ack(rec.Event.ID)
		}
		for _, m := range members {
			d.store.Ack(m.Event.ID)
		}
		d.m.Delivered.Inc()
		d.m.DeliveryLatency.Observe(d.cfg.Clock.Now().Sub(rec.Enqueued).Seconds())
		return attemptDone, 0
	}
	if d.callCtx.Err() != nil {
		return attemptStopped, 0
	}
	rec.Attempts, rec.LastError = attempt, err.Error()
	if reason := d.deadReason(*rec, err); reason != "" {
		d.log.Warn("event dead-lettered", zap.String("event_id", rec.Event.ID), zap.Int64("chat_id", rec.Event.ChatID()),
			zap.String("reason", reason), zap.Int("attempts", attempt), zap.Error(err))
		if members == nil {
			d.store.Dead(*rec)
		}
		for _, m := range members {
			m.Attempts, m.LastError = rec.Attempts, rec.LastError
			d.store.Dead(m)
		}
		d.m.DeadLettered.Inc()
		return attemptDone, 0
	}
	if members == nil {
		d.store.Update(*rec)
	} else {
		first := members[0]
		first.Attempts, first.LastError = rec.Attempts, rec.LastError
		d.store.Update(first)
	}
	d.m.Retried.Inc()
	wait := d.backoff(attempt, err)
	d.log.Info("delivery failed, will retry", zap.String("event_id", rec.Event.ID), zap.Int64("chat_id", rec.Event.ChatID()),
		zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
	return attemptRetry, wait
}

func (d *Dispatcher) deadReason(rec outbox.Record, err error) string {
	switch {
	case driver.IsPermanent(err):
		return "permanent error"
	case d.cfg.MaxAttempts > 0 && rec.Attempts >= d.cfg.MaxAttempts:
		return "max attempts reached"
	case d.cfg.MaxAge > 0 && d.cfg.Clock.Now().Sub(rec.Enqueued) >= d.cfg.MaxAge:
		return "max age reached"
	}
	return ""
}

// backoff is InitialBackoff*2^(attempt-1) capped at MaxBackoff, with "equal
// jitter" (half fixed, half random) so that chats failing together do not
// retry together, or the downstream's Retry-After when that is longer.
func (d *Dispatcher) backoff(attempt int, err error) time.Duration {
	return Backoff(d.cfg, attempt, err)
}

// Backoff is the wait before attempt+1 after attempt failed with err, by
// cfg's backoff settings (defaults applied); the NATS delivery shares it.
func Backoff(cfg Config, attempt int, err error) time.Duration {
	cfg.setDefaults()
	exp := cfg.InitialBackoff
	for i := 1; i < attempt && exp < cfg.MaxBackoff; i++ {
		exp *= 2
	}
	exp = min(exp, cfg.MaxBackoff)
	wait := exp/2 + rand.N(exp/2+1)
	if ra, ok := driver.RetryAfterOf(err); ok {
		wait = max(wait, min(ra, cfg.MaxRetryAfter))
	}
	return wait
}
