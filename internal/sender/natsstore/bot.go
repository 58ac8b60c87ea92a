package natsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Bot is one bot's peers and documents (it implements gateway.Store).
// Keys start with the bot's ID: Telegram's access hashes and file IDs
// belong to the bot that received them.
type Bot struct {
	s      *Stores
	prefix string // "<bot_id>."

	peers sync.Map // peerKey -> store.Peer, read or written here
}

// Bot returns the store of bot id (0: a session without a token).
func (s *Stores) Bot(id int64) *Bot {
	return &Bot{s: s, prefix: strconv.FormatInt(id, 10) + "."}
}

func (b *Bot) peerKey(kind send.PeerKind, id int64) string {
	return fmt.Sprintf("%sp.%d.%d", b.prefix, kind, id)
}

func (b *Bot) usernameKey(username string) string {
	return b.prefix + "u." + strings.ToLower(username)
}

// Peer implements gateway.Store.
func (b *Bot) Peer(kind send.PeerKind, id int64) (store.Peer, error) {
	k := b.peerKey(kind, id)
	if p, ok := b.peers.Load(k); ok {
		return p.(store.Peer), nil
	}
	var p store.Peer
	if _, err := get(b.s.peers, k, &p); err != nil {
		return p, err
	}
	b.peers.Store(k, p)
	return p, nil
}

// PeerByUsername implements gateway.Store.
func (b *Bot) PeerByUsername(username string) (store.Peer, error) {
	var chatID int64
	if _, err := get(b.s.peers, b.usernameKey(username), &chatID); err != nil {
		return store.Peer{}, err
	}
	kind, id, _ := send.SplitChatID(chatID)
	return b.Peer(kind, id)
}

// PutPeers implements gateway.Store. Usernames that are not valid KV keys
// (Telegram's are [A-Za-z0-9_]) are not indexed.
func (b *Bot) PutPeers(peers ...store.Peer) error {
	for _, p := range peers {
		k := b.peerKey(p.Kind, p.ID)
		if err := put(b.s.peers, k, p); err != nil {
			return err
		}
		b.peers.Store(k, p)
		if p.Username != "" && validKeyToken(p.Username) {
			if err := put(b.s.peers, b.usernameKey(p.Username), p.ChatID()); err != nil {
				return err
			}
		}
	}
	return nil
}

func validKeyToken(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return s != ""
}

func (b *Bot) docKey(id string) (string, error) {
	if !validKeyToken(id) {
		return "", store.ErrNotFound // not an ID this service makes
	}
	return b.prefix + id, nil
}

// Document implements gateway.Store.
func (b *Bot) Document(id string) (store.Document, error) {
	var d store.Document
	k, err := b.docKey(id)
	if err != nil {
		return d, err
	}
	_, err = get(b.s.docs, k, &d)
	return d, err
}

// PutDocument implements gateway.Store.
func (b *Bot) PutDocument(d store.Document) error {
	k, err := b.docKey(d.ID)
	if err != nil {
		return fmt.Errorf("document ID %q: %w", d.ID, err)
	}
	return put(b.s.docs, k, d)
}

// UpdateDocument implements gateway.Store.
func (b *Bot) UpdateDocument(id string, fn func(*store.Document)) (store.Document, error) {
	k, err := b.docKey(id)
	if err != nil {
		return store.Document{}, err
	}
	return update(b.s.docs, k, fn)
}

// Files keeps documents' bytes in tg_files (it implements gateway.Copies);
// the reference saved with a document is "tg_files/<document_id>".
type Files struct{ os jetstream.ObjectStore }

// Files returns the document copies of every bot (a copy is the same bytes
// whichever bot uploaded it).
func (s *Stores) Files() Files { return Files{os: s.files} }

const filesRefPrefix = BucketFiles + "/"

// Keep implements gateway.Copies.
func (f Files) Keep(ctx context.Context, id string, sp *send.Spool) (string, error) {
	file := sp.File()
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if _, err := f.os.Put(ctx, jetstream.ObjectMeta{Name: id}, file); err != nil {
		return "", fmt.Errorf("%s put: %w", BucketFiles, err)
	}
	return filesRefPrefix + id, nil
}

// Open implements gateway.Copies.
func (f Files) Open(ctx context.Context, ref string) (io.ReadCloser, error) {
	name, ok := strings.CutPrefix(ref, filesRefPrefix)
	if !ok {
		return nil, errors.New("the document's copy is not in " + BucketFiles)
	}
	r, err := f.os.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s get: %w", BucketFiles, err)
	}
	return r, nil
}
