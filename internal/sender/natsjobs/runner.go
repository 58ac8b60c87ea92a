package natsjobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Config tunes a Runner: the job runner's settings (Workers is unused:
// the partitions bound the sends in flight) and how often jobs whose
// messages are all handled are recounted (SweepEvery, default 3s). Zero
// values mean the defaults.
type Config struct {
	jobs.Config
	SweepEvery time.Duration
}

func (c *Config) setDefaults() {
	c.Config.SetDefaults()
	if c.SweepEvery <= 0 {
		c.SweepEvery = 3 * time.Second
	}
}

// Runner submits and runs one bot's jobs on the Queue (it implements
// httpapi.Runner). Small bulk requests (SendAll) run in this process.
type Runner struct {
	cfg    Config
	q      *Queue
	bot    int64
	sender jobs.Sender
	local  *jobs.Runner // SendAll
	log    *zap.Logger

	mu     sync.Mutex
	deltas map[string]*delta  // counts not yet added to their job
	seen   map[string]bool    // unfinished jobs this replica worked on
	cache  map[string]*cached // job records, read again after cacheFor (status)
}

type cached struct {
	rec *record
	at  time.Time
}

// cacheFor is how long a job's record is used before it is read again: a
// pause or cancel made on another replica takes effect within it.
const cacheFor = 200 * time.Millisecond

type delta struct{ sent, failed, blocked int }

// New returns a Runner of bot (its ID in the subjects) sending through s;
// local runs SendAll.
func (q *Queue) New(cfg Config, bot int64, s jobs.Sender, local *jobs.Runner, log *zap.Logger) *Runner {
	cfg.setDefaults()
	return &Runner{cfg: cfg, q: q, bot: bot, sender: s, local: local, log: log,
		deltas: map[string]*delta{}, seen: map[string]bool{}, cache: map[string]*cached{}}
}

// SendAll implements httpapi.Runner.
func (r *Runner) SendAll(ctx context.Context, tasks []jobs.Task) []jobs.Outcome {
	return r.local.SendAll(ctx, tasks)
}

