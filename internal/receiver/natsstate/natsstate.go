// Package natsstate keeps what the receiver must not lose in NATS
// JetStream instead of a local bbolt file (NATS_URL set): the events, in
// stream TG_EVENTS, and the update state of every bot (pts, qts, seq, date,
// channel states), in KV bucket tg_state.
//
// The rule of the bbolt outbox holds here too: the update state never
// passes an event that is not durable. Publish returns only once the stream
// acknowledged every event (each with its event ID as Nats-Msg-Id, so an
// update fetched twice is stored once), and the receiver's handler returns
// only after Publish: gotd's update manager moves pts after the handler
// returned, and the flusher writes the state to tg_state at most
// FlushInterval later. A crash loses at most that interval of state, and
// getDifference fetches those updates again; their events are dropped as
// duplicates by the stream.
//
// Fencing: a bot's state is written with compare-and-set on the KV
// revision. Load, called by the replica that just took the bot's lease,
// bumps the revision, so a replica that lost the lease and still tries to
// write fails and stops the bot (OnFenced).
//
// Limitations:
//   - The stream drops duplicates within DuplicateWindow; an update fetched
//     again later (after a longer outage) is stored twice, with the same
//     event ID (consumers dedupe by ID).
//   - The state of a bot that is not Loaded cannot be read or written: only
//     the lease holder runs the bot's update manager.
package natsstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gotd/td/telegram/updates"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Names in NATS.
const (
	// Stream holds the events, subjects tg.events.<bot_id>.<chat_id>.
	Stream = "TG_EVENTS"
	// SubjectPrefix is the first two tokens of the events' subjects.
	SubjectPrefix = "tg.events"
	// Bucket holds the update state of each bot, key = bot ID.
	Bucket = "tg_state"
	// HeaderType carries the event's type (message, callback_query, ...).
	HeaderType = "Tg-Event-Type"
)

// Defaults of Options.
const (
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultMaxAge          = 7 * 24 * time.Hour
	DefaultFlushInterval   = 100 * time.Millisecond
)

// ErrNotActive is returned for a bot this replica does not hold (not
// Loaded, or Unloaded).
var ErrNotActive = errors.New("bot not active on this replica")

// ErrFrozen is returned for the events of a bot after one of its events
// could not be published: nothing after it may be published by this
// replica.
var ErrFrozen = errors.New("update state frozen after a failed publish")

// ErrFenced is returned once another replica moved a bot's state: this
// replica lost the bot.
var ErrFenced = errors.New("update state moved by another replica (lease lost)")

// Options of a Store. The zero value means the defaults.
type Options struct {
	// DuplicateWindow is the stream's window for dropping events by ID
	// [10 min].
	DuplicateWindow time.Duration
	// MaxAge is how long events stay in the stream [7 days].
	MaxAge time.Duration
	// FlushInterval is how often changed states are written [100 ms].
	FlushInterval time.Duration
	// OnFenced is called when this replica must give a bot up: its state
	// write was refused because another replica moved it (from the
	// flusher), or one of its events could not be published (from
	// Publish). The bot's next holder fetches the updates again from the
	// state in tg_state.
	OnFenced func(bot int64)
	// Also, when set, names a second stream every event is published to
	// (the delivery partitions of DRIVER=http): Publish returns once both
	// streams hold the event, so the state never passes an event missing
	// from either, and each stream receives a chat's events in order.
	Also *Target
	// Logger; nil means none.
	Logger *zap.Logger
}

// Target is a stream events are published to besides TG_EVENTS.
type Target struct {
	// Stream must hold Subject(ev): the publish expects it.
	Stream string
	// Subject is the subject of an event in Stream.
	Subject func(ev *event.Event) string
}

