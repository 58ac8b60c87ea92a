package store

import (
	"bytes"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/storage"
)

// Idempotency record states.
const (
	IdemInFlight = "in_flight"
	IdemDone     = "done"
)

// IdemRecord is the stored outcome of a request made with an Idempotency-Key.
type IdemRecord struct {
	State       string    `json:"state"`
	Fingerprint string    `json:"fingerprint"`
	Owner       string    `json:"owner"`
	Status      int       `json:"status,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Body        []byte    `json:"body,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// BeginIdempotent claims key for a new request: when no record exists it
// stores rec and returns (nil, nil); otherwise it returns the existing record
// and stores nothing. With takeOver, an in-flight record of the same request
// (fingerprint) by another owner (a process that died) is replaced by rec
// and returned as well.
func (s *Store) BeginIdempotent(key string, rec IdemRecord, takeOver bool) (*IdemRecord, error) {
	var existing *IdemRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		var old IdemRecord
		err := storage.Get(tx, bucketIdem, []byte(key), &old)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return err
		default:
			existing = &old
			if !takeOver || old.State != IdemInFlight || old.Owner == rec.Owner || old.Fingerprint != rec.Fingerprint {
				return nil
			}
		}
		return storage.Put(tx, bucketIdem, []byte(key), rec)
	})
	return existing, err
}

// PutIdempotent stores rec under key.
func (s *Store) PutIdempotent(key string, rec IdemRecord) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return storage.Put(tx, bucketIdem, []byte(key), rec)
	})
}

// Idempotent returns the record under key or ErrNotFound.
func (s *Store) Idempotent(key string) (IdemRecord, error) {
	var rec IdemRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return storage.Get(tx, bucketIdem, []byte(key), &rec)
	})
	return rec, err
}

// DeleteIdempotent removes the record under key.
func (s *Store) DeleteIdempotent(key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketIdem)).Delete([]byte(key))
	})
}

// ExpireIdempotent deletes finished records created before t and returns
// how many it deleted.
func (s *Store) ExpireIdempotent(t time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketIdem))
		var dead [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var rec IdemRecord
			if err := storage.Get(tx, bucketIdem, k, &rec); err != nil {
				return err
			}
			if rec.CreatedAt.Before(t) {
				dead = append(dead, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}

// Claim claims key for the request rec in one process: when no record
// exists, or an in-flight one of the same request left by another owner
// (a process that died: in this mode one process owns the file), rec is
// stored and claimed is true. Otherwise existing is the record found.
func (s *Store) Claim(key string, rec IdemRecord) (existing *IdemRecord, claimed bool, err error) {
	existing, err = s.BeginIdempotent(key, rec, true)
	if err != nil {
		return nil, false, err
	}
	if existing == nil {
		return nil, true, nil
	}
	takenOver := existing.State == IdemInFlight && existing.Owner != rec.Owner && existing.Fingerprint == rec.Fingerprint
	return existing, takenOver, nil
}
