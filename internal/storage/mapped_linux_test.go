//go:build linux

package storage_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/storage"
)

// mappedRSS is the resident size of this process's mappings of path, from
// /proc/self/smaps.
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			require.NoError(t, err)
			total += kb << 10
		}
	}
	require.NoError(t, sc.Err())
	return total
}

// Trim leaves a small file mapped; once the file is TrimMinSize or more it
// drops the pages a read made resident, and the data is all still there.
func TestTrimReleasesLargeFileKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.db")
	db, err := storage.Open(path, "b")
	require.NoError(t, err)
	defer db.Close()
	value := bytes.Repeat([]byte("x"), 64<<10)
	n := 0
	put := func(to int) {
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			for ; n < to; n++ {
				if err := tx.Bucket([]byte("b")).Put(storage.Uint64Key(uint64(n)), value); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	readAll := func() {
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			c, got := tx.Bucket([]byte("b")).Cursor(), 0
			for k, v := c.First(); k != nil; k, v = c.Next() {
				require.Equal(t, value, v)
				got++
			}
			require.Equal(t, n, got)
			return nil
		}))
	}
	put(64) // 4 MiB: under TrimMinSize, left mapped
	readAll()
	small := mappedRSS(t, path)
	require.Greater(t, small, int64(2<<20))
	db.Trim()
	require.GreaterOrEqual(t, mappedRSS(t, path), small, "a small file is not trimmed")

	put(320) // 20 MiB
	readAll()
	before := mappedRSS(t, path)
	require.Greater(t, before, int64(16<<20), "reading 20 MiB through the mapping makes it resident")
	time.Sleep(storage.TrimEvery)
	db.Trim()
	after := mappedRSS(t, path)
	require.Less(t, after, int64(1<<20), "released: %d bytes still resident", after)
	readAll() // the data is all still there
}
