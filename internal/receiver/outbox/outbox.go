// Package outbox is the receiver's durable queue of events, in bbolt
// (receiver.db in DATA_DIR, through internal/storage), and the persistent
// update state (pts, qts, seq, date, channel states) of gotd's update
// manager.
//
// Both live in one store for one reason: the update state is written in the
// same bbolt transaction as the events of the updates it covers. Writes are
// group-committed by one goroutine (one fsync'ed transaction for everything
// queued while the previous one ran), so thousands of events per second cost
// a few hundred transactions, and the state on disk never passes an event
// that is not on disk: after a crash, gotd's getDifference fetches again what
// was not committed, and the outbox drops the events it already has by ID.
//
// Add hands new events back to the caller for delivery at once, without
// waiting for the fsync: delivery latency does not include the commit. The
// guarantee that matters is kept: the update state on disk never covers an
// event that is not on disk, so nothing is lost in a crash (at worst an
// event is delivered twice, with the same ID).
//
// An event leaves the outbox when it was delivered (Ack) or moved to the dead
// letters (Dead); dead letters stay until replayed.
//
// Limitations:
//   - Acks are committed asynchronously: an event delivered just before a
//     crash may be delivered again after it (at-least-once; consumers dedupe
//     by event ID).
//   - The IDs of delivered events are kept for DedupTTL to recognise
//     replays; a duplicate arriving later is delivered again.
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gotd/td/telegram/updates"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/storage"
)

// Bucket names in receiver.db.
const (
	bucketEvents   = "events"        // seq -> Record
	bucketIDs      = "event_ids"     // event ID -> seq(8) + created unix nanos(8) + bot ID(8)
	bucketByBot    = "events_by_bot" // bot ID(8) + seq(8) -> nothing: each bot's queue in order
	bucketDead     = "dead"          // event ID -> Record
	bucketState    = "upd_state"     // user ID -> updates.State
	bucketChannels = "upd_chan"      // user ID + channel ID -> channel state
)

// Buckets lists the buckets to open receiver.db with.
var Buckets = []string{bucketEvents, bucketIDs, bucketDead, bucketState, bucketChannels, bucketByBot}

// LazyFlush is how long acks and update state may wait for a commit.
const LazyFlush = 100 * time.Millisecond

// ErrClosed is returned after Close.
var ErrClosed = errors.New("outbox closed")

// ErrNotFound is returned by Replay for an unknown dead letter.
var ErrNotFound = errors.New("dead letter not found")

// Record is an event in the outbox with its delivery bookkeeping.
type Record struct {
	Seq       uint64      `json:"seq"`
	Event     event.Event `json:"event"`
	Enqueued  time.Time   `json:"enqueued"`
	Attempts  int         `json:"attempts,omitempty"`
	LastError string      `json:"last_error,omitempty"`
	DeadAt    *time.Time  `json:"dead_at,omitempty"`
}

// Options of a Store. The zero value is usable.
type Options struct {
	// OnCommit receives the records each commit added, in sequence order,
	// from the committing goroutine (keep it short). It is for metrics:
	// delivery gets records from Add, Put, Pending and Replay.
	OnCommit func([]Record)
	// DedupTTL is how long the IDs of delivered events are remembered;
	// 0 means 24 h.
	DedupTTL time.Duration
	// Logger; nil means none.
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ObserveCommit, when set, receives the duration of each successful
	// commit and the number of operations it carried (for metrics).
	ObserveCommit func(d time.Duration, ops int)
}

type pendingAdd struct {
	rec  Record
	done chan error // nil for asynchronous adds
	out  *Record    // set for synchronous adds: the committed record, if new
}

type chanKey struct{ user, channel int64 }

type chanState struct {
	Pts        int   `json:"pts"`
	AccessHash int64 `json:"access_hash"`
	HasPts     bool  `json:"has_pts"`
	HasHash    bool  `json:"has_hash"`
}

// Store is the outbox and update state store.
type Store struct {
	db   *storage.DB
	opts Options
	log  *zap.Logger

	mu          sync.Mutex
	adds        []pendingAdd
	pendingIDs  map[string]bool // IDs of queued, uncommitted adds
	acks        []string
	rewrites    []Record
	deads       []Record
	states      map[int64]updates.State
	dirtyStates map[int64]bool
	channels    map[chanKey]chanState
	dirtyChans  map[chanKey]bool
	frozen      error
	commitErr   error // the last commit's error, nil after a success
	closed      bool
	// seq is the last sequence number handed out. Records get theirs when
	// they are queued, not when committed, so that delivery can page the
	// outbox by sequence (Page) and tell which records it already has.
	seq uint64

	depth   atomic.Int64
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	started bool
}

