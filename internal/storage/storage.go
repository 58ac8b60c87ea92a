// Package storage is the thin layer over bbolt that the services share: one
// embedded, crash-safe database file per service in DATA_DIR, with JSON
// values and big-endian sequence keys so that cursor order is insertion
// order. bbolt is used instead of a hand-written log because its
// transactions are fsync'ed and atomic: an accepted request or an outbox
// event is on disk before we answer or acknowledge.
package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("not found")

// DB is a bbolt database with JSON helpers.
type DB struct {
	*bolt.DB
	lastTrim atomic.Int64 // unix nanos of the last Trim that released
}

// Open opens (creating if needed) the database at path and the given buckets.
// It fails fast, instead of hanging, when another process holds the file.
func Open(path string, buckets ...string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// The map freelist keeps free pages as spans: a drained backlog leaves
	// hundreds of thousands of free pages, which the default array freelist
	// merges into a new slice on every commit (megabytes of garbage each).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: locked by another process", path)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &DB{DB: db}, nil
}

// Put stores v as JSON under key in bucket.
func Put(tx *bolt.Tx, bucket string, key []byte, v any) error {
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("bucket %s missing", bucket)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", bucket, err)
	}
	return b.Put(key, data)
}

// Get decodes the JSON under key in bucket into v, or returns ErrNotFound.
func Get(tx *bolt.Tx, bucket string, key []byte, v any) error {
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("bucket %s missing", bucket)
	}
	data := b.Get(key)
	if data == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", bucket, err)
	}
	return nil
}

// Uint64Key encodes n big-endian so byte order equals numeric order.
func Uint64Key(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// KeyUint64 decodes a key made by Uint64Key.
func KeyUint64(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// Trim settings: a file smaller than TrimMinSize is left mapped (it costs
// little), and releases are at least TrimEvery apart.
const (
	TrimMinSize = 16 << 20
	TrimEvery   = 20 * time.Millisecond
)

// Trim releases the file's mapped pages (see releaseMapped) when the file is
// at least TrimMinSize and the last release is TrimEvery ago or more. A
// caller that just read or rewrote many pages (a window of a backlog, a
// commit of many acknowledgements) calls it, so the resident memory a large
// file costs stays bounded by what a few such calls touch: with the
// kernel's fault-around, a scattered read maps far more than it reads.
func (db *DB) Trim() {
	now := time.Now().UnixNano()
	last := db.lastTrim.Load()
	if now-last < int64(TrimEvery) || !db.lastTrim.CompareAndSwap(last, now) {
		return
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if tx.Size() >= TrimMinSize {
			_ = releaseMapped(db.Info().Data, tx.Size())
		}
		return nil
	})
}

// KeepMappedSmall calls Trim every interval until ctx ends, for the reads
// no caller trims after.
func (db *DB) KeepMappedSmall(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		db.Trim()
	}
}
