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
