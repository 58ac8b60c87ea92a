package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Pause stops a queued or running job: nothing more is dispatched, sends in
// flight finish, and the rest stays pending until Resume. It returns
// store.ErrNotFound or an error wrapping store.ErrJobStatus.
func (r *Runner) Pause(id string) (store.Job, error) {
	return r.stop(id, []string{store.JobQueued, store.JobRunning}, store.JobPaused)
}

// Cancel ends a queued, running or paused job for good: its pending
// recipients are never sent. Same errors as Pause.
func (r *Runner) Cancel(id string) (store.Job, error) {
	j, err := r.stop(id, []string{store.JobQueued, store.JobRunning, store.JobPaused}, store.JobCancelled)
	if err == nil && r.metrics != nil {
		r.metrics.JobsFinished.WithLabelValues(store.JobCancelled).Inc()
	}
	return j, err
}

// Resume queues a paused job again; it runs after the jobs queued before
// it. Same errors as Pause.
func (r *Runner) Resume(id string) (store.Job, error) {
	j, err := r.store.TransitionJob(id, []string{store.JobPaused}, store.JobQueued, time.Now().UTC())
	if err != nil {
		return j, fmt.Errorf("resume job: %w", err)
	}
	r.recountDepth()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return j, nil
}

func (r *Runner) stop(id string, from []string, to string) (store.Job, error) {
	j, err := r.store.TransitionJob(id, from, to, time.Now().UTC())
	if err != nil {
		return j, fmt.Errorf("%s job: %w", to, err)
	}
	r.runMu.Lock()
	if r.runningID == id && r.stopRunning != nil {
		r.stopRunning()
	}
	r.runMu.Unlock()
	r.recountDepth()
	return j, nil
}

// startRunning registers id as the running job, stopped by cancelling the
// returned context.
func (r *Runner) startRunning(ctx context.Context, id string) (context.Context, context.CancelFunc) {
	jobCtx, cancel := context.WithCancel(ctx)
	r.runMu.Lock()
	r.runningID, r.stopRunning = id, cancel
	r.runMu.Unlock()
	return jobCtx, cancel
}

func (r *Runner) stopRunningJob(cancel context.CancelFunc) {
	r.runMu.Lock()
	r.runningID, r.stopRunning = "", nil
	r.runMu.Unlock()
	cancel()
}

// recountDepth sets the queue depth gauge from the store: the pending
// recipients of queued and running jobs.
func (r *Runner) recountDepth() {
	jobs, err := r.store.UnfinishedJobs()
	if err != nil {
		return
	}
	var n int64
	for _, j := range jobs {
		n += int64(j.Pending())
	}
	r.depth.Store(0)
	r.addDepth(n)
}