// Open reads the update state and the outbox depth from db (opened with
// Buckets) and returns a store. Call Start to begin committing.
func Open(db *storage.DB, opts Options) (*Store, error) {
	if opts.DedupTTL <= 0 {
		opts.DedupTTL = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	s := &Store{
		db:          db,
		opts:        opts,
		log:         opts.Logger.Named("outbox"),
		pendingIDs:  map[string]bool{},
		states:      map[int64]updates.State{},
		dirtyStates: map[int64]bool{},
		channels:    map[chanKey]chanState{},
		dirtyChans:  map[chanKey]bool{},
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		stopped:     make(chan struct{}),
	}
	err := db.View(func(tx *bolt.Tx) error {
		s.depth.Store(int64(tx.Bucket([]byte(bucketEvents)).Stats().KeyN))
		s.seq = tx.Bucket([]byte(bucketEvents)).Sequence()
		err := tx.Bucket([]byte(bucketState)).ForEach(func(k, v []byte) error {
			var st updates.State
			if err := storage.Get(tx, bucketState, k, &st); err != nil {
				return err
			}
			s.states[int64(storage.KeyUint64(k))] = st
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketChannels)).ForEach(func(k, v []byte) error {
			if len(k) != 16 {
				return nil
			}
			var cs chanState
			if err := storage.Get(tx, bucketChannels, k, &cs); err != nil {
				return err
			}
			s.channels[chanKey{int64(storage.KeyUint64(k[:8])), int64(storage.KeyUint64(k[8:]))}] = cs
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load outbox: %w", err)
	}
	if err := indexByBot(db, s.log); err != nil {
		return nil, fmt.Errorf("load outbox: %w", err)
	}
	return s, nil
}

// Start runs the committer until Close.
func (s *Store) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	go s.loop()
}

// Close commits what is queued and stops the committer. Synchronous adds
// still waiting get ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if started {
		close(s.stop)
		<-s.stopped
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.adds {
		if a.done != nil {
			a.done <- ErrClosed
		}
	}
	s.adds = nil
	return nil
}

// Depth is the number of events waiting for delivery (committed, not yet
// delivered or dead).
func (s *Store) Depth() int64 { return s.depth.Load() }

// Add queues events for the next commit and returns at once with the
// records of the events that are new (not already in the outbox, delivered
// recently, or queued): the caller hands those to delivery right away, so
// delivery does not wait for the fsync. That is safe: the update state set
// after Add is committed in the same transaction as these events or a later
// one, never before them, so an event lost in a crash before its commit is
// fetched again from Telegram (and may be delivered twice, with the same ID).
func (s *Store) Add(evs ...event.Event) ([]Record, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.mu.Unlock()
	known, err := s.known(evs)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var fresh []Record
	for i, ev := range evs {
		s.seq++
		r := Record{Seq: s.seq, Event: ev, Enqueued: now}
		s.adds = append(s.adds, pendingAdd{rec: r})
		if !known[i] && !s.pendingIDs[ev.ID] {
			s.pendingIDs[ev.ID] = true
			fresh = append(fresh, r)
		}
	}
	s.signal()
	return fresh, nil
}

// known reports which events' IDs the outbox already has.
func (s *Store) known(evs []event.Event) ([]bool, error) {
	out := make([]bool, len(evs))
	err := s.db.View(func(tx *bolt.Tx) error {
		ids := tx.Bucket([]byte(bucketIDs))
		for i, ev := range evs {
			out[i] = ids.Get([]byte(ev.ID)) != nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check event ids: %w", err)
	}
	return out, nil
}

// Put adds events and waits until they are committed. It returns the
// records that were new (events already in the outbox are not added again);
// the caller hands them to delivery.
func (s *Store) Put(ctx context.Context, evs ...event.Event) ([]Record, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	now := s.opts.Now()
	adds := make([]pendingAdd, len(evs))
	for i, ev := range evs {
		s.seq++
		adds[i] = pendingAdd{rec: Record{Seq: s.seq, Event: ev, Enqueued: now}, done: make(chan error, 1), out: &Record{}}
		s.adds = append(s.adds, adds[i])
	}
	s.signal()
	s.mu.Unlock()
	var fresh []Record
	for _, a := range adds {
		select {
		case err := <-a.done:
			if err != nil {
				return nil, err
			}
			if a.out.Seq != 0 {
				fresh = append(fresh, *a.out)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return fresh, nil
}

// Ack removes a delivered event (by ID: it may not be committed yet).
func (s *Store) Ack(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks = append(s.acks, id) // flushed with the next commit, or by the timer
}

// Update rewrites a record's bookkeeping (attempts, last error).
func (s *Store) Update(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rewrites = append(s.rewrites, r) // bookkeeping: flushed lazily
}

// Dead moves a record to the dead letters.
func (s *Store) Dead(r Record) {
	now := s.opts.Now()
	r.DeadAt = &now
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deads = append(s.deads, r)
	s.signal()
}

// Fail freezes the update state: from now on it refuses to move pts/qts,
// because the event of an update could not be queued. The process should
// be restarted; getDifference then fetches the update again.
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen == nil {
		s.frozen = err
		s.log.Error("update state frozen: an update could not be stored", zap.Error(err))
	}
}

// Healthy returns why the store is unhealthy: the update state is frozen,
// or the last commit failed (the store keeps retrying it). Nil when fine.
func (s *Store) Healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen != nil {
		return s.frozen
	}
	return s.commitErr
}

func (s *Store) setCommitErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitErr = err
}

func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Store) loop() {
	defer close(s.stopped)
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	// Acks and update state are safe to persist late (a late ack means a
	// redelivery after a crash, a late state a replayed update that the
	// outbox drops), so they do not cost a commit of their own: they ride
	// along with the next commit of events, or this timer flushes them.
	lazy := time.NewTicker(LazyFlush)
	defer lazy.Stop()
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 10*time.Millisecond, 5*time.Second, 0
	for {
		select {
		case <-s.kick:
		case <-lazy.C:
		case <-prune.C:
			if err := s.prune(); err != nil {
				s.log.Warn("prune event IDs", zap.Error(err))
			}
			continue
		case <-s.stop:
			if err := s.commit(); err != nil {
				s.log.Error("final commit failed", zap.Error(err))
			}
			return
		}
		err := s.commit()
		s.setCommitErr(err)
		if err != nil {
			s.log.Error("commit failed, will retry", zap.Error(err))
			select {
			case <-time.After(retry.NextBackOff()):
			case <-s.stop:
			}
			s.signal()
			continue
		}
		retry.Reset()
	}
}

type batch struct {
	adds     []pendingAdd
	acks     []string
	rewrites []Record
	deads    []Record
	states   map[int64]updates.State
	chans    map[chanKey]chanState
}

func (b *batch) empty() bool {
	return len(b.adds)+len(b.acks)+len(b.rewrites)+len(b.deads)+len(b.states)+len(b.chans) == 0
}

// take moves everything queued into a batch. State is snapshotted under the
// same lock as the adds, so it never covers an update whose event is not in
// this batch or an earlier one.
func (s *Store) take() *batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &batch{adds: s.adds, acks: s.acks, rewrites: s.rewrites, deads: s.deads}
	s.adds, s.acks, s.rewrites, s.deads = nil, nil, nil, nil
	if len(s.dirtyStates) > 0 {
		b.states = make(map[int64]updates.State, len(s.dirtyStates))
		for id := range s.dirtyStates {
			b.states[id] = s.states[id]
		}
		clear(s.dirtyStates)
	}
	if len(s.dirtyChans) > 0 {
		b.chans = make(map[chanKey]chanState, len(s.dirtyChans))
		for k := range s.dirtyChans {
			b.chans[k] = s.channels[k]
		}
		clear(s.dirtyChans)
	}
	return b
}

// putBack requeues a failed batch in front of what arrived meanwhile.
func (s *Store) putBack(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adds = append(b.adds, s.adds...)
	s.acks = append(b.acks, s.acks...)
	s.rewrites = append(b.rewrites, s.rewrites...)
	s.deads = append(b.deads, s.deads...)
	for id := range b.states {
		s.dirtyStates[id] = true
	}
	for k := range b.chans {
		s.dirtyChans[k] = true
	}
}

func (s *Store) commit() error {
	b := s.take()
	if b.empty() {
		return nil
	}
	start := time.Now()
	var added []Record
	var delta int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		w := &commitTx{tx: tx, events: tx.Bucket([]byte(bucketEvents)), ids: tx.Bucket([]byte(bucketIDs)),
			byBot: tx.Bucket([]byte(bucketByBot))}
		for _, step := range []func(*batch) error{w.adds, w.rewrites, w.acks, w.deads, w.states} {
			if err := step(b); err != nil {
				return err
			}
		}
		added, delta = w.added, w.delta
		return nil
	})
	if err != nil {
		s.putBack(b)
		return fmt.Errorf("commit outbox: %w", err)
	}
	s.depth.Add(delta)
	s.db.Trim() // a commit of many acknowledgements reads pages all over the file
	s.mu.Lock()
	for _, a := range b.adds {
		delete(s.pendingIDs, a.rec.Event.ID)
	}
	s.mu.Unlock()
	if s.opts.ObserveCommit != nil {
		s.opts.ObserveCommit(time.Since(start), len(b.adds)+len(b.acks)+len(b.rewrites)+len(b.deads))
	}
	if len(added) > 0 && s.opts.OnCommit != nil {
		s.opts.OnCommit(added)
	}
	for _, a := range b.adds {
		if a.done != nil {
			a.done <- nil
		}
	}
	return nil
}

