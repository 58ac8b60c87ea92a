// Package natsdelivery delivers the events of stream TG_EVENTS through a
// driver (the signed webhook of DRIVER=http, or log/stdout) when the
// receiver runs on NATS (NATS_URL set): from durable consumers shared by
// every replica, so a delivery survives the replica that started it.
//
// Per-chat order on a shared log needs partitions: the receiver publishes
// each event to stream TG_DELIVERY (work queue) as well as to TG_EVENTS,
// under tg.delivery.<p>.<bot_id>.<chat_id>, p = a hash of bot and chat over
// Partitions (Target, given to natsstate). One durable consumer per
// partition, with one message in flight (MaxAckPending 1), and every
// replica pulling from each: the events of a chat are attempted one at a
// time, in stream order, whichever replica does it.
//
// The receiver publishes the copy itself rather than having TG_DELIVERY
// source TG_EVENTS: after a kill of a stream leader, sourcing was seen to
// stall for tens of seconds and to store a later event of a chat before
// earlier ones it had to fetch again.
//
// Retries are the receiver's one backoff (delivery.Backoff), carried by
// the server: a failed attempt is NAKed with that delay, and the message
// stays pending, holding up its partition. Dead letters (a permanent
// error, DRIVER_MAX_ATTEMPTS, DRIVER_MAX_AGE) go to stream TG_DEAD,
// subjects tg.dead.<bot_id>.<chat_id>; a replay publishes them again to
// their partition.
//
// Limitations:
//   - An event failing for a long time holds up the other chats of its
//     partition too (bbolt mode holds up only its chat).
//   - A delivery slower than AckWait is attempted again by another replica
//     at the same time (same webhook-id).
//   - A replayed dead letter goes to the end of its partition.
package natsdelivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/receiver/delivery"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsstate"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// Names in NATS.
const (
	Stream         = "TG_DELIVERY"
	SubjectPrefix  = "tg.delivery"
	DeadStream     = "TG_DEAD"
	DeadPrefix     = "tg.dead"
	ConsumerPrefix = "tg_delivery_"
	// Partitions is the number of partitions of TG_DELIVERY: at most this
	// many deliveries are in flight at once over all replicas. Changing it
	// would reorder events in flight, so it is fixed.
	Partitions = 16
)

// Config of a Delivery: the backoff and dead-letter settings of
// delivery.Config (MaxAttempts, MaxAge, InitialBackoff, MaxBackoff,
// MaxRetryAfter) and the consumers' AckWait.
type Config struct {
	delivery.Config
	// AckWait is how long a replica may hold a message without a word
	// before it is given to another replica [30 s]. A replica delivering it
	// extends it every AckWait/3 (InProgress), so a slow attempt keeps its
	// message and a dead replica's message is taken over after AckWait.
	AckWait time.Duration
}

// Delivery runs the partition consumers of this replica.
type Delivery struct {
	conn    *natsx.Conn
	stream  jetstream.Stream
	dead    jetstream.Stream
	cons    []jetstream.Consumer
	drv     driver.Driver
	cfg     Config
	m       *metrics.Metrics
	log     *zap.Logger
	replayM sync.Mutex
}

// Open creates (or updates) TG_DELIVERY, TG_DEAD and the partition
// consumers.
func Open(ctx context.Context, conn *natsx.Conn, cfg Config, drv driver.Driver, m *metrics.Metrics, log *zap.Logger) (*Delivery, error) {
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	d := &Delivery{conn: conn, drv: drv, cfg: cfg, m: m, log: log.Named("natsdelivery")}
	var err error
	// conn.Stream updates a TG_DELIVERY made by an older build, which
	// sourced TG_EVENTS: the update drops the source.
	if d.stream, err = conn.Stream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "receiver: events partitioned for delivery, one consumer per partition",
		Subjects:    []string{SubjectPrefix + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  natsstate.DefaultDuplicateWindow,
	}); err != nil {
		return nil, err
	}
	if d.dead, err = conn.Stream(ctx, jetstream.StreamConfig{
		Name:        DeadStream,
		Description: "receiver: events that could not be delivered, until replayed",
		Subjects:    []string{DeadPrefix + ".>"},
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, err
	}
	for p := range Partitions {
		c, err := d.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       ConsumerPrefix + strconv.Itoa(p),
			FilterSubject: fmt.Sprintf("%s.%d.>", SubjectPrefix, p),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			MaxAckPending: 1,
			MaxDeliver:    -1,
		})
		if err != nil {
			return nil, fmt.Errorf("nats: consumer %d: %w", p, err)
		}
		d.cons = append(d.cons, c)
	}
	return d, nil
}

