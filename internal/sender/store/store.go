// Package store is the sender's persistent state in one bbolt file
// (DATA_DIR/sender.db, through internal/storage): peers and their access
// hashes, uploaded documents, Idempotency-Key records and bulk jobs with a
// row per recipient. Every write is a committed bbolt transaction, so what
// the service answered or sent survives kill -9.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
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
}

// peerCache keeps peers read from the database, so that a send to a known
// chat (every send_message looks its peer up) costs a map lookup instead of
// a read transaction and a JSON decode. PutPeers drops the entries it
// writes; gen makes a read that raced with such a write leave the cache
// alone. It holds at most maxCachedPeers entries and starts over when full.
type peerCache struct {
	mu  sync.RWMutex
	m   map[peerID]Peer
	gen uint64
}

type peerID struct {
	kind send.PeerKind
	id   int64
}

const maxCachedPeers = 1 << 16

func (c *peerCache) get(k peerID) (Peer, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.m[k]
	return p, c.gen, ok
}

func (c *peerCache) fill(k peerID, p Peer, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedPeers {
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

// Open opens (creating) the database at path.
func Open(path string) (*Store, error) {
	db, err := storage.Open(path, bucketPeers, bucketUsernames, bucketDocuments, bucketIdem, bucketJobs, bucketJobItems)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

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
	// Dropped after the commit too: a read between the two drops may have
	// cached the old value (its fill sees the new generation and gives up).
	s.peers.drop(peers)
	defer s.peers.drop(peers)
	return s.db.Update(func(tx *bolt.Tx) error {
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
}

// Peer returns the stored peer or ErrNotFound.
func (s *Store) Peer(kind send.PeerKind, id int64) (Peer, error) {
	k := peerID{kind, id}
	p, gen, ok := s.peers.get(k)
	if ok {
		return p, nil
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

// DeleteUsername forgets a username (it no longer resolves to that peer).
func (s *Store) DeleteUsername(username string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketUsernames)).Delete([]byte(strings.ToLower(username)))
	})
}

// TGDocument is a document as Telegram knows it.
type TGDocument struct {
	ID            int64  `json:"id"`
	AccessHash    int64  `json:"access_hash"`
	FileReference []byte `json:"file_reference"`
	DCID          int    `json:"dc_id,omitempty"`
}

// MessageRef is a message a document was sent in, to refresh its file
// reference with messages.getMessages.
type MessageRef struct {
	ChatID    int64 `json:"chat_id"`
	MessageID int   `json:"message_id"`
}

// Document is an uploaded document, reusable by its opaque ID.
type Document struct {
	ID        string      `json:"document_id"`
	FileName  string      `json:"file_name"`
	Size      int64       `json:"size"`
	MimeType  string      `json:"mime_type"`
	SHA256    string      `json:"sha256"`
	TG        TGDocument  `json:"tg"`
	CopyPath  string      `json:"copy_path,omitempty"`
	SentIn    *MessageRef `json:"sent_in,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
}

// PutDocument stores d.
func (s *Store) PutDocument(d Document) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return storage.Put(tx, bucketDocuments, []byte(d.ID), d)
	})
}

// Document returns the document with id or ErrNotFound.
func (s *Store) Document(id string) (Document, error) {
	var d Document
	err := s.db.View(func(tx *bolt.Tx) error {
		return storage.Get(tx, bucketDocuments, []byte(id), &d)
	})
	return d, err
}

// UpdateDocument applies fn to the stored document in one transaction.
func (s *Store) UpdateDocument(id string, fn func(*Document)) (Document, error) {
	var d Document
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := storage.Get(tx, bucketDocuments, []byte(id), &d); err != nil {
			return err
		}
		fn(&d)
		return storage.Put(tx, bucketDocuments, []byte(id), d)
	})
	return d, err
}

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
