package natsjobs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Job implements httpapi.JobStore: the bot's job, store.ErrNotFound for
// an unknown one (or another bot's).
func (r *Runner) Job(id string) (store.Job, error) {
	rec, err := r.q.record(id, r.bot)
	return rec.Job, err
}

// Items implements httpapi.JobStore.
func (r *Runner) Items(jobID string, offset, limit int) ([]store.Item, error) {
	return r.ItemsWithStatus(jobID, "", offset, limit)
}

// ItemsWithStatus implements httpapi.JobStore.
func (r *Runner) ItemsWithStatus(jobID, status string, from, limit int) ([]store.Item, error) {
	job, err := r.Job(jobID)
	if err != nil {
		return nil, err
	}
	return r.q.items(job, status, from, limit)
}

// Jobs implements httpapi.JobStore.
func (r *Runner) Jobs(status string) ([]store.Job, error) { return r.q.jobs(r.bot, status) }

// Pause implements httpapi.Runner: replicas stop sending the job's
// recipients within 0.2 s (a recipient being sent finishes) and hold
// them in TG_SEND until Resume. Its partitions wait meanwhile: the bot's
// other jobs' recipients queued behind a paused one in a partition wait
// too.
func (r *Runner) Pause(id string) (store.Job, error) {
	return r.transition(id, []string{store.JobQueued, store.JobRunning}, store.JobPaused)
}

// Resume implements httpapi.Runner.
func (r *Runner) Resume(id string) (store.Job, error) {
	return r.transition(id, []string{store.JobPaused}, store.JobQueued)
}

// Cancel implements httpapi.Runner: the job's pending recipients are taken
// out of TG_SEND unsent (they stay pending in its view).
func (r *Runner) Cancel(id string) (store.Job, error) {
	return r.transition(id, []string{store.JobQueued, store.JobRunning, store.JobPaused}, store.JobCancelled)
}

func (r *Runner) transition(id string, from []string, to string) (store.Job, error) {
	if _, err := r.q.record(id, r.bot); err != nil {
		return store.Job{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var refused error
	now := time.Now().UTC()
	rec, err := r.q.update(ctx, id, func(x *record) {
		refused = nil
		if !slices.Contains(from, x.Status) {
			refused = fmt.Errorf("%s job: %w: the job is %s", to, store.ErrJobStatus, x.Status)
			return
		}
		x.Status, x.UpdatedAt = to, now
		if to == store.JobCancelled {
			x.FinishedAt = &now
		} else {
			x.FinishedAt = nil
		}
	})
	if err != nil {
		return rec.Job, err
	}
	if refused != nil {
		return rec.Job, refused
	}
	r.forget(id)
	return rec.Job, nil
}

// forget drops the cached record of a job (its status changed).
func (r *Runner) forget(id string) {
	r.mu.Lock()
	delete(r.cache, id)
	r.mu.Unlock()
}