func (o *Options) setDefaults() {
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	o.MaxAge = max(o.MaxAge, o.DuplicateWindow)
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.OnFenced == nil {
		o.OnFenced = func(int64) {}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// chanState is one channel's state in a bot's value.
type chanState struct {
	Pts        int   `json:"pts,omitempty"`
	AccessHash int64 `json:"access_hash,omitempty"`
	HasPts     bool  `json:"has_pts,omitempty"`
	HasHash    bool  `json:"has_hash,omitempty"`
}

// Value is a bot's entry in tg_state.
type Value struct {
	Has      bool                `json:"has"`
	Pts      int                 `json:"pts"`
	Qts      int                 `json:"qts"`
	Date     int                 `json:"date"`
	Seq      int                 `json:"seq"`
	Channels map[int64]chanState `json:"channels,omitempty"`
}

// botState is a Loaded bot.
type botState struct {
	v       Value
	rev     uint64 // KV revision of the last write or read; 0 = absent
	gen     uint64 // changes of v
	flushed uint64 // gen of the last successful write
	frozen  error  // an event could not be published: pts must not move
	fenced  bool
}

// Store is the events stream and the update states of the bots this
// replica holds. It implements updates.StateStorage and
// updates.ChannelAccessHasher for gotd's update manager.
type Store struct {
	conn   *natsx.Conn
	kv     jetstream.KeyValue
	stream jetstream.Stream
	opts   Options
	log    *zap.Logger

	mu       sync.Mutex
	bots     map[int64]*botState
	flushErr error
}

var (
	_ updates.StateStorage        = (*Store)(nil)
	_ updates.ChannelAccessHasher = (*Store)(nil)
)

// Open creates (or updates) the stream and the bucket.
func Open(ctx context.Context, conn *natsx.Conn, opts Options) (*Store, error) {
	opts.setDefaults()
	stream, err := conn.Stream(ctx, StreamConfig(opts))
	if err != nil {
		return nil, err
	}
	kv, err := conn.KV(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "receiver: update state (pts/qts/seq/date, channels) per bot",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, err
	}
	return &Store{conn: conn, kv: kv, stream: stream, opts: opts, log: opts.Logger.Named("natsstate"),
		bots: map[int64]*botState{}}, nil
}

// StreamConfig is TG_EVENTS's configuration.
func StreamConfig(opts Options) jetstream.StreamConfig {
	opts.setDefaults()
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "receiver: events of every bot, subjects tg.events.<bot_id>.<chat_id>, Nats-Msg-Id = event ID",
		Subjects:    []string{SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      opts.MaxAge,
		Duplicates:  opts.DuplicateWindow,
	}
}

// Subject is the subject of ev: tg.events.<bot_id>.<chat_id> (chat 0 when
// the event has no chat).
func Subject(ev *event.Event) string {
	return SubjectPrefix + "." + strconv.FormatInt(ev.BotID, 10) + "." + strconv.FormatInt(ev.ChatID(), 10)
}

// key is a bot's key in tg_state.
func key(bot int64) string { return strconv.FormatInt(bot, 10) }

// Stream returns TG_EVENTS.
func (s *Store) Stream() jetstream.Stream { return s.stream }

// Publish stores evs in TG_EVENTS, one after the other (a retried publish
// never overtakes a later one of the same chat), each retried until the
// stream acknowledged it or ctx ends. Events of a bot that is not active
// here, or whose state is frozen or fenced, are refused; an event that
// cannot be published freezes its bot (see freeze).
func (s *Store) Publish(ctx context.Context, evs ...event.Event) error {
	for i := range evs {
		if err := s.check(evs[i].BotID); err != nil {
			return err
		}
		if err := s.publish(ctx, &evs[i]); err != nil {
			s.freeze(evs[i].BotID, err)
			return err
		}
	}
	return nil
}

// freeze stops bot's state and events at an event that could not be
// published, and gives the bot up. gotd's update manager moves pts past
// updates whose handler failed (getDifference sets the new state whatever
// the handler said): without the freeze a later update of a chat would be
// published before the failed one, which only the next holder fetches
// again.
func (s *Store) freeze(bot int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[bot]
	if b == nil || b.frozen != nil {
		return
	}
	b.frozen = err
	s.log.Warn("an event could not be published: giving the bot up", zap.Int64("bot_id", bot), zap.Error(err))
	go s.opts.OnFenced(bot)
}

// check refuses events of a bot this replica does not hold.
func (s *Store) check(bot int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[bot]
	switch {
	case b == nil:
		return ErrNotActive
	case b.fenced:
		return ErrFenced
	case b.frozen != nil:
		return fmt.Errorf("%w: %w", ErrFrozen, b.frozen)
	}
	return nil
}

func (s *Store) publish(ctx context.Context, ev *event.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	also := s.opts.Also
	if also == nil {
		return s.publishTo(ctx, Stream, Subject(ev), ev, data)
	}
	// Both at once: each stream still receives a chat's events in order,
	// since the next event waits for both.
	errc := make(chan error, 1)
	go func() { errc <- s.publishTo(ctx, also.Stream, also.Subject(ev), ev, data) }()
	err = s.publishTo(ctx, Stream, Subject(ev), ev, data)
	return errors.Join(err, <-errc)
}

// publishTo stores ev in stream under subject, retrying until the stream
// acknowledged it or ctx ends.
func (s *Store) publishTo(ctx context.Context, stream, subject string, ev *event.Event, data []byte) error {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(HeaderType, string(ev.Type))
	wait := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.conn.JS.PublishMsg(actx, msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(stream))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish %s to %s: %w", ev.ID, stream, err)
		}
		s.log.Warn("publish failed, retrying", zap.String("event_id", ev.ID), zap.String("stream", stream),
			zap.Duration("in", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish %s to %s: %w", ev.ID, stream, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// Load reads bot's state from tg_state and makes this replica its writer:
// an existing value is rewritten as is, so its revision moves and a
// replica that held the bot before can no longer write it.
func (s *Store) Load(ctx context.Context, bot int64) error {
	b := &botState{}
	e, err := s.kv.Get(ctx, key(bot))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("load state of %d: %w", bot, err)
	default:
		if err := json.Unmarshal(e.Value(), &b.v); err != nil {
			return fmt.Errorf("load state of %d: %w", bot, err)
		}
		if b.rev, err = s.kv.Update(ctx, key(bot), e.Value(), e.Revision()); err != nil {
			return fmt.Errorf("claim state of %d: %w", bot, err)
		}
	}
	s.mu.Lock()
	s.bots[bot] = b
	s.mu.Unlock()
	return nil
}

// Unload writes bot's last state (unless fenced) and forgets it.
func (s *Store) Unload(ctx context.Context, bot int64) {
	s.flushBot(ctx, bot)
	s.mu.Lock()
	delete(s.bots, bot)
	s.mu.Unlock()
}

// Forget drops bot without writing its state: the lease was lost and
// another replica may already hold it.
func (s *Store) Forget(bot int64) {
	s.mu.Lock()
	delete(s.bots, bot)
	s.mu.Unlock()
}

// Active reports whether bot is Loaded and not fenced.
func (s *Store) Active(bot int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[bot]
	return b != nil && !b.fenced
}

// Fail freezes the state of every loaded bot (an event could not be
// published): pts and qts stop moving, so that after a restart or a
// takeover getDifference fetches the update again.
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bots {
		if b.frozen == nil {
			b.frozen = err
		}
	}
}

// Healthy returns why the store is unhealthy: a frozen state, the last
// state write failed, or NATS is disconnected. Nil when fine.
func (s *Store) Healthy() error {
	if !s.conn.NC.IsConnected() {
		return errors.New("nats disconnected")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bots {
		if b.frozen != nil {
			return fmt.Errorf("update state frozen: %w", b.frozen)
		}
	}
	return s.flushErr
}

// Run writes changed states every FlushInterval until ctx ends, then once
// more.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.flushAll(fctx)
			cancel()
			return
		case <-t.C:
		}
		s.flushAll(ctx)
	}
}

