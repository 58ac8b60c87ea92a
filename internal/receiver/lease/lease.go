// Package lease decides which receiver replica takes the updates of which
// bot (NATS_URL set): one lease per bot in KV bucket tg_leases, whose
// bucket TTL (RECEIVER_LEASE_TTL) ends a lease its holder stopped renewing.
// Telegram may lose updates of a bot with several receiving sessions, so
// only the holder runs the bot's client; the other replicas are standbys.
//
// Keys: <bot_id> = the holder's replica ID (created with compare-and-set,
// renewed with compare-and-set on the revision every TTL/3), and
// replica.<replica_id> = a heartbeat of each live replica, so every replica
// knows how many share the bots. A replica takes a free lease only while it
// holds fewer than its fair share (bots / live replicas, rounded up), and
// gives one back (after its bot stopped cleanly) while it holds more: with
// many bots the leases spread evenly, and a replica that joins gets its
// share without a restart.
//
// A watch on the bucket tells each replica when a lease is deleted, or
// (no renewal seen for a TTL) expired; it then tries to create it, so a
// standby takes over within TTL plus one tick (Tick) of the holder's death.
//
// A holder that cannot renew (NATS unreachable) gives the lease up on its
// own once TTL - TTL/4 passed since its last renewal was sent, before the
// server lets anyone else take it. The compare-and-set of the update state
// (internal/receiver/natsstate) fences whatever slips through.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/natsx"
)

// Bucket is the KV bucket of the leases.
const Bucket = "tg_leases"

const replicaPrefix = "replica."

// ErrLost is the cause of a term that ended because the lease was lost.
var ErrLost = errors.New("lease lost")

// ErrRebalance is the cause of a term ended to give the lease to a replica
// with fewer bots.
var ErrRebalance = errors.New("lease given back to spread the bots over the replicas")

// Config of a Manager.
type Config struct {
	// TTL of a lease that is not renewed (RECEIVER_LEASE_TTL) [10 s].
	TTL time.Duration
	// Replica is this replica's ID [host name and a random suffix].
	Replica string
	// Tick is how often free leases are looked for [min(TTL/8, 250 ms)].
	Tick time.Duration
	// Logger; nil means none.
	Logger *zap.Logger
}

// entry is one bot this replica wants.
type entry struct {
	held      bool
	rev       uint64
	sent      time.Time // when the last successful create or renewal was sent
	term      context.Context
	cancel    context.CancelCauseFunc
	acquired  chan struct{} // closed when held
	releasing bool          // term ended to rebalance: delete the key on Yield
	since     time.Time     // when it was acquired
}

// seen is what the watch last saw of a key.
type seen struct {
	value string
	at    time.Time
	gone  bool
}

// Manager holds and renews this replica's leases.
type Manager struct {
	kv  jetstream.KeyValue
	cfg Config
	log *zap.Logger

	mu        sync.Mutex
	want      map[int64]*entry
	view      map[string]seen
	lastGive  time.Time
	replicaHB time.Time
	kick      chan struct{}
}

// New creates (or updates) the bucket.
func New(ctx context.Context, conn *natsx.Conn, cfg Config) (*Manager, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = min(cfg.TTL/8, 250*time.Millisecond)
	}
	if cfg.Replica == "" {
		cfg.Replica = NewReplicaID()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	kv, err := conn.KV(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "receiver: which replica takes the updates of each bot",
		History:     1,
		TTL:         cfg.TTL,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, err
	}
	return &Manager{kv: kv, cfg: cfg, log: cfg.Logger.Named("lease").With(zap.String("replica", cfg.Replica)),
		want: map[int64]*entry{}, view: map[string]seen{}, kick: make(chan struct{}, 1)}, nil
}

// Replica is this replica's ID.
func (m *Manager) Replica() string { return m.cfg.Replica }

// TTL is the leases' TTL.
func (m *Manager) TTL() time.Duration { return m.cfg.TTL }

func key(bot int64) string { return strconv.FormatInt(bot, 10) }

