package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/gotd/td/tg"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// learner keeps the access hashes Telegram returns with sent messages
// (the users and chats of the updates), so users first addressed with
// access hash 0 are addressed with their real one afterwards. Peers are
// committed in batches, off the send path: a broadcast to 10,000 new users
// costs a handful of transactions, not 10,000.
type learner struct {
	store Store
	log   *zap.Logger

	mu      sync.Mutex
	known   map[int64]bool // user and channel IDs already stored in this run
	pending []store.Peer
}

func newLearner(st Store, log *zap.Logger) *learner {
	return &learner{store: st, log: log, known: map[int64]bool{}}
}

// observe queues the peers of a send's answer that are not stored yet.
func (l *learner) observe(u tg.UpdatesClass) {
	var users []tg.UserClass
	var chats []tg.ChatClass
	switch u := u.(type) {
	case *tg.Updates:
		users, chats = u.Users, u.Chats
	case *tg.UpdatesCombined:
		users, chats = u.Users, u.Chats
	default:
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.anyNewLocked(users, chats) {
		return // the usual case: nothing to build
	}
	for _, p := range learn(users, chats) {
		if p.AccessHash == 0 || p.Kind == send.PeerChat {
			continue
		}
		key := p.ChatID()
		if !l.known[key] {
			l.known[key] = true
			l.pending = append(l.pending, p)
		}
	}
}

// anyNewLocked reports whether users or chats hold a peer with an access
// hash that is not known yet.
func (l *learner) anyNewLocked(users []tg.UserClass, chats []tg.ChatClass) bool {
	for _, u := range users {
		if u, ok := u.(*tg.User); ok && u.AccessHash != 0 && !l.known[send.JoinChatID(send.PeerUser, u.ID)] {
			return true
		}
	}
	for _, c := range chats {
		if c, ok := c.(*tg.Channel); ok && c.AccessHash != 0 && !l.known[send.JoinChatID(send.PeerChannel, c.ID)] {
			return true
		}
	}
	return false
}

// run commits queued peers every interval until ctx ends, then once more.
func (l *learner) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.flush()
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *learner) flush() {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := l.store.PutPeers(batch...); err != nil {
		l.log.Warn("store learned peers", zap.Int("count", len(batch)), zap.Error(err))
		l.mu.Lock()
		for _, p := range batch {
			delete(l.known, p.ChatID())
		}
		l.mu.Unlock()
	}
}