// Flush writes changed states now.
func (s *Store) Flush(ctx context.Context) { s.flushAll(ctx) }

func (s *Store) flushAll(ctx context.Context) {
	s.mu.Lock()
	ids := make([]int64, 0, len(s.bots))
	for id, b := range s.bots {
		if b.gen != b.flushed && !b.fenced {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.flushBot(ctx, id)
	}
}

// flushBot writes bot's state if it changed, compare-and-set on the
// revision it last wrote or read.
func (s *Store) flushBot(ctx context.Context, bot int64) {
	s.mu.Lock()
	b := s.bots[bot]
	if b == nil || b.fenced || b.gen == b.flushed {
		s.mu.Unlock()
		return
	}
	gen, rev := b.gen, b.rev
	data, err := json.Marshal(b.v)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("encode state", zap.Int64("bot_id", bot), zap.Error(err))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var nrev uint64
	if rev == 0 {
		nrev, err = s.kv.Create(ctx, key(bot), data)
	} else {
		nrev, err = s.kv.Update(ctx, key(bot), data, rev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bots[bot] != b {
		return // unloaded meanwhile
	}
	switch {
	case err == nil:
		b.rev, b.flushed, s.flushErr = nrev, gen, nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists):
		b.fenced = true
		s.log.Warn("update state moved by another replica: giving the bot up", zap.Int64("bot_id", bot))
		go s.opts.OnFenced(bot)
	default:
		s.flushErr = fmt.Errorf("write update state: %w", err)
		s.log.Warn("write update state", zap.Int64("bot_id", bot), zap.Error(err))
	}
}

// GetState implements updates.StateStorage.
func (s *Store) GetState(_ context.Context, userID int64) (updates.State, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[userID]
	if b == nil {
		return updates.State{}, false, ErrNotActive
	}
	return updates.State{Pts: b.v.Pts, Qts: b.v.Qts, Date: b.v.Date, Seq: b.v.Seq}, b.v.Has, nil
}

// SetState implements updates.StateStorage. A bot's first state (taken
// from the server) is written at once: were its holder to die before the
// flusher ran, the next holder would find no state and start from the
// server's state of then, missing the updates in between.
func (s *Store) SetState(ctx context.Context, userID int64, st updates.State) error {
	s.mu.Lock()
	b := s.bots[userID]
	first := b != nil && !b.v.Has && b.rev == 0
	s.mu.Unlock()
	if err := s.set(userID, true, true, func(v *Value) { v.Pts, v.Qts, v.Date, v.Seq = st.Pts, st.Qts, st.Date, st.Seq }); err != nil {
		return err
	}
	if first {
		s.flushBot(ctx, userID)
	}
	return nil
}

// SetPts implements updates.StateStorage.
func (s *Store) SetPts(_ context.Context, userID int64, pts int) error {
	return s.set(userID, false, true, func(v *Value) { v.Pts = pts })
}

// SetQts implements updates.StateStorage.
func (s *Store) SetQts(_ context.Context, userID int64, qts int) error {
	return s.set(userID, false, true, func(v *Value) { v.Qts = qts })
}

// SetDate implements updates.StateStorage.
func (s *Store) SetDate(_ context.Context, userID int64, date int) error {
	return s.set(userID, false, false, func(v *Value) { v.Date = date })
}

// SetSeq implements updates.StateStorage.
func (s *Store) SetSeq(_ context.Context, userID int64, seq int) error {
	return s.set(userID, false, false, func(v *Value) { v.Seq = seq })
}

// SetDateSeq implements updates.StateStorage.
func (s *Store) SetDateSeq(_ context.Context, userID int64, date, seq int) error {
	return s.set(userID, false, false, func(v *Value) { v.Date, v.Seq = date, seq })
}

var errNoState = errors.New("update state not found")

// writable returns userID's state if this replica may change it (under
// s.mu): loaded, not fenced, and not frozen when the change moves pts.
func (s *Store) writable(userID int64, movesPts bool) (*botState, error) {
	b := s.bots[userID]
	switch {
	case b == nil:
		return nil, ErrNotActive
	case b.fenced:
		return nil, ErrFenced
	case movesPts && b.frozen != nil:
		return nil, fmt.Errorf("update state frozen: %w", b.frozen)
	}
	return b, nil
}

// set applies f to userID's state. create allows a missing state; a
// frozen state refuses what moves pts or qts; a fenced one refuses all.
func (s *Store) set(userID int64, create, movesPts bool, f func(*Value)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.writable(userID, movesPts)
	if err != nil {
		return err
	}
	if !b.v.Has && !create {
		return errNoState
	}
	f(&b.v)
	b.v.Has = true
	b.gen++
	return nil
}

// GetChannelPts implements updates.StateStorage.
func (s *Store) GetChannelPts(_ context.Context, userID, channelID int64) (int, bool, error) {
	cs, ok, err := s.channel(userID, channelID)
	return cs.Pts, ok && cs.HasPts, err
}

// channel returns the state of a channel of a loaded bot.
func (s *Store) channel(userID, channelID int64) (chanState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[userID]
	if b == nil {
		return chanState{}, false, ErrNotActive
	}
	cs, ok := b.v.Channels[channelID]
	return cs, ok, nil
}

// SetChannelPts implements updates.StateStorage.
func (s *Store) SetChannelPts(_ context.Context, userID, channelID int64, pts int) error {
	return s.setChannel(userID, channelID, true, func(cs *chanState) { cs.Pts, cs.HasPts = pts, true })
}

// SetChannelAccessHash implements updates.ChannelAccessHasher.
func (s *Store) SetChannelAccessHash(_ context.Context, userID, channelID, accessHash int64) error {
	return s.setChannel(userID, channelID, false, func(cs *chanState) { cs.AccessHash, cs.HasHash = accessHash, true })
}

func (s *Store) setChannel(userID, channelID int64, movesPts bool, f func(*chanState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.writable(userID, movesPts)
	if err != nil {
		return err
	}
	if b.v.Channels == nil {
		b.v.Channels = map[int64]chanState{}
	}
	cs := b.v.Channels[channelID]
	f(&cs)
	b.v.Channels[channelID] = cs
	b.gen++
	return nil
}

// GetChannelAccessHash implements updates.ChannelAccessHasher.
func (s *Store) GetChannelAccessHash(_ context.Context, userID, channelID int64) (int64, bool, error) {
	cs, ok, err := s.channel(userID, channelID)
	return cs.AccessHash, ok && cs.HasHash, err
}

// ForEachChannels implements updates.StateStorage.
func (s *Store) ForEachChannels(ctx context.Context, userID int64, f func(ctx context.Context, channelID int64, pts int) error) error {
	s.mu.Lock()
	b := s.bots[userID]
	if b == nil {
		s.mu.Unlock()
		return ErrNotActive
	}
	type item struct {
		id  int64
		pts int
	}
	var items []item
	for id, cs := range b.v.Channels {
		if cs.HasPts {
			items = append(items, item{id, cs.Pts})
		}
	}
	s.mu.Unlock()
	for _, it := range items {
		if err := f(ctx, it.id, it.pts); err != nil {
			return err
		}
	}
	return nil
}

// Read returns bot's state as stored in tg_state and its revision
// (ErrKeyNotFound-wrapped error when absent); for operators and tests.
func Read(ctx context.Context, kv jetstream.KeyValue, bot int64) (Value, uint64, error) {
	e, err := kv.Get(ctx, key(bot))
	if err != nil {
		return Value{}, 0, fmt.Errorf("read state of %d: %w", bot, err)
	}
	var v Value
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return Value{}, 0, fmt.Errorf("read state of %d: %w", bot, err)
	}
	return v, e.Revision(), nil
}

// KV returns tg_state.
func (s *Store) KV() jetstream.KeyValue { return s.kv }
