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

// A drained backlog leaves many free pages: the map freelist keeps them as
// spans, they are reused, and the file reopens with its data.
func TestFreedPagesReusedAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "free.db")
	db, err := Open(path, "q")
	require.NoError(t, err)
	require.Equal(t, bolt.FreelistMapType, db.FreelistType)
	value := make([]byte, 4000)
	fill := func(from, to int) {
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			for i := from; i < to; i++ {
				if err := tx.Bucket([]byte("q")).Put(Uint64Key(uint64(i)), value); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	fill(0, 3000)
	for i := 0; i < 2990; i += 100 { // drain, one commit per window
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			for k := i; k < i+100 && k < 2990; k++ {
				if err := tx.Bucket([]byte("q")).Delete(Uint64Key(uint64(k))); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.Greater(t, db.Stats().FreePageN, 1000, "the drained records' pages are free")
	size := func() int64 {
		var n int64
		require.NoError(t, db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }))
		return n
	}
	before := size()
	fill(3000, 4000) // reuses the free pages: the file does not grow
	require.Equal(t, before, size())
	require.NoError(t, db.Close())

	db, err = Open(path, "q")
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		require.Equal(t, 1010, tx.Bucket([]byte("q")).Stats().KeyN)
		return nil
	}))
}
