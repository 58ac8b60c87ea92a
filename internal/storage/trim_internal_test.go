//go:build linux

package storage

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// Trim releases at most every TrimEvery: a caller trimming after every
// commit costs one madvise per TrimEvery, not one per commit.
func TestTrimThrottled(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "t.db"), "b")
	require.NoError(t, err)
	defer db.Close()
	value := bytes.Repeat([]byte("z"), 64<<10)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for i := range 320 {
			if err := tx.Bucket([]byte("b")).Put(Uint64Key(uint64(i)), value); err != nil {
				return err
			}
		}
		return nil
	}))
	last := time.Now().UnixNano()
	db.lastTrim.Store(last)
	db.Trim() // within TrimEvery of the last release
	require.Equal(t, last, db.lastTrim.Load(), "a release within TrimEvery of the last is skipped")
	db.lastTrim.Store(last - int64(TrimEvery))
	db.Trim()
	require.Greater(t, db.lastTrim.Load(), last, "TrimEvery after the last release, Trim releases")
}