// commitTx applies one batch inside a bbolt transaction, one method per
// kind of operation; delta is the change of the queue's depth.
type commitTx struct {
	tx                 *bolt.Tx
	events, ids, byBot *bolt.Bucket
	added              []Record
	delta              int64
}

// seqOf finds the record of an event ID, if it is still queued: its key
// in the events bucket and its key in the per-bot index.
func (w *commitTx) seqOf(id string) (key, botKey []byte, ok bool) {
	v := w.ids.Get([]byte(id))
	if len(v) != idValueLen || w.events.Get(v[:8]) == nil {
		return nil, nil, false
	}
	key = append([]byte(nil), v[:8]...)
	return key, append(append([]byte(nil), v[16:24]...), key...), true
}

// dequeue deletes a queued record and its index entry.
func (w *commitTx) dequeue(key, botKey []byte) error {
	if err := w.events.Delete(key); err != nil {
		return fmt.Errorf("delete event: %w", err)
	}
	if err := w.byBot.Delete(botKey); err != nil {
		return fmt.Errorf("delete event index: %w", err)
	}
	w.delta--
	return nil
}

// adds queues new events (a replayed update's are already known by ID).
func (w *commitTx) adds(b *batch) error {
	var last uint64
	for _, a := range b.adds {
		last = max(last, a.rec.Seq)
		if w.ids.Get([]byte(a.rec.Event.ID)) != nil {
			continue // a replayed update: already queued or delivered
		}
		r := a.rec
		if err := storage.Put(w.tx, bucketEvents, storage.Uint64Key(r.Seq), r); err != nil {
			return err
		}
		if err := putIDs(w.ids, w.byBot, r); err != nil {
			return err
		}
		if a.out != nil {
			*a.out = r
		}
		w.added = append(w.added, r)
		w.delta++
	}
	return keepSequence(w.events, last)
}

