// Package store is a bot's persistent state in one bbolt file
// (DATA_DIR/bots/<bot_id>/sender.db, through internal/storage): peers and
// their access hashes (peers.go), uploaded documents (documents.go),
// Idempotency-Key records (idempotency.go, used in the sender's shared
// DATA_DIR/sender-shared.db) and bulk jobs with a row per recipient
// (jobs.go). Every write is a committed bbolt transaction, so what
// the service answered or sent survives kill -9.
package store

import (
	"fmt"
	"sync"

	"github.com/tgbotsvc/tgbot/internal/storage"
)

const (
	bucketPeers     = "peers"
	bucketUsernames = "usernames"
	bucketDocuments = "documents"
	bucketIdem      = "idempotency"
	bucketJobs      = "jobs"
	bucketJobItems  = "job_items"
)

// ErrNotFound is returned when a key does not exist.
var ErrNotFound = storage.ErrNotFound

// Store is the sender's database.
type Store struct {
	db    *storage.DB
	peers peerCache
	// peerWrites orders PutPeers, so the cache takes writes in the order
	// they were committed.
	peerWrites sync.Mutex
}

// Open opens (creating) the database at path.
func Open(path string) (*Store, error) {
	return open(path, maxCachedPeers)
}

func open(path string, cachedPeers int) (*Store, error) {
	db, err := storage.Open(path, bucketPeers, bucketUsernames, bucketDocuments, bucketIdem, bucketJobs, bucketJobItems)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db}
	if err := s.peers.load(db, cachedPeers); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
