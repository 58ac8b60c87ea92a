// Package jobs runs bulk sends on a bounded pool of workers: synchronously
// for small lists (SendAll) and as persistent jobs for large ones (Submit,
// Run). A job is stored with one row per recipient, each with the random_id
// its send will use, before the client hears 202; progress is committed in
// small batches as results arrive. After a restart, kill -9 included, Run
// resumes every unfinished job with the recipients still pending, and a
// recipient whose message went out just before the crash is recognised by
// Telegram through its random_id (RANDOM_ID_DUPLICATE), so nobody gets a
// message twice.
//
// Limitations:
//   - Jobs run one after another (oldest first); within a job recipients are
//     sent concurrently, in list order of dispatch.
//   - A recipient whose resend was recognised as a duplicate is reported
//     sent with message_id 0: the ID of the original message is unknown.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Sender sends one request; the gateway implements it.
type Sender interface {
	Send(ctx context.Context, req send.Request, randomID int64) (send.Result, error)
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, req send.Request, randomID int64) (send.Result, error)

// Send implements Sender.
func (f SenderFunc) Send(ctx context.Context, req send.Request, randomID int64) (send.Result, error) {
	return f(ctx, req, randomID)
}

// Config tunes the runner. Zero values mean the defaults.
type Config struct {
	// Workers is how many sends run at once (default 16).
	Workers int
	// MaxAttempts per recipient of a job for retryable errors: flood waits
	// past the gateway's maximum, Telegram unreachable (default 20).
	MaxAttempts int
	// RetryPause is the wait before retrying an unavailable Telegram
	// (default 1s); flood errors wait what Telegram asked.
	RetryPause time.Duration
	// ShutdownGrace is how long sends in flight may finish after Run's
	// context ends (default 10s); what is not sent by then stays pending.
	ShutdownGrace time.Duration
	// FlushEvery bounds how long a finished recipient waits to be
	// committed (default 20ms).
	FlushEvery time.Duration
}

// SetDefaults fills in the defaults of zero values.
func (c *Config) SetDefaults() {
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 20
	}
	if c.RetryPause <= 0 {
		c.RetryPause = time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = 20 * time.Millisecond
	}
}

// Runner runs jobs. Submit may be called before and during Run.
type Runner struct {
	cfg     Config
	store   *store.Store
	sender  Sender
	metrics *metrics.Metrics
	log     *zap.Logger

	wake  chan struct{}
	depth atomic.Int64

	// running is the job being run and how to stop it (Pause, Cancel).
	runMu       sync.Mutex
	runningID   string
	stopRunning context.CancelFunc
}

// New returns a Runner; m may be nil.
func New(cfg Config, st *store.Store, s Sender, m *metrics.Metrics, log *zap.Logger) *Runner {
	cfg.SetDefaults()
	return &Runner{cfg: cfg, store: st, sender: s, metrics: m, log: log, wake: make(chan struct{}, 1)}
}

// Task is one send of a bulk request.
type Task struct {
	Index    int
	Request  send.Request
	RandomID int64
}

// Outcome is the result of a Task: Err is nil on success.
type Outcome struct {
	Index  int
	Result send.Result
	Err    *send.Error
}