// Acquire waits until this replica holds bot's lease and returns the term:
// a context cancelled (cause ErrLost or ErrRebalance) when the lease is
// lost or to be given back. After the term ended, or to stop using the
// bot, the caller calls Yield.
func (m *Manager) Acquire(ctx context.Context, bot int64) (context.Context, error) {
	m.mu.Lock()
	e := m.want[bot]
	if e == nil {
		e = &entry{acquired: make(chan struct{})}
		m.want[bot] = e
	}
	if e.held {
		m.mu.Unlock()
		return e.term, nil
	}
	ch := e.acquired
	m.mu.Unlock()
	m.poke()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ch:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !e.held {
		return nil, ErrLost
	}
	return e.term, nil
}

// Yield gives bot's lease back when this replica still holds it (deleting
// the key, so a standby takes it at once) and ends the term. The bot stays
// wanted: a later Acquire competes for it again.
func (m *Manager) Yield(ctx context.Context, bot int64) {
	e, rev := m.heldEntry(bot)
	if e == nil {
		return
	}
	m.mu.Lock()
	if e.rev != rev || !e.held {
		m.mu.Unlock()
		return
	}
	m.dropLocked(e, ErrLost)
	m.mu.Unlock()
	if err := m.kv.Delete(ctx, key(bot), jetstream.LastRevision(rev)); err != nil &&
		!errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		m.log.Warn("give the lease back", zap.Int64("bot_id", bot), zap.Error(err))
	}
}

// heldEntry returns bot's entry and revision if this replica holds it.
func (m *Manager) heldEntry(bot int64) (*entry, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.want[bot]
	if e == nil || !e.held {
		return nil, 0
	}
	return e, e.rev
}

// Forget stops wanting bot (removed, or the service stops): its lease is
// given back.
func (m *Manager) Forget(ctx context.Context, bot int64) {
	m.Yield(ctx, bot)
	m.mu.Lock()
	delete(m.want, bot)
	m.mu.Unlock()
}

// Lost ends bot's term at once without touching the key: another replica
// holds it now (its update state was fenced).
func (m *Manager) Lost(bot int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.want[bot]; e != nil && e.held {
		m.dropLocked(e, ErrLost)
	}
}

// dropLocked marks e not held and ends its term.
func (m *Manager) dropLocked(e *entry, cause error) {
	e.held, e.releasing = false, false
	e.acquired = make(chan struct{})
	if e.cancel != nil {
		e.cancel(cause)
	}
}

// Holds reports whether this replica holds bot's lease.
func (m *Manager) Holds(bot int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.want[bot]
	return e != nil && e.held
}

// Holder is the replica that holds bot's lease as this replica last saw
// it ("" when nobody does).
func (m *Manager) Holder(bot int64) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.want[bot]; e != nil && e.held {
		return m.cfg.Replica
	}
	if v, ok := m.view[key(bot)]; ok && !m.expiredLocked(v, time.Now()) {
		return v.value
	}
	return ""
}

// Replicas is the number of live replicas this replica sees (itself
// included).
func (m *Manager) Replicas() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.replicasLocked(time.Now())
}

func (m *Manager) replicasLocked(now time.Time) int {
	n := 0
	for k, v := range m.view {
		if strings.HasPrefix(k, replicaPrefix) && !m.expiredLocked(v, now) {
			n++
		}
	}
	return max(n, 1)
}

func (m *Manager) expiredLocked(v seen, now time.Time) bool {
	return v.gone || now.Sub(v.at) > m.cfg.TTL
}

func (m *Manager) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run watches the bucket and keeps the leases until ctx ends; then it
// gives every held lease back.
func (m *Manager) Run(ctx context.Context) error {
	w, err := m.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", Bucket, err)
	}
	defer func() { _ = w.Stop() }()
	t := time.NewTicker(m.cfg.Tick)
	defer t.Stop()
	defer m.giveAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("lease watch ended")
			}
			if e != nil {
				m.observe(e)
			}
			continue
		case <-t.C:
		case <-m.kick:
		}
		m.tick(ctx)
	}
}

func (m *Manager) observe(e jetstream.KeyValueEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at := time.Now()
	if c := e.Created(); at.Sub(c) > m.cfg.TTL {
		at = c // an old value from the watch's first pass
	}
	m.view[e.Key()] = seen{value: string(e.Value()), at: at, gone: e.Operation() != jetstream.KeyValuePut}
}

