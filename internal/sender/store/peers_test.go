package store

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// TestPeerCacheFollowsWrites: reads served from memory never return a peer
// older than the last PutPeers, also while reads and writes interleave.
func TestPeerCacheFollowsWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := Open(path)
	require.NoError(t, err)
	require.NoError(t, st.PutPeers(Peer{Kind: send.PeerUser, ID: 1, AccessHash: 10}))
	p, err := st.Peer(send.PeerUser, 1)
	require.NoError(t, err)
	require.Equal(t, int64(10), p.AccessHash)
	require.NoError(t, st.PutPeers(Peer{Kind: send.PeerUser, ID: 1, AccessHash: 11}))
	p, err = st.Peer(send.PeerUser, 1)
	require.NoError(t, err)
	require.Equal(t, int64(11), p.AccessHash, "a cached peer is replaced by a write")

	const writes = 200
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			last := int64(0)
			for range writes {
				p, err := st.Peer(send.PeerUser, 1)
				if !(err == nil && p.AccessHash >= last) {
					t.Errorf("read %v (%v) after %d", p.AccessHash, err, last)
					return
				}
				last = p.AccessHash
			}
		})
	}
	for h := int64(12); h < 12+writes; h++ {
		require.NoError(t, st.PutPeers(Peer{Kind: send.PeerUser, ID: 1, AccessHash: h}))
	}
	wg.Wait()
	p, err = st.Peer(send.PeerUser, 1)
	require.NoError(t, err)
	require.Equal(t, int64(12+writes-1), p.AccessHash)

	require.NoError(t, st.Close())
	st, err = Open(path)
	require.NoError(t, err)
	defer st.Close()
	p, err = st.Peer(send.PeerUser, 1)
	require.NoError(t, err)
	require.Equal(t, int64(12+writes-1), p.AccessHash, "what was read from memory is what is on disk")
}

// TestPeerCacheComplete: while the database holds few enough peers the
// cache has them all (loaded on open, added on write), so a miss answers
// ErrNotFound; past the limit misses are read from the database again and
// every peer written is still found.
func TestPeerCacheComplete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := open(path, 3)
	require.NoError(t, err)
	_, err = st.Peer(send.PeerUser, 1)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, st.PutPeers(Peer{Kind: send.PeerUser, ID: 1, AccessHash: 10},
		Peer{Kind: send.PeerChannel, ID: 1, AccessHash: 20, Username: "chan"}))
	require.True(t, st.peers.isComplete())
	p, err := st.Peer(send.PeerChannel, 1)
	require.NoError(t, err)
	require.Equal(t, int64(20), p.AccessHash)
	p, err = st.PeerByUsername("chan")
	require.NoError(t, err)
	require.Equal(t, int64(20), p.AccessHash)
	require.NoError(t, st.Close())

	st, err = open(path, 3)
	require.NoError(t, err)
	require.True(t, st.peers.isComplete(), "2 peers fit a cache of 3")
	require.Len(t, st.peers.m, 2, "loaded on open")
	p, err = st.Peer(send.PeerUser, 1)
	require.NoError(t, err)
	require.Equal(t, int64(10), p.AccessHash)
	_, err = st.Peer(send.PeerUser, 2)
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, st.PutPeers(Peer{Kind: send.PeerUser, ID: 2, AccessHash: 30},
		Peer{Kind: send.PeerUser, ID: 3, AccessHash: 40}, Peer{Kind: send.PeerUser, ID: 1, AccessHash: 11}))
	require.False(t, st.peers.isComplete(), "4 peers do not fit")
	for id, hash := range map[int64]int64{1: 11, 2: 30, 3: 40} {
		p, err := st.Peer(send.PeerUser, id)
		require.NoError(t, err)
		require.Equal(t, hash, p.AccessHash, "user %d", id)
	}
	_, err = st.Peer(send.PeerUser, 4)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, st.Close())

	st, err = open(path, 3)
	require.NoError(t, err)
	defer st.Close()
	require.False(t, st.peers.isComplete(), "4 peers are not loaded into a cache of 3")
	p, err = st.Peer(send.PeerUser, 3)
	require.NoError(t, err)
	require.Equal(t, int64(40), p.AccessHash)
}