// SendAll sends tasks on at most Workers goroutines and returns the outcomes
// in task order. It retries nothing beyond the gateway's own flood waits:
// the client sees each recipient's error and decides.
func (r *Runner) SendAll(ctx context.Context, tasks []Task) []Outcome {
	out := make([]Outcome, len(tasks))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(r.cfg.Workers, len(tasks)) {
		wg.Go(func() {
			for i := range next {
				t := tasks[i]
				res, err := r.sender.Send(ctx, t.Request, t.RandomID)
				out[i] = Outcome{Index: t.Index, Result: res, Err: send.As(err)}
			}
		})
	}
	for i := range tasks {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// Submit stores a new job with its items and wakes the runner. created is
// false when a job with this ID exists (a retried request): nothing changes.
func (r *Runner) Submit(job store.Job, items []store.Item) (created bool, err error) {
	now := time.Now().UTC()
	job.Status = store.JobQueued
	job.Total = len(items)
	job.CreatedAt, job.UpdatedAt = now, now
	for i := range items {
		items[i].Index = i
		items[i].Status = store.ItemPending
	}
	created, err = r.store.CreateJob(job, items)
	if err != nil {
		return false, fmt.Errorf("create job: %w", err)
	}
	if created {
		r.addDepth(int64(len(items)))
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return created, nil
}

func (r *Runner) addDepth(n int64) {
	v := r.depth.Add(n)
	if r.metrics != nil {
		r.metrics.JobQueueDepth.Set(float64(v))
	}
}

// Run processes jobs until ctx ends, then lets sends in flight finish (for
// at most ShutdownGrace), commits their results and returns.
func (r *Runner) Run(ctx context.Context) error {
	jobs, err := r.store.UnfinishedJobs()
	if err != nil {
		return fmt.Errorf("load jobs: %w", err)
	}
	var pending int64
	for _, j := range jobs {
		pending += int64(j.Pending())
	}
	// Jobs submitted before Run are in the store: count from there.
	r.depth.Store(0)
	r.addDepth(pending)
	if len(jobs) > 0 {
		r.log.Info("resuming unfinished jobs", zap.Int("jobs", len(jobs)), zap.Int64("pending", pending))
	}

	sendCtx, cancelSends := GraceContext(ctx, r.cfg.ShutdownGrace)
	defer cancelSends()

	w := newWriter(r, r.cfg.FlushEvery)
	go w.run()
	defer w.close()

	for ctx.Err() == nil {
		jobs, err := r.store.UnfinishedJobs()
		if err != nil {
			return fmt.Errorf("load jobs: %w", err)
		}
		if len(jobs) == 0 {
			select {
			case <-ctx.Done():
			case <-r.wake:
			}
			continue
		}
		for _, j := range jobs {
			if ctx.Err() != nil {
				break
			}
			if err := r.runJob(ctx, sendCtx, w, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// runJob dispatches every pending item of job to the workers and waits for
// their results to be committed. Pause and Cancel stop its dispatch; sends
// in flight finish and are committed.
func (r *Runner) runJob(ctx, sendCtx context.Context, w *writer, job store.Job) error {
	log := r.log.With(zap.String("job_id", job.ID))
	jobCtx, stop := r.startRunning(ctx, job.ID)
	defer r.stopRunningJob(stop)
	// Registered first, checked second: a pause committed before this
	// transition makes it fail, one committed after it finds the job
	// registered and stops it.
	if _, err := r.store.TransitionJob(job.ID, []string{store.JobQueued, store.JobRunning}, store.JobRunning, time.Now().UTC()); err != nil {
		if errors.Is(err, store.ErrJobStatus) {
			return nil
		}
		return fmt.Errorf("job %s: %w", job.ID, err)
	}
	log.Info("job running", zap.Int("total", job.Total), zap.Int("pending", job.Pending()))
	items := make(chan store.Item)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for it := range items {
				if done, ok := r.sendItem(jobCtx, sendCtx, job, it); ok {
					w.add(job.ID, done)
				}
			}
		})
	}
	from := 0
	var err error
dispatch:
	for jobCtx.Err() == nil {
		var batch []store.Item
		batch, err = r.store.PendingItems(job.ID, from, 512)
		if err != nil || len(batch) == 0 {
			break
		}
		for _, it := range batch {
			select {
			case items <- it:
			case <-jobCtx.Done():
				break dispatch
			}
		}
		from = batch[len(batch)-1].Index + 1
	}
	close(items)
	wg.Wait()
	w.flush()
	if err != nil {
		return fmt.Errorf("job %s: %w", job.ID, err)
	}
	final, err := r.store.Job(job.ID)
	if err != nil {
		return nil
	}
	switch final.Status {
	case store.JobDone:
		log.Info("job done", zap.Int("sent", final.Sent), zap.Int("failed", final.Failed), zap.Int("blocked", final.Blocked))
		if r.metrics != nil {
			r.metrics.JobsFinished.WithLabelValues(final.Status).Inc()
		}
	case store.JobPaused, store.JobCancelled:
		log.Info("job stopped", zap.String("status", final.Status), zap.Int("pending", final.Pending()))
		r.recountDepth()
	}
	return nil
}

// GraceContext returns the context of sends in flight: it ends grace
// after ctx ends (or when cancel is called).
func GraceContext(ctx context.Context, grace time.Duration) (_ context.Context, cancel func()) {
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelSends()
		case <-sendCtx.Done():
		}
	})
	return sendCtx, func() {
		stopGrace()
		cancelSends()
	}
}

// sendItem sends one recipient, retrying what may succeed later. ok is false
// when shutdown interrupted it: the item stays pending for the next run.
func (r *Runner) sendItem(ctx, sendCtx context.Context, job store.Job, it store.Item) (store.Item, bool) {
	req := send.Request{}
	if it.Request != nil {
		req = *it.Request
	} else if job.Template != nil {
		req = *job.Template
	}
	req.Recipient = it.Recipient
	return SendItem(ctx, sendCtx, r.cfg, r.sender, req, it)
}

// SendItem sends req for the job recipient it with its random_id,
// retrying flood waits and an unavailable Telegram up to cfg.MaxAttempts
// attempts (counted in it.Attempts). It returns it finished (sent or
// failed), or ok=false when ctx ended first (shutdown: it stays pending)
// or sendCtx ended during the send. cfg must have its defaults set.
func SendItem(ctx, sendCtx context.Context, cfg Config, s Sender, req send.Request, it store.Item) (_ store.Item, ok bool) {
	for {
		if ctx.Err() != nil {
			return it, false
		}
		it.Attempts++
		res, err := s.Send(sendCtx, req, it.RandomID)
		if err == nil {
			it.Status, it.ChatID, it.MessageID, it.Date, it.Error = store.ItemSent, res.ChatID, res.MessageID, res.Date, nil
			return it, true
		}
		if sendCtx.Err() != nil {
			return it, false
		}
		se := send.As(err)
		// Not a backoff (cenkalti/backoff, as around the gateway's client
		// and the outbox's commits): a flood lasts what Telegram says, an
		// unreachable Telegram is tried again at a steady RetryPause while
		// the client reconnects with its own backoff, and the attempts are
		// counted in the stored item, so a resumed job goes on counting
		// where it stopped (backoff.WithMaxRetries counts in memory).
		var wait time.Duration
		switch se.Kind {
		case send.KindFlood:
			wait = max(se.RetryAfter, cfg.RetryPause)
		case send.KindUnavailable:
			wait = cfg.RetryPause
		}
		if wait == 0 || it.Attempts >= cfg.MaxAttempts {
			it.Status, it.Error = store.ItemFailed, se.Public()
			if se.TelegramError == "USER_IS_BLOCKED" {
				it.Status = store.ItemBlocked
			}
			return it, true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return it, false
		}
	}
}