// rewrites stores the new attempt counts of events still queued.
func (w *commitTx) rewrites(b *batch) error {
	for _, r := range b.rewrites {
		key, _, ok := w.seqOf(r.Event.ID)
		if !ok {
			continue // acked or dead meanwhile
		}
		r.Seq = storage.KeyUint64(key)
		if err := storage.Put(w.tx, bucketEvents, key, r); err != nil {
			return err
		}
	}
	return nil
}

// acks deletes delivered events (their IDs stay, to drop replays).
func (w *commitTx) acks(b *batch) error {
	for _, id := range b.acks {
		key, botKey, ok := w.seqOf(id)
		if !ok {
			continue
		}
		if err := w.dequeue(key, botKey); err != nil {
			return err
		}
	}
	return nil
}

// deads moves events to the dead letters.
func (w *commitTx) deads(b *batch) error {
	for _, r := range b.deads {
		if key, botKey, ok := w.seqOf(r.Event.ID); ok {
			r.Seq = storage.KeyUint64(key)
			if err := w.dequeue(key, botKey); err != nil {
				return err
			}
		}
		if err := storage.Put(w.tx, bucketDead, []byte(r.Event.ID), r); err != nil {
			return err
		}
	}
	return nil
}

// states stores the update states (account and channels) of the batch:
// in the same transaction as its events, so the state on disk never passes
// an event that is not.
func (w *commitTx) states(b *batch) error {
	for id, st := range b.states {
		if err := storage.Put(w.tx, bucketState, storage.Uint64Key(uint64(id)), st); err != nil {
			return err
		}
	}
	for k, cs := range b.chans {
		if err := storage.Put(w.tx, bucketChannels, chanKeyBytes(k), cs); err != nil {
			return err
		}
	}
	return nil
}

