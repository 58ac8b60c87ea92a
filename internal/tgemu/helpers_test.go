package tgemu_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gotd/td/telegram/updates"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memState is an updates.StateStorage that outlives a client, as a
// service's persisted state would.
type memState struct {
	mu     sync.Mutex
	states map[int64]updates.State
}

func newMemState() *memState { return &memState{states: map[int64]updates.State{}} }

var errNoState = errors.New("no state")

func (m *memState) GetState(_ context.Context, userID int64) (updates.State, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[userID]
	return st, ok, nil
}

func (m *memState) SetState(_ context.Context, userID int64, st updates.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[userID] = st
	return nil
}

func (m *memState) update(userID int64, f func(*updates.State)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[userID]
	if !ok {
		return errNoState
	}
	f(&st)
	m.states[userID] = st
	return nil
}

func (m *memState) pts(userID int64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[userID].Pts
}

func (m *memState) SetPts(_ context.Context, userID int64, pts int) error {
	return m.update(userID, func(s *updates.State) { s.Pts = pts })
}

func (m *memState) SetQts(_ context.Context, userID int64, qts int) error {
	return m.update(userID, func(s *updates.State) { s.Qts = qts })
}

func (m *memState) SetDate(_ context.Context, userID int64, date int) error {
	return m.update(userID, func(s *updates.State) { s.Date = date })
}

func (m *memState) SetSeq(_ context.Context, userID int64, seq int) error {
	return m.update(userID, func(s *updates.State) { s.Seq = seq })
}

func (m *memState) SetDateSeq(_ context.Context, userID int64, date, seq int) error {
	return m.update(userID, func(s *updates.State) { s.Date, s.Seq = date, seq })
}

func (m *memState) GetChannelPts(context.Context, int64, int64) (int, bool, error) {
	return 0, false, nil
}

func (m *memState) SetChannelPts(context.Context, int64, int64, int) error { return nil }

func (m *memState) ForEachChannels(context.Context, int64, func(context.Context, int64, int) error) error {
	return nil
}
