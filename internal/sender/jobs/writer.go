package jobs

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// writer commits finished items in batches: one bbolt transaction (one
// fsync) per batch instead of one per recipient, which is what lets a job
// run at a thousand sends a second.
type writer struct {
	r     *Runner
	every time.Duration

	mu      sync.Mutex
	pending map[string][]store.Item
	kick    chan chan struct{}
	done    chan struct{}
	stop    chan struct{}
}

const maxBatch = 512

func newWriter(r *Runner, every time.Duration) *writer {
	return &writer{
		r: r, every: every, pending: map[string][]store.Item{},
		kick: make(chan chan struct{}), done: make(chan struct{}), stop: make(chan struct{}),
	}
}

func (w *writer) add(jobID string, it store.Item) {
	w.mu.Lock()
	w.pending[jobID] = append(w.pending[jobID], it)
	full := len(w.pending[jobID]) >= maxBatch
	w.mu.Unlock()
	if full {
		w.flush()
	}
}

// flush commits everything added so far and returns when it is committed.
func (w *writer) flush() {
	ack := make(chan struct{})
	select {
	case w.kick <- ack:
		<-ack
	case <-w.done:
	}
}

func (w *writer) run() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.commit()
		case ack := <-w.kick:
			w.commit()
			close(ack)
		case <-w.stop:
			w.commit()
			return
		}
	}
}

func (w *writer) close() {
	close(w.stop)
	<-w.done
}

func (w *writer) commit() {
	w.mu.Lock()
	batches := w.pending
	w.pending = map[string][]store.Item{}
	w.mu.Unlock()
	for jobID, items := range batches {
		if _, err := w.r.store.SaveItems(jobID, items, time.Now().UTC()); err != nil {
			// The items stay pending in the store and are sent again (with
			// the same random_id) on the next run.
			w.r.log.Error("save job progress", zap.String("job_id", jobID), zap.Error(err))
			continue
		}
		w.r.addDepth(-int64(len(items)))
	}
}