// keepSequence makes the bucket's sequence at least last, so that a
// restart hands out numbers after every one used.
func keepSequence(events *bolt.Bucket, last uint64) error {
	if last <= events.Sequence() {
		return nil
	}
	if err := events.SetSequence(last); err != nil {
		return fmt.Errorf("set sequence: %w", err)
	}
	return nil
}

// nextSeq hands out a sequence number.
func (s *Store) nextSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

// idValueLen is the length of a value in the event IDs bucket.
const idValueLen = 24

func idValue(seq uint64, created time.Time, bot int64) []byte {
	v := make([]byte, idValueLen)
	binary.BigEndian.PutUint64(v, seq)
	binary.BigEndian.PutUint64(v[8:], uint64(created.UnixNano()))
	binary.BigEndian.PutUint64(v[16:], uint64(bot))
	return v
}

func chanKeyBytes(k chanKey) []byte {
	return append(storage.Uint64Key(uint64(k.user)), storage.Uint64Key(uint64(k.channel))...)
}

// prune forgets the IDs of events that left the outbox more than DedupTTL ago.
func (s *Store) prune() error {
	cutoff := s.opts.Now().Add(-s.opts.DedupTTL).UnixNano()
	return s.db.Update(func(tx *bolt.Tx) error {
		events, ids := tx.Bucket([]byte(bucketEvents)), tx.Bucket([]byte(bucketIDs))
		var drop [][]byte
		err := ids.ForEach(func(k, v []byte) error {
			if len(v) < 16 || int64(binary.BigEndian.Uint64(v[8:16])) > cutoff {
				return nil
			}
			if events.Get(v[:8]) != nil {
				return nil // still queued
			}
			drop = append(drop, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := ids.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Pending returns all the queued events in sequence order.
func (s *Store) Pending() ([]Record, error) { return s.Page(0, math.MaxInt) }

// Page returns at most n queued events with a sequence number above after,
// in sequence order: delivery reads a long backlog a window at a time
// instead of holding all of it in memory.
func (s *Store) Page(after uint64, n int) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketEvents)).Cursor()
		for k, _ := c.Seek(storage.Uint64Key(after + 1)); k != nil && len(out) < n; k, _ = c.Next() {
			var r Record
			if err := storage.Get(tx, bucketEvents, k, &r); err != nil {
				return err
			}
			r.Seq = storage.KeyUint64(k)
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

// DeadLetters lists the dead letters sorted by event ID, at most limit
// (0 = all).
func (s *Store) DeadLetters(limit int) ([]Record, error) {
	out := []Record{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketDead)).Cursor()
		for k, _ := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
			var r Record
			if err := storage.Get(tx, bucketDead, k, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// Replay moves dead letters back into the outbox (attempts reset) and
// returns them for the caller to hand to delivery (at the end of their
// chat's queue). With no IDs it
// replays all of them. It returns the replayed records, or ErrNotFound when
// a given ID is not a dead letter.
func (s *Store) Replay(ids ...string) ([]Record, error) {
	now := s.opts.Now()
	var out []Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		dead, events := tx.Bucket([]byte(bucketDead)), tx.Bucket([]byte(bucketEvents))
		if len(ids) == 0 {
			err := dead.ForEach(func(k, _ []byte) error {
				ids = append(ids, string(k))
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, id := range ids {
			var r Record
			if err := storage.Get(tx, bucketDead, []byte(id), &r); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("%w: %s", ErrNotFound, id)
				}
				return err
			}
			seq := s.nextSeq()
			r = Record{Seq: seq, Event: r.Event, Enqueued: now}
			if err := storage.Put(tx, bucketEvents, storage.Uint64Key(seq), r); err != nil {
				return err
			}
			if err := keepSequence(events, seq); err != nil {
				return err
			}
			if err := putIDs(tx.Bucket([]byte(bucketIDs)), tx.Bucket([]byte(bucketByBot)), r); err != nil {
				return err
			}
			if err := dead.Delete([]byte(id)); err != nil {
				return fmt.Errorf("delete dead letter: %w", err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	s.depth.Add(int64(len(out)))
	return out, nil
}