// Partition is the partition of a chat: the server's partition(n,1,2)
// mapping, FNV-1a of the bot and chat tokens.
func Partition(bot, chat int64) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(strconv.FormatInt(bot, 10)))
	_, _ = h.Write([]byte(strconv.FormatInt(chat, 10)))
	return int(h.Sum32() % Partitions)
}

// Target is where the receiver publishes each event for delivery
// (natsstate.Options.Also).
var Target = &natsstate.Target{Stream: Stream, Subject: Subject}

// Subject is ev's subject in TG_DELIVERY: tg.delivery.<p>.<bot_id>.<chat_id>.
func Subject(ev *event.Event) string {
	return fmt.Sprintf("%s.%d.%d.%d", SubjectPrefix, Partition(ev.BotID, ev.ChatID()), ev.BotID, ev.ChatID())
}

func subject(prefix string, ev *event.Event) string {
	return prefix + "." + strconv.FormatInt(ev.BotID, 10) + "." + strconv.FormatInt(ev.ChatID(), 10)
}

// Push implements the receiver's dispatcher: events come from the stream.
func (*Delivery) Push([]outbox.Record) {}

// Run pulls from every partition until ctx ends.
func (d *Delivery) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, c := range d.cons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.pull(ctx, c)
		}()
	}
	wg.Wait()
	return nil
}

func (d *Delivery) pull(ctx context.Context, c jetstream.Consumer) {
	for ctx.Err() == nil {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for msg := range batch.Messages() {
			d.handle(ctx, msg)
		}
	}
}

// handle makes one attempt at msg.
func (d *Delivery) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.Nak()
		return
	}
	var ev event.Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		d.log.Error("undecodable event dropped", zap.Uint64("seq", meta.Sequence.Stream), zap.Error(err))
		_ = msg.Term()
		return
	}
	attempt := int(meta.NumDelivered)
	actx := ctx
	if attempt > 1 {
		actx = driver.WithAttempt(ctx, attempt)
	}
	start := time.Now()
	stopProgress := d.inProgress(ctx, msg)
	err = d.drv.Deliver(actx, ev)
	stopProgress()
	d.m.AttemptLatency.Observe(time.Since(start).Seconds())
	if err == nil {
		if aerr := msg.DoubleAck(context.WithoutCancel(ctx)); aerr != nil {
			d.log.Warn("ack", zap.String("event_id", ev.ID), zap.Error(aerr))
			return
		}
		d.m.Delivered.Inc()
		d.m.DeliveryLatency.Observe(time.Since(meta.Timestamp).Seconds())
		return
	}
	if ctx.Err() != nil {
		_ = msg.Nak() // stopping: another replica takes it now
		return
	}
	if reason := d.deadReason(attempt, meta.Timestamp, err); reason != "" {
		d.log.Warn("event dead-lettered", zap.String("event_id", ev.ID), zap.Int64("chat_id", ev.ChatID()),
			zap.String("reason", reason), zap.Int("attempts", attempt), zap.Error(err))
		now := time.Now()
		rec := outbox.Record{Seq: meta.Sequence.Stream, Event: ev, Enqueued: meta.Timestamp, Attempts: attempt,
			LastError: err.Error(), DeadAt: &now}
		if derr := d.putDead(ctx, rec); derr != nil {
			d.log.Error("store dead letter", zap.String("event_id", ev.ID), zap.Error(derr))
			_ = msg.NakWithDelay(time.Second)
			return
		}
		_ = msg.Term()
		d.m.DeadLettered.Inc()
		return
	}
	d.m.Retried.Inc()
	wait := delivery.Backoff(d.cfg.Config, attempt, err)
	d.log.Info("delivery failed, will retry", zap.String("event_id", ev.ID), zap.Int64("chat_id", ev.ChatID()),
		zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
	_ = msg.NakWithDelay(wait)
}

