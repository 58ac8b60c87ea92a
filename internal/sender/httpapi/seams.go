package httpapi

import (
	"context"

	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Runner runs a bot's bulk sends: small ones at once (SendAll), large ones
// as persistent jobs (Submit). *jobs.Runner runs them in this process;
// natsjobs spreads them over the replicas.
type Runner interface {
	SendAll(ctx context.Context, tasks []jobs.Task) []jobs.Outcome
	// Submit stores a new job; created is false when a job with its ID
	// exists already (nothing changes then).
	Submit(job store.Job, items []store.Item) (created bool, err error)
	// Pause, Resume and Cancel change a job's status; they return
	// store.ErrNotFound or an error wrapping store.ErrJobStatus.
	Pause(id string) (store.Job, error)
	Resume(id string) (store.Job, error)
	Cancel(id string) (store.Job, error)
}

// JobStore reads jobs back; lookups return store.ErrNotFound for unknown
// IDs.
type JobStore interface {
	Job(id string) (store.Job, error)
	Items(jobID string, offset, limit int) ([]store.Item, error)
	// ItemsWithStatus returns up to limit items with index >= from whose
	// status is status ("" = any).
	ItemsWithStatus(jobID, status string, from, limit int) ([]store.Item, error)
	// Jobs lists the bot's jobs with status ("" = all), newest first.
	Jobs(status string) ([]store.Job, error)
}

// IdempotencyStore keeps Idempotency-Key records.
type IdempotencyStore interface {
	// Claim stores rec under key when the key is free, or held by a dead
	// owner for the same request (claimed=true); otherwise it returns the
	// record that holds the key.
	Claim(key string, rec store.IdemRecord) (existing *store.IdemRecord, claimed bool, err error)
	PutIdempotent(key string, rec store.IdemRecord) error
	DeleteIdempotent(key string) error
}
