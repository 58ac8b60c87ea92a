package store

import (
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/storage"
)

// Job statuses.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobDone      = "done"
	JobPaused    = "paused"
	JobCancelled = "cancelled"
)

// Item statuses.
const (
	ItemPending = "pending"
	ItemSent    = "sent"
	ItemFailed  = "failed"
	// ItemBlocked is a recipient who blocked the bot (USER_IS_BLOCKED),
	// counted apart from other failures.
	ItemBlocked = "blocked"
)

// Job is a persistent bulk send. Template is the request shared by every
// recipient (one text to many); items of a list carry their own request.
type Job struct {
	ID         string        `json:"id"`
	Status     string        `json:"status"`
	Template   *send.Request `json:"template,omitempty"`
	Total      int           `json:"total"`
	Sent       int           `json:"sent"`
	Failed     int           `json:"failed"`
	Blocked    int           `json:"blocked,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
}

// Pending is how many recipients are still to be sent.
func (j Job) Pending() int { return j.Total - j.Sent - j.Failed - j.Blocked }

// Item is one recipient of a job. RandomID is chosen when the job is created
// and reused by every attempt, so Telegram drops a resend of a message that
// already went out before a crash (RANDOM_ID_DUPLICATE).
type Item struct {
	Index     int            `json:"index"`
	Recipient send.Recipient `json:"recipient"`
	Request   *send.Request  `json:"request,omitempty"`
	RandomID  int64          `json:"random_id"`
	Status    string         `json:"status"`
	ChatID    int64          `json:"chat_id,omitempty"`
	MessageID int            `json:"message_id,omitempty"`
	Date      int            `json:"date,omitempty"`
	Error     *send.Public   `json:"error,omitempty"`
	Attempts  int            `json:"attempts,omitempty"`
}

// CreateJob stores a new job and its items in one transaction. It returns
// false, storing nothing, when a job with that ID exists already.
func (s *Store) CreateJob(job Job, items []Item) (created bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bucketJobs)).Get([]byte(job.ID)) != nil {
			return nil
		}
		created = true
		if err := storage.Put(tx, bucketJobs, []byte(job.ID), job); err != nil {
			return err
		}
		b, err := tx.Bucket([]byte(bucketJobItems)).CreateBucket([]byte(job.ID))
		if err != nil {
			return fmt.Errorf("job items: %w", err)
		}
		b.FillPercent = 1 // keys are appended in order
		return putItems(b, items)
	})
	return created, err
}

func putItems(b *bolt.Bucket, items []Item) error {
	for i := range items {
		data, err := encode(items[i])
		if err != nil {
			return err
		}
		if err := b.Put(storage.Uint64Key(uint64(items[i].Index)), data); err != nil {
			return err
		}
	}
	return nil
}

// Job returns the job with id or ErrNotFound.
func (s *Store) Job(id string) (Job, error) {
	var j Job
	err := s.db.View(func(tx *bolt.Tx) error {
		return storage.Get(tx, bucketJobs, []byte(id), &j)
	})
	return j, err
}

// UnfinishedJobs lists queued and running jobs, oldest first: the ones to
// run. Paused and cancelled jobs are not in it.
func (s *Store) UnfinishedJobs() ([]Job, error) {
	jobs, err := s.jobsWhere(func(j Job) bool { return j.Status == JobQueued || j.Status == JobRunning })
	sortJobs(jobs)
	return jobs, err
}

func sortJobs(jobs []Job) {
	slices.SortStableFunc(jobs, func(a, b Job) int { return a.CreatedAt.Compare(b.CreatedAt) })
}

// Items returns up to limit items of a job starting at index offset.
func (s *Store) Items(jobID string, offset, limit int) ([]Item, error) {
	return s.ItemsWithStatus(jobID, "", offset, limit)
}

// PendingItems returns up to limit pending items with index >= from.
func (s *Store) PendingItems(jobID string, from, limit int) ([]Item, error) {
	return s.ItemsWithStatus(jobID, ItemPending, from, limit)
}

// ItemsWithStatus returns up to limit items of a job with index >= from and
// the given status ("" = any).
func (s *Store) ItemsWithStatus(jobID, status string, from, limit int) ([]Item, error) {
	var out []Item
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketJobItems)).Bucket([]byte(jobID))
		if b == nil {
			return ErrNotFound
		}
		c := b.Cursor()
		for k, v := c.Seek(storage.Uint64Key(uint64(from))); k != nil && len(out) < limit; k, v = c.Next() {
			var it Item
			if err := decode(v, &it); err != nil {
				return err
			}
			if status != "" && it.Status != status {
				continue
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// SaveItems stores finished (or retried) items of a job and updates its
// counters and status in one transaction. Items already finished in the
// store are not counted twice.
func (s *Store) SaveItems(jobID string, items []Item, now time.Time) (Job, error) {
	var j Job
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := storage.Get(tx, bucketJobs, []byte(jobID), &j); err != nil {
			return err
		}
		b := tx.Bucket([]byte(bucketJobItems)).Bucket([]byte(jobID))
		if b == nil {
			return ErrNotFound
		}
		for _, it := range items {
			key := storage.Uint64Key(uint64(it.Index))
			var old Item
			if v := b.Get(key); v != nil {
				if err := decode(v, &old); err != nil {
					return err
				}
			}
			if old.Status == ItemPending {
				switch it.Status {
				case ItemSent:
					j.Sent++
				case ItemFailed:
					j.Failed++
				case ItemBlocked:
					j.Blocked++
				}
			}
			data, err := encode(it)
			if err != nil {
				return err
			}
			if err := b.Put(key, data); err != nil {
				return err
			}
		}
		j.UpdatedAt = now
		if j.Pending() <= 0 {
			j.Status = JobDone
			j.FinishedAt = &now
		} else if j.Status == JobQueued {
			j.Status = JobRunning
		}
		return storage.Put(tx, bucketJobs, []byte(jobID), j)
	})
	return j, err
}
