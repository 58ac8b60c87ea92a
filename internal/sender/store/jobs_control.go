package store

import (
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/storage"
)

// ErrJobStatus is returned by TransitionJob when the job's status does not
// allow the change (pausing a finished job, resuming a running one).
var ErrJobStatus = errors.New("job status does not allow this")

// TransitionJob moves a job to status to when its current status is one of
// from, in one transaction. It returns ErrNotFound for an unknown job and an
// error wrapping ErrJobStatus (with the job as it is) otherwise.
func (s *Store) TransitionJob(jobID string, from []string, to string, now time.Time) (Job, error) {
	var j Job
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := storage.Get(tx, bucketJobs, []byte(jobID), &j); err != nil {
			return err
		}
		if !slices.Contains(from, j.Status) {
			return fmt.Errorf("%w: the job is %s", ErrJobStatus, j.Status)
		}
		j.Status = to
		j.UpdatedAt = now
		if to == JobDone || to == JobCancelled {
			j.FinishedAt = &now
		} else {
			j.FinishedAt = nil
		}
		return storage.Put(tx, bucketJobs, []byte(jobID), j)
	})
	return j, err
}

// Jobs lists the jobs with the given status ("" = all), newest first.
func (s *Store) Jobs(status string) ([]Job, error) {
	jobs, err := s.jobsWhere(func(j Job) bool { return status == "" || j.Status == status })
	SortNewestFirst(jobs)
	return jobs, err
}

// jobsWhere lists the jobs keep accepts, in key order.
func (s *Store) jobsWhere(keep func(Job) bool) ([]Job, error) {
	var jobs []Job
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketJobs)).ForEach(func(k, _ []byte) error {
			var j Job
			if err := storage.Get(tx, bucketJobs, k, &j); err != nil {
				return err
			}
			if keep(j) {
				jobs = append(jobs, j)
			}
			return nil
		})
	})
	return jobs, err
}

// SortNewestFirst orders jobs by creation time, newest first (ties by ID).
func SortNewestFirst(jobs []Job) {
	slices.SortStableFunc(jobs, func(a, b Job) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}