// inProgress tells the server every AckWait/3 that msg is being worked on,
// until the returned function is called.
func (d *Delivery) inProgress(ctx context.Context, msg jetstream.Msg) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (d *Delivery) deadReason(attempts int, enqueued time.Time, err error) string {
	switch {
	case driver.IsPermanent(err):
		return "permanent error"
	case d.cfg.MaxAttempts > 0 && attempts >= d.cfg.MaxAttempts:
		return "max attempts reached"
	case d.cfg.MaxAge > 0 && time.Since(enqueued) >= d.cfg.MaxAge:
		return "max age reached"
	}
	return ""
}

func (d *Delivery) putDead(ctx context.Context, rec outbox.Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = d.conn.JS.Publish(context.WithoutCancel(ctx), subject(DeadPrefix, &rec.Event), data,
		jetstream.WithMsgID(fmt.Sprintf("%s:dead:%d", rec.Event.ID, rec.Seq)))
	return err
}

// deadMsg is a dead letter with its sequence in TG_DEAD.
type deadMsg struct {
	seq uint64
	rec outbox.Record
}

// readDead reads every dead letter.
func (d *Delivery) readDead(ctx context.Context) ([]deadMsg, error) {
	info, err := d.dead.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []deadMsg
	if info.State.Msgs == 0 {
		return nil, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := d.dead.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rec outbox.Record
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			continue
		}
		out = append(out, deadMsg{seq: seq, rec: rec})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rec.Event.ID < out[j].rec.Event.ID })
	return out, nil
}

// DeadLetters lists the dead letters sorted by event ID, at most limit
// (0 = all).
func (d *Delivery) DeadLetters(limit int) ([]outbox.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := d.readDead(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", DeadStream, err)
	}
	out := make([]outbox.Record, 0, len(ms))
	for _, m := range ms {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, m.rec)
	}
	return out, nil
}

// Replay publishes dead letters again to their partition (attempts start
// over) and removes them from TG_DEAD; with no IDs, all of them. It
// returns outbox.ErrNotFound when an ID is not a dead letter.
func (d *Delivery) Replay(ids ...string) ([]outbox.Record, error) {
	d.replayM.Lock()
	defer d.replayM.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := d.readDead(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", DeadStream, err)
	}
	pick := ms
	if len(ids) > 0 {
		byID := map[string]deadMsg{}
		for _, m := range ms {
			byID[m.rec.Event.ID] = m
		}
		pick = pick[:0:0]
		for _, id := range ids {
			m, ok := byID[id]
			if !ok {
				return nil, outbox.ErrNotFound
			}
			pick = append(pick, m)
		}
	}
	out := make([]outbox.Record, 0, len(pick))
	for _, m := range pick {
		ev := m.rec.Event
		data, err := json.Marshal(ev)
		if err != nil {
			return out, err
		}
		msg := &nats.Msg{Subject: Subject(&ev), Data: data, Header: nats.Header{}}
		msg.Header.Set(natsstate.HeaderType, string(ev.Type))
		if _, err := d.conn.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s:replay:%d", ev.ID, m.seq))); err != nil {
			return out, fmt.Errorf("replay %s: %w", ev.ID, err)
		}
		if err := d.dead.DeleteMsg(ctx, m.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, fmt.Errorf("replay %s: %w", ev.ID, err)
		}
		out = append(out, outbox.Record{Event: ev, Enqueued: time.Now()})
	}
	return out, nil
}

// Lag is the number of bot's events not yet delivered (still in
// TG_DELIVERY).
func (d *Delivery) Lag(ctx context.Context, bot int64) (uint64, error) {
	info, err := d.stream.Info(ctx, jetstream.WithSubjectFilter(fmt.Sprintf("%s.*.%d.*", SubjectPrefix, bot)))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// Stream returns TG_DELIVERY.
func (d *Delivery) Stream() jetstream.Stream { return d.stream }
