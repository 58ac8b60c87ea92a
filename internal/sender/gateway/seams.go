package gateway

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Store is what the gateway keeps about a bot: peers and documents.
// *store.Store (bbolt, one process) and natsstore's bot stores (shared by
// replicas) have it. Lookups return store.ErrNotFound for what is unknown.
type Store interface {
	Peer(kind send.PeerKind, id int64) (store.Peer, error)
	PeerByUsername(username string) (store.Peer, error)
	PutPeers(peers ...store.Peer) error
	Document(id string) (store.Document, error)
	PutDocument(d store.Document) error
	// UpdateDocument applies fn to the stored document atomically and
	// returns the result.
	UpdateDocument(id string, fn func(*store.Document)) (store.Document, error)
}

// Copies keeps the bytes of uploaded documents, so a document can be
// uploaded again when its file reference cannot be refreshed, or by another
// bot. Keep stores the spooled file of document id and returns the
// reference saved in Document.CopyPath; Open reads the copy back.
type Copies interface {
	Keep(ctx context.Context, id string, sp *send.Spool) (ref string, err error)
	Open(ctx context.Context, ref string) (io.ReadCloser, error)
}

// diskCopies keeps copies as files in a directory (the default).
type diskCopies struct{ dir string }

func (d diskCopies) Keep(_ context.Context, id string, sp *send.Spool) (string, error) {
	path := filepath.Join(d.dir, id)
	if err := sp.Keep(path); err != nil {
		return "", fmt.Errorf("keep document copy: %w", err)
	}
	return path, nil
}

func (d diskCopies) Open(_ context.Context, ref string) (io.ReadCloser, error) {
	f, err := os.Open(ref)
	if err != nil {
		return nil, fmt.Errorf("open document copy: %w", err)
	}
	return f, nil
}

// Limiter admits message sends to peer, waiting as long as the rate limits
// require; release is called once the answer came (or the call failed).
// *ratelimit.Limiter is the in-process one; a shared one keeps several
// replicas of the sender within one bot's limits.
type Limiter interface {
	Acquire(ctx context.Context, peer tg.InputPeerClass) (release func(), err error)
}

// FloodGate spreads FLOOD_WAITs: Wait blocks while Telegram asked this bot
// to wait (as seen by any replica), Report records a FLOOD_WAIT seen here.
type FloodGate interface {
	Wait(ctx context.Context) error
	Report(ctx context.Context, wait int)
}