// giveAll deletes the keys of the held leases (shutdown).
func (m *Manager) giveAll() {
	m.mu.Lock()
	var bots []int64
	for b, e := range m.want {
		if e.held {
			bots = append(bots, b)
		}
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, b := range bots {
		m.Yield(ctx, b)
	}
	_ = m.kv.Delete(ctx, replicaPrefix+m.cfg.Replica)
}

// tick renews the held leases and the heartbeat, takes free leases up to
// the fair share, and gives one back above it.
func (m *Manager) tick(ctx context.Context) {
	// No KV call may hold the tick past the point where a lease must be
	// given up for lack of renewal.
	ctx, cancel := context.WithTimeout(ctx, m.cfg.TTL/4)
	defer cancel()
	now := time.Now()
	if now.Sub(m.replicaHB) > m.cfg.TTL/3 {
		if _, err := m.kv.Put(ctx, replicaPrefix+m.cfg.Replica, []byte(m.cfg.Replica)); err == nil {
			m.replicaHB = now
		}
	}
	m.mu.Lock()
	var renew, free []int64
	held := 0
	for b, e := range m.want {
		switch {
		case e.held:
			held++
			if now.Sub(e.sent) > m.cfg.TTL/3 {
				renew = append(renew, b)
			}
		default:
			if v, ok := m.view[key(b)]; !ok || m.expiredLocked(v, now) {
				free = append(free, b)
			}
		}
	}
	fair := (len(m.want) + m.replicasLocked(now) - 1) / m.replicasLocked(now)
	m.mu.Unlock()

	for _, b := range renew {
		m.renew(ctx, b)
	}
	for _, b := range free {
		if held >= fair {
			break
		}
		if m.create(ctx, b) {
			held++
		}
	}
	if held > fair && now.Sub(m.lastGive) > m.cfg.TTL {
		m.giveOne(now)
	}
}

func (m *Manager) create(ctx context.Context, bot int64) bool {
	sent := time.Now()
	rev, err := m.kv.Create(ctx, key(bot), []byte(m.cfg.Replica))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			m.log.Debug("take lease", zap.Int64("bot_id", bot), zap.Error(err))
		}
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.want[bot]
	if e == nil { // forgotten meanwhile
		_ = m.kv.Delete(ctx, key(bot), jetstream.LastRevision(rev))
		return false
	}
	e.held, e.rev, e.sent, e.since = true, rev, sent, sent
	e.term, e.cancel = context.WithCancelCause(context.Background())
	close(e.acquired)
	m.log.Info("lease taken", zap.Int64("bot_id", bot))
	return true
}

func (m *Manager) renew(ctx context.Context, bot int64) {
	e, rev := m.heldEntry(bot)
	if e == nil {
		return
	}
	sent := time.Now()
	nrev, err := m.kv.Update(ctx, key(bot), []byte(m.cfg.Replica), rev)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.want[bot] != e || !e.held || e.rev != rev {
		return
	}
	switch {
	case err == nil:
		e.rev, e.sent = nrev, sent
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) ||
		errors.Is(err, jetstream.ErrKeyNotFound):
		m.log.Warn("lease lost", zap.Int64("bot_id", bot), zap.Error(err))
		m.dropLocked(e, ErrLost)
	case time.Since(e.sent) > m.cfg.TTL-m.cfg.TTL/4:
		// Not renewed in time: the server may give it to another replica
		// any moment now.
		m.log.Warn("lease not renewed in time, giving it up", zap.Int64("bot_id", bot), zap.Error(err))
		m.dropLocked(e, ErrLost)
	default:
		m.log.Warn("renew lease", zap.Int64("bot_id", bot), zap.Error(err))
	}
}

// giveOne ends the term of the lease held longest, to be given back by
// Yield once its bot stopped.
func (m *Manager) giveOne(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var pick *entry
	var pickBot int64
	for b, e := range m.want {
		if e.held && !e.releasing && (pick == nil || e.since.Before(pick.since)) {
			pick, pickBot = e, b
		}
	}
	if pick == nil {
		return
	}
	m.lastGive = now
	pick.releasing = true
	pick.cancel(ErrRebalance)
	m.log.Info("giving a lease back to spread the bots", zap.Int64("bot_id", pickBot))
}

// NewReplicaID is the host name (reduced to the characters a KV key
// allows) and a random suffix: unique per process, readable in /readyz.
func NewReplicaID() string {
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range host {
		if r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("receiver")
	}
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	return b.String() + "-" + hex.EncodeToString(suffix[:])
}
