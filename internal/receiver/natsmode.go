package receiver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gotd/td/telegram/updates"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/receiver/delivery"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver/natsdriver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/lease"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsconv"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsdelivery"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsstate"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// eventStore is where the receiver puts events and the update state of
// gotd's manager: the bbolt outbox (*outbox.Store), or NATS JetStream
// (natsEvents).
type eventStore interface {
	updates.StateStorage
	updates.ChannelAccessHasher
	// Add queues events and returns the new ones at once (bbolt only).
	Add(evs ...event.Event) ([]outbox.Record, error)
	// Put stores events durably and returns the records to hand to the
	// dispatcher (none with NATS: delivery reads the stream).
	Put(ctx context.Context, evs ...event.Event) ([]outbox.Record, error)
	// Fail freezes the update state after an event could not be stored.
	Fail(err error)
	// Healthy returns why the store cannot take events, nil when it can.
	Healthy() error
	// Depth is the number of events waiting for delivery.
	Depth() int64
	DeadLetters(limit int) ([]outbox.Record, error)
	Replay(ids ...string) ([]outbox.Record, error)
}

// dispatcher delivers the records the store hands back.
type dispatcher interface {
	Push(recs []outbox.Record)
	Run(ctx context.Context) error
}

// natsMode is what the receiver runs with NATS_URL set: the connection,
// the events stream and update states (natsstate), the leases, and what
// delivers from the stream.
type natsMode struct {
	conn     *natsx.Conn
	state    *natsstate.Store
	leases   *lease.Manager
	conv     jetstream.KeyValue // tg_conv: conversations waiting for an answer
	dead     deadLetters
	delivery *natsdelivery.Delivery // nil with DRIVER=nats

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// deadLetters lists and replays dead letters (the NATS HTTP delivery's
// stream TG_DEAD).
type deadLetters interface {
	DeadLetters(limit int) ([]outbox.Record, error)
	Replay(ids ...string) ([]outbox.Record, error)
}

// errNATSUserMode: a user account has no ID before its login, and the
// leases are keyed by bot ID.
var errNATSUserMode = errors.New("NATS_URL: needs TG_BOT_TOKEN or TG_BOT_TOKENS (user mode runs without NATS)")

// openNATS connects, creates the stream and buckets, and sets the store
// and dispatcher of NATS mode.
func (s *Service) openNATS(drv driver.Driver) error {
	if s.userMode {
		return errNATSUserMode
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := natsx.Connect(ctx, s.cfg.NATS, "tgbot-receiver", s.log.Named("nats"))
	if err != nil {
		return err
	}
	n := &natsMode{conn: conn, dead: noDeadLetters{}}
	s.nats = n
	opts := natsstate.Options{
		Logger:   s.log,
		OnFenced: func(bot int64) { n.leases.Lost(bot) },
	}
	if s.cfg.Driver != natsdriver.Name {
		opts.Also = natsdelivery.Target // delivered from TG_DELIVERY's partitions
	}
	n.state, err = natsstate.Open(ctx, conn, opts)
	if err != nil {
		return err
	}
	if n.conv, err = natsconv.Open(ctx, conn, s.cfg.ConvTimeout); err != nil {
		return err
	}
	n.leases, err = lease.New(ctx, conn, lease.Config{TTL: s.cfg.LeaseTTL, Logger: s.log})
	if err != nil {
		return err
	}
	s.store = natsEvents{n}
	s.m.Registry.MustRegister(natsCollector{s})
	if s.cfg.Driver == natsdriver.Name {
		s.disp = noDispatch{} // events stay in TG_EVENTS for their consumers
		return nil
	}
	d, err := natsdelivery.Open(ctx, conn, natsdelivery.Config{
		Config: delivery.Config{
			MaxAttempts:    s.cfg.MaxAttempts,
			MaxAge:         s.cfg.MaxAge,
			InitialBackoff: s.cfg.BackoffMin,
			MaxBackoff:     s.cfg.BackoffMax,
		},
		AckWait: s.cfg.LeaseTTL, // a dead replica's deliveries move on with its bots
	}, drv, s.m, s.log)
	if err != nil {
		return err
	}
	s.disp, n.dead, n.delivery = d, d, d
	return nil
}

// run starts the state flusher and the leases; they stop in stop, after
// the bots stopped (their last state is written, their leases given back).
func (n *natsMode) run(fatal func(error)) {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.state.Run(ctx)
	}()
	go func() {
		defer n.wg.Done()
		if err := n.leases.Run(ctx); err != nil {
			fatal(fmt.Errorf("leases: %w", err))
		}
	}()
}

// stop ends what run started.
func (n *natsMode) stop() {
	if n.cancel != nil {
		n.cancel()
		n.wg.Wait()
	}
}

func (n *natsMode) close() {
	n.stop()
	n.conn.Close()
}

// natsEvents is the eventStore of NATS mode.
type natsEvents struct{ n *natsMode }

var _ eventStore = natsEvents{}

func (e natsEvents) GetState(ctx context.Context, userID int64) (updates.State, bool, error) {
	return e.n.state.GetState(ctx, userID)
}

func (e natsEvents) SetState(ctx context.Context, userID int64, state updates.State) error {
	return e.n.state.SetState(ctx, userID, state)
}

func (e natsEvents) SetPts(ctx context.Context, userID int64, pts int) error {
	return e.n.state.SetPts(ctx, userID, pts)
}

func (e natsEvents) SetQts(ctx context.Context, userID int64, qts int) error {
	return e.n.state.SetQts(ctx, userID, qts)
}

func (e natsEvents) SetDate(ctx context.Context, userID int64, date int) error {
	return e.n.state.SetDate(ctx, userID, date)
}

func (e natsEvents) SetSeq(ctx context.Context, userID int64, seq int) error {
	return e.n.state.SetSeq(ctx, userID, seq)
}

func (e natsEvents) SetDateSeq(ctx context.Context, userID int64, date, seq int) error {
	return e.n.state.SetDateSeq(ctx, userID, date, seq)
}

func (e natsEvents) GetChannelPts(ctx context.Context, userID, channelID int64) (int, bool, error) {
	return e.n.state.GetChannelPts(ctx, userID, channelID)
}

func (e natsEvents) SetChannelPts(ctx context.Context, userID, channelID int64, pts int) error {
	return e.n.state.SetChannelPts(ctx, userID, channelID, pts)
}

func (e natsEvents) ForEachChannels(ctx context.Context, userID int64, f func(ctx context.Context, channelID int64, pts int) error) error {
	return e.n.state.ForEachChannels(ctx, userID, f)
}

func (e natsEvents) SetChannelAccessHash(ctx context.Context, userID, channelID, accessHash int64) error {
	return e.n.state.SetChannelAccessHash(ctx, userID, channelID, accessHash)
}

func (e natsEvents) GetChannelAccessHash(ctx context.Context, userID, channelID int64) (int64, bool, error) {
	return e.n.state.GetChannelAccessHash(ctx, userID, channelID)
}

var errNATSAdd = errors.New("NATS mode stores events with Put only")

// Add implements eventStore: NATS mode always waits for the stream (Put).
func (natsEvents) Add(...event.Event) ([]outbox.Record, error) { return nil, errNATSAdd }

// Put implements eventStore: the events are in TG_EVENTS when it returns.
func (e natsEvents) Put(ctx context.Context, evs ...event.Event) ([]outbox.Record, error) {
	return nil, e.n.state.Publish(ctx, evs...)
}

// Fail implements eventStore: Publish already froze the bot's state.
func (natsEvents) Fail(error) {}

func (e natsEvents) Healthy() error { return e.n.state.Healthy() }

func (natsEvents) Depth() int64 { return 0 }

func (e natsEvents) DeadLetters(limit int) ([]outbox.Record, error) {
	return e.n.dead.DeadLetters(limit)
}

func (e natsEvents) Replay(ids ...string) ([]outbox.Record, error) { return e.n.dead.Replay(ids...) }

// noDispatch is the dispatcher when events stay in the stream.
type noDispatch struct{}

func (noDispatch) Push([]outbox.Record) {}

func (noDispatch) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// noDeadLetters: with DRIVER=nats the receiver delivers nothing itself.
type noDeadLetters struct{}

func (noDeadLetters) DeadLetters(int) ([]outbox.Record, error) { return nil, nil }

func (noDeadLetters) Replay(ids ...string) ([]outbox.Record, error) {
	if len(ids) > 0 {
		return nil, outbox.ErrNotFound
	}
	return nil, nil
}

// runLeased runs the bot while this replica holds its lease: it waits for
// the lease (standby), loads the bot's update state, runs the client until
// the term ends (lease lost, given back, or ctx ended), writes the state
// and gives the lease back, and waits again.
func (b *bot) runLeased(ctx context.Context, fatal func(*bot, error)) {
	n := b.s.nats
	id := b.token.ID()
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n.leases.Forget(fctx, id)
	}()
	for {
		b.active.Store(false)
		term, err := n.leases.Acquire(ctx, id)
		if err != nil {
			return
		}
		runCtx, cancel := context.WithCancel(ctx)
		stopOnTerm := context.AfterFunc(term, cancel)
		if err := n.state.Load(runCtx, id); err != nil {
			b.log.Warn("load update state", zap.Error(err))
			stopOnTerm()
			cancel()
			n.leases.Yield(context.Background(), id)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		b.log.Info("lease taken: receiving", zap.String("replica", n.leases.Replica()))
		b.active.Store(true)
		b.wasReady.Store(false)
		stop := b.runClient(runCtx, fatal)
		b.active.Store(false)
		stopOnTerm()
		cancel()
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if n.leases.Holds(id) {
			n.state.Unload(fctx, id)
		} else {
			n.state.Forget(id)
		}
		n.leases.Yield(fctx, id)
		fcancel()
		b.log.Info("standby", zap.NamedError("cause", context.Cause(term)))
		if stop || ctx.Err() != nil {
			return
		}
	}
}

// role is the bot's role on this replica for /readyz and /metrics.
func (b *bot) role() string {
	if b.s.nats == nil || b.active.Load() {
		return "active"
	}
	return "standby"
}

// leaseHolder is the replica holding the bot's lease ("" without NATS or
// when nobody does).
func (b *bot) leaseHolder() string {
	if b.s.nats == nil {
		return ""
	}
	return b.s.nats.leases.Holder(b.token.ID())
}

// natsCollector reports, per bot, what /readyz shows in NATS mode: whether
// this replica is active, who holds the lease, and the delivery lag.
type natsCollector struct{ s *Service }

var (
	descActive = prometheus.NewDesc("receiver_bot_active",
		"1 when this replica holds the bot's lease and takes its updates, 0 on a standby.", []string{"bot"}, nil)
	descHolder = prometheus.NewDesc("receiver_bot_lease_holder",
		"1 for the replica that holds the bot's lease, as this replica sees it.", []string{"bot", "replica"}, nil)
	descLag = prometheus.NewDesc("receiver_stream_lag",
		"Events of the bot in the stream not yet delivered (DRIVER=http, log or stdout).", []string{"bot"}, nil)
)

// Describe implements prometheus.Collector.
func (c natsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descActive
	ch <- descHolder
	ch <- descLag
}

// Collect implements prometheus.Collector.
func (c natsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.s.list() {
		bot := strconv.FormatInt(b.token.ID(), 10)
		active := 0.0
		if b.active.Load() {
			active = 1
		}
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, active, bot)
		if h := b.leaseHolder(); h != "" {
			ch <- prometheus.MustNewConstMetric(descHolder, prometheus.GaugeValue, 1, bot, h)
		}
		if lag, ok := b.streamLag(); ok {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lag), bot)
		}
	}
}

// streamLag is the bot's undelivered events in the stream, when the
// receiver delivers them (not with DRIVER=nats).
func (b *bot) streamLag() (uint64, bool) {
	n := b.s.nats
	if n == nil || n.delivery == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lag, err := n.delivery.Lag(ctx, b.token.ID())
	return lag, err == nil
}
