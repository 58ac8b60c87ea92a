package storage

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestPutGetAndOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.db")
	db, err := Open(path, "items")
	require.NoError(t, err)
	defer db.Close()

	type item struct{ N int }
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for _, n := range []uint64{300, 2, 70000} {
			if err := Put(tx, "items", Uint64Key(n), item{N: int(n)}); err != nil {
				return err
			}
		}
		return nil
	}))
	var keys []uint64
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		var it item
		require.NoError(t, Get(tx, "items", Uint64Key(300), &it))
		require.Equal(t, 300, it.N)
		require.ErrorIs(t, Get(tx, "items", Uint64Key(1), &it), ErrNotFound)
		require.Error(t, Get(tx, "missing", Uint64Key(1), &it))
		return tx.Bucket([]byte("items")).ForEach(func(k, _ []byte) error {
			keys = append(keys, KeyUint64(k))
			return nil
		})
	}))
	require.Equal(t, []uint64{2, 300, 70000}, keys, "cursor order is numeric order")
}

func TestOpenLockedFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path)
	require.NoError(t, err)
	defer db.Close()
	// bbolt's flock is per open file description, so a second Open in the
	// same process contends like another process would.
	_, err = Open(path)
	require.ErrorContains(t, err, "locked by another process")
}