// Submit implements httpapi.Runner: the job record is created, then every
// recipient's pending key and message (both idempotent: a retried submit
// of a job whose queuing was interrupted queues the rest and TG_SEND drops
// the duplicates by message ID), then the job is marked queued.
func (r *Runner) Submit(job store.Job, items []store.Item) (bool, error) {
	if !validJobID(job.ID) {
		return false, fmt.Errorf("job ID %q", job.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	now := time.Now().UTC()
	job.Status, job.Total, job.CreatedAt, job.UpdatedAt = store.JobQueued, len(items), now, now
	rec := record{Job: job, BotID: r.bot}
	data, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("encode: %w", err)
	}
	created := true
	if _, err := r.q.kv.Create(ctx, job.ID, data); errors.Is(err, jetstream.ErrKeyExists) {
		created = false
		var old record
		if _, err := r.q.get(ctx, job.ID, &old); err != nil {
			return false, err
		}
		if old.Queued {
			return false, nil
		}
	} else if err != nil {
		return false, fmt.Errorf("%s create: %w", BucketJobs, err)
	}
	// The pending keys first: a recipient's result must never be
	// overwritten by its pending key.
	err = r.publishAll(ctx, len(items), func(i int) (string, []byte, string, error) {
		it := items[i]
		it.Index, it.Status, it.Request = i, store.ItemPending, nil
		b, err := json.Marshal(it)
		return "$KV." + BucketJobs + "." + itemKey(job.ID, i), b, "", err
	})
	if err != nil {
		return false, err
	}
	err = r.publishAll(ctx, len(items), func(i int) (string, []byte, string, error) {
		it := items[i]
		b, err := json.Marshal(message{Index: i, Recipient: it.Recipient, Request: it.Request, RandomID: it.RandomID})
		return subject(r.bot, partition(it.Recipient), job.ID), b, itemKey(job.ID, i), err
	})
	if err != nil {
		return false, err
	}
	if _, err := r.q.update(ctx, job.ID, func(x *record) { x.Queued = true }); err != nil {
		return false, err
	}
	return created, nil
}

// publishAll publishes n messages asynchronously, at most a window of
// them unacknowledged, and returns the first error.
func (r *Runner) publishAll(ctx context.Context, n int, msg func(i int) (subj string, data []byte, id string, err error)) error {
	const window = 2048
	var futures []jetstream.PubAckFuture
	wait := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("queue recipient: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		return nil
	}
	for i := range n {
		subj, data, id, err := msg(i)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		var opts []jetstream.PublishOpt
		if id != "" {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		f, err := r.q.js.PublishAsync(subj, data, opts...)
		if err != nil {
			return fmt.Errorf("queue recipient: %w", err)
		}
		futures = append(futures, f)
		if len(futures) >= window {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}

// Run consumes the bot's partitions until ctx ends; sends in flight then
// get ShutdownGrace to finish, and what is not done goes back to TG_SEND
// for the other replicas (or the next start).
func (r *Runner) Run(ctx context.Context) error {
	consumers := make([]jetstream.Consumer, Partitions)
	for p := range Partitions {
		var err error
		for {
			consumers[p], err = r.q.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
				Durable:       "send_" + strconv.FormatInt(r.bot, 10) + "_" + strconv.Itoa(p),
				FilterSubject: subjectPrefix + strconv.FormatInt(r.bot, 10) + "." + strconv.Itoa(p) + ".>",
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       AckWait,
				MaxAckPending: 1, // one chat's messages in order
				MaxDeliver:    -1,
			})
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			r.log.Warn("create consumer", zap.Int("partition", p), zap.Error(err))
			time.Sleep(500 * time.Millisecond)
		}
	}
	sendCtx, cancelSends := jobs.GraceContext(ctx, r.cfg.ShutdownGrace)
	defer cancelSends()
	r.loadUnfinished(ctx)

	var wg sync.WaitGroup
	for _, c := range consumers {
		wg.Go(func() { r.consume(ctx, sendCtx, c) })
	}
	bookkeeping := make(chan struct{})
	go func() {
		defer close(bookkeeping)
		r.bookkeep(ctx)
	}()
	wg.Wait()
	<-bookkeeping
	r.flush(context.WithoutCancel(ctx))
	return nil
}

// consume handles one partition's messages until ctx ends. It keeps a
// pull request waiting at the server, so the partition's next message
// comes as soon as the last one is acknowledged.
func (r *Runner) consume(ctx, sendCtx context.Context, c jetstream.Consumer) {
	for ctx.Err() == nil {
		it, err := c.Messages(jetstream.PullMaxMessages(1))
		if err != nil {
			r.log.Debug("pull", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		stop := context.AfterFunc(ctx, it.Stop)
		for {
			msg, err := it.Next()
			if err != nil {
				break
			}
			r.handle(ctx, sendCtx, msg)
		}
		stop()
		it.Stop()
	}
}

// job returns the record of a job, cached.
func (r *Runner) job(ctx context.Context, id string) (*record, error) {
	r.mu.Lock()
	c := r.cache[id]
	r.mu.Unlock()
	if c != nil && time.Since(c.at) < cacheFor {
		return c.rec, nil
	}
	rec := &record{}
	if _, err := r.q.get(ctx, id, rec); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.cache) > 1024 {
		r.cache = map[string]*cached{}
	}
	r.cache[id] = &cached{rec: rec, at: time.Now()}
	if !finished(rec.Status) {
		r.seen[id] = true
	}
	r.mu.Unlock()
	return rec, nil
}

// handle sends one recipient and records the result, then acknowledges.
func (r *Runner) handle(ctx, sendCtx context.Context, msg jetstream.Msg) {
	var m message
	if err := json.Unmarshal(msg.Data(), &m); err != nil {
		r.log.Error("undecodable job message dropped", zap.String("subject", msg.Subject()), zap.Error(err))
		_ = msg.Term()
		return
	}
	jobID := msg.Subject()[lastDot(msg.Subject())+1:]
	opCtx, cancel := context.WithTimeout(sendCtx, opTimeout)
	defer cancel()
	rec, err := r.job(opCtx, jobID)
	if err != nil {
		// Not created yet (its submit is still running) or NATS trouble.
		_ = msg.NakWithDelay(time.Second)
		return
	}
	switch rec.Status {
	case store.JobPaused:
		_ = msg.NakWithDelay(2 * time.Second) // held until Resume
		return
	case store.JobCancelled:
		_ = msg.Ack() // never sent; the recipient stays pending
		return
	}
	key := itemKey(jobID, m.Index)
	var it store.Item
	var rev uint64
	if e, err := r.q.get(opCtx, key, &it); err == nil {
		rev = e.Revision()
	} else if !errors.Is(err, store.ErrNotFound) {
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if it.Status != "" && it.Status != store.ItemPending {
		_ = msg.Ack() // finished before a crash or a lost acknowledgement
		return
	}
	it.Index, it.Recipient, it.RandomID = m.Index, m.Recipient, m.RandomID
	req := send.Request{}
	if m.Request != nil {
		req = *m.Request
	} else if rec.Template != nil {
		req = *rec.Template
	}
	req.Recipient = m.Recipient

	stopProgress := progress(msg)
	it, ok := jobs.SendItem(ctx, sendCtx, r.cfg.Config, r.sender, req, it)
	stopProgress()
	if !ok {
		_ = msg.Nak() // shutting down: another replica takes it now
		return
	}
	r.saveItem(ctx, msg, jobID, key, rev, it)
}

// saveItem stores a finished recipient (compare-and-set from its pending
// revision, so it is counted once), acknowledges its message and counts it.
func (r *Runner) saveItem(ctx context.Context, msg jetstream.Msg, jobID, key string, rev uint64, it store.Item) {
	data, err := json.Marshal(it)
	if err != nil {
		_ = msg.Nak()
		return
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer wcancel()
	if rev == 0 {
		_, err = r.q.kv.Create(wctx, key, data)
	} else {
		_, err = r.q.kv.Update(wctx, key, data, rev)
	}
	counted := err == nil
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// The send happened; a redelivery resends with the same
		// random_id and Telegram drops it as a duplicate.
		r.log.Warn("store job recipient", zap.String("job_id", jobID), zap.Error(err))
		_ = msg.Nak()
		return
	}
	// Not waited for: a lost acknowledgement redelivers the message, and
	// its key says it is done.
	_ = msg.Ack()
	if counted {
		r.mu.Lock()
		d := r.deltas[jobID]
		if d == nil {
			d = &delta{}
			r.deltas[jobID] = d
		}
		switch it.Status {
		case store.ItemSent:
			d.sent++
		case store.ItemBlocked:
			d.blocked++
		default:
			d.failed++
		}
		r.mu.Unlock()
	}
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// progress tells the server the message is being worked on (waits for
// limits or flood waits), so it is not redelivered meanwhile.
func progress(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// bookkeep adds counters to the jobs every FlushEvery and sweeps every
// SweepEvery, until ctx ends.
func (r *Runner) bookkeep(ctx context.Context) {
	flush := time.NewTicker(r.cfg.FlushEvery)
	defer flush.Stop()
	sweep := time.NewTicker(r.cfg.SweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			r.flush(ctx)
		case <-sweep.C:
			r.flush(ctx)
			r.sweep(ctx)
		}
	}
}

// flush adds the counts taken here to their jobs. A job already done was
// recounted from its keys: its counts are final.
func (r *Runner) flush(ctx context.Context) {
	r.mu.Lock()
	deltas := r.deltas
	r.deltas = map[string]*delta{}
	r.mu.Unlock()
	for id, d := range deltas {
		now := time.Now().UTC()
		rec, err := r.q.update(ctx, id, func(x *record) {
			if x.Status == store.JobDone {
				return // recounted from the keys: final
			}
			x.Sent += d.sent
			x.Failed += d.failed
			x.Blocked += d.blocked
			x.UpdatedAt = now
			finish(x, now)
		})
		if err != nil {
			r.log.Warn("count job progress", zap.String("job_id", id), zap.Error(err))
			r.mu.Lock()
			if o := r.deltas[id]; o != nil {
				d.sent += o.sent
				d.failed += o.failed
				d.blocked += o.blocked
			}
			r.deltas[id] = d
			r.mu.Unlock()
			continue
		}
		if rec.Status == store.JobDone {
			r.done(rec)
		}
	}
}

func (r *Runner) done(rec record) {
	r.mu.Lock()
	was := r.seen[rec.ID]
	delete(r.seen, rec.ID)
	delete(r.cache, rec.ID)
	r.mu.Unlock()
	if was && rec.Status == store.JobDone {
		r.log.Info("job done", zap.String("job_id", rec.ID), zap.Int("sent", rec.Sent), zap.Int("failed", rec.Failed),
			zap.Int("blocked", rec.Blocked))
	}
}

// sweep recounts the unfinished jobs this replica knows whose recipients
// have all been handled (none left in TG_SEND): counts taken by a replica
// that died before adding them are found again there.
func (r *Runner) sweep(ctx context.Context) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.seen))
	for id := range r.seen {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		var rec record
		if _, err := r.q.get(ctx, id, &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				r.done(record{Job: store.Job{ID: id}})
			}
			continue
		}
		if finished(rec.Status) {
			r.done(rec)
			continue
		}
		if !rec.Queued || rec.Status == store.JobPaused {
			continue
		}
		if n, err := r.q.remaining(ctx, rec); err != nil || n > 0 {
			continue
		}
		rec, err := r.q.recount(ctx, id)
		if err != nil {
			r.log.Warn("recount job", zap.String("job_id", id), zap.Error(err))
			continue
		}
		if rec.Status == store.JobDone {
			r.done(rec)
		} else {
			r.log.Warn("job has pending recipients but none queued", zap.String("job_id", id), zap.Int("pending", rec.Pending()))
		}
	}
}

// loadUnfinished finds this bot's unfinished jobs (after a restart), for
// the sweep.
func (r *Runner) loadUnfinished(ctx context.Context) {
	lister, err := r.q.kv.ListKeysFiltered(ctx, "*")
	if err != nil {
		return
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, k)
	}
	for _, id := range ids {
		var rec record
		if _, err := r.q.get(ctx, id, &rec); err == nil && rec.BotID == r.bot && !finished(rec.Status) {
			r.mu.Lock()
			r.seen[id] = true
			r.mu.Unlock()
		}
	}
}
