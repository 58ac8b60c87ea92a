package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/storage"
)

// peerCache keeps peers in memory, so that a send (every send_message looks
// its peer up) costs a map lookup instead of a read transaction and a JSON
// decode. While the database holds at most maxCachedPeers peers the cache
// is complete: Open loads them all and PutPeers adds what it committed, so
// a peer missing from the cache is missing from the database too (a first
// send to a user costs no read transaction either). Past that size it only
// keeps peers read from the database: PutPeers drops the entries it writes,
// gen makes a read that raced with such a write leave the cache alone, and
// it starts over when full.
type peerCache struct {
	mu       sync.RWMutex
	m        map[peerID]Peer
	gen      uint64
	complete bool
	limit    int // maxCachedPeers but in tests
}

type peerID struct {
	kind send.PeerKind
	id   int64
}

const maxCachedPeers = 1 << 16

// get returns the cached peer; complete says a miss is a peer the database
// does not have.
func (c *peerCache) get(k peerID) (_ Peer, gen uint64, ok, complete bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.m[k]
	return p, c.gen, ok, c.complete
}

func (c *peerCache) isComplete() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.complete
}

func (c *peerCache) fill(k peerID, p Peer, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= c.limit {
		c.m = make(map[peerID]Peer)
	}
	c.m[k] = p
}

func (c *peerCache) drop(peers []Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, p := range peers {
		delete(c.m, peerID{p.Kind, p.ID})
	}
}

// add puts committed peers in a complete cache. One that would make it
// larger than maxCachedPeers ends its completeness: from then on it only
// keeps what it is given and what is read.
func (c *peerCache) add(peers []Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, p := range peers {
		k := peerID{p.Kind, p.ID}
		if _, ok := c.m[k]; !ok && len(c.m) >= c.limit {
			c.complete = false
			continue
		}
		c.m[k] = p
	}
}

// load fills the cache with every peer of the database, complete, unless
// there are more than limit (then it stays empty).
func (c *peerCache) load(db *storage.DB, limit int) error {
	c.limit = limit
	m := make(map[peerID]Peer)
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketPeers))
		if b == nil {
			return fmt.Errorf("bucket %s missing", bucketPeers)
		}
		if b.Stats().KeyN > c.limit {
			m = nil
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var p Peer
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode %s %s: %w", bucketPeers, k, err)
			}
			m[peerID{p.Kind, p.ID}] = p
			return nil
		})
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.complete = m, m != nil
	return nil
}

// Peer is what the service knows about a chat: the access hash MTProto wants
// with its ID, and its username if any.
type Peer struct {
	Kind       send.PeerKind `json:"kind"`
	ID         int64         `json:"id"`
	AccessHash int64         `json:"access_hash"`
	Username   string        `json:"username,omitempty"`
	UpdatedAt  time.Time     `json:"updated_at"`
}

// ChatID is the peer's Bot-API-style chat ID.
func (p Peer) ChatID() int64 { return send.JoinChatID(p.Kind, p.ID) }

func peerKey(kind send.PeerKind, id int64) []byte {
	return fmt.Appendf(nil, "%d:%d", kind, id)
}

// PutPeers stores peers (and their usernames) in one transaction.
func (s *Store) PutPeers(peers ...Peer) error {
	if len(peers) == 0 {
		return nil
	}
	s.peerWrites.Lock()
	defer s.peerWrites.Unlock()
	complete := s.peers.isComplete()
	if !complete {
		// Dropped after the commit too: a read between the two drops may
		// have cached the old value (its fill sees the new generation and
		// gives up).
		s.peers.drop(peers)
		defer s.peers.drop(peers)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, p := range peers {
			if err := storage.Put(tx, bucketPeers, peerKey(p.Kind, p.ID), p); err != nil {
				return err
			}
			if p.Username != "" {
				if err := storage.Put(tx, bucketUsernames, []byte(strings.ToLower(p.Username)), p.ChatID()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil && complete {
		// Readers saw the old values until the commit, as in the
		// database, and see the new ones from now on.
		s.peers.add(peers)
	}
	return err
}

// Peer returns the stored peer or ErrNotFound.
func (s *Store) Peer(kind send.PeerKind, id int64) (Peer, error) {
	k := peerID{kind, id}
	p, gen, ok, complete := s.peers.get(k)
	if ok {
		return p, nil
	}
	if complete {
		return Peer{}, ErrNotFound
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return storage.Get(tx, bucketPeers, peerKey(kind, id), &p)
	})
	if err == nil {
		s.peers.fill(k, p, gen)
	}
	return p, err
}

// PeerByUsername returns the peer stored for a username or ErrNotFound.
func (s *Store) PeerByUsername(username string) (Peer, error) {
	var p Peer
	err := s.db.View(func(tx *bolt.Tx) error {
		var chatID int64
		if err := storage.Get(tx, bucketUsernames, []byte(strings.ToLower(username)), &chatID); err != nil {
			return err
		}
		kind, id, _ := send.SplitChatID(chatID)
		return storage.Get(tx, bucketPeers, peerKey(kind, id), &p)
	})
	return p, err
}
