package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotd/td/telegram/updates"
)

// The update state of gotd's updates.Manager. Reads and writes go to memory;
// the committer persists them together with the events queued before them.

var (
	_ updates.StateStorage        = (*Store)(nil)
	_ updates.ChannelAccessHasher = (*Store)(nil)
)

// errNoState is what Set* return before SetState, as updates.StateStorage
// requires.
var errNoState = errors.New("update state not found")

// GetState implements updates.StateStorage.
func (s *Store) GetState(_ context.Context, userID int64) (updates.State, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[userID]
	return st, ok, nil
}

// SetState implements updates.StateStorage.
func (s *Store) SetState(_ context.Context, userID int64, state updates.State) error {
	return s.setState(userID, true, true, func(st *updates.State) { *st = state })
}

// SetPts implements updates.StateStorage.
func (s *Store) SetPts(_ context.Context, userID int64, pts int) error {
	return s.setState(userID, false, true, func(st *updates.State) { st.Pts = pts })
}

// SetQts implements updates.StateStorage.
func (s *Store) SetQts(_ context.Context, userID int64, qts int) error {
	return s.setState(userID, false, true, func(st *updates.State) { st.Qts = qts })
}

// SetDate implements updates.StateStorage.
func (s *Store) SetDate(_ context.Context, userID int64, date int) error {
	return s.setState(userID, false, false, func(st *updates.State) { st.Date = date })
}

// SetSeq implements updates.StateStorage.
func (s *Store) SetSeq(_ context.Context, userID int64, seq int) error {
	return s.setState(userID, false, false, func(st *updates.State) { st.Seq = seq })
}

// SetDateSeq implements updates.StateStorage.
func (s *Store) SetDateSeq(_ context.Context, userID int64, date, seq int) error {
	return s.setState(userID, false, false, func(st *updates.State) { st.Date, st.Seq = date, seq })
}

// setState applies f to the state of userID. create allows a missing state;
// a frozen store refuses anything that moves pts or qts.
func (s *Store) setState(userID int64, create, movesPts bool, f func(*updates.State)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if movesPts && s.frozen != nil {
		return fmt.Errorf("update state frozen: %w", s.frozen)
	}
	st, ok := s.states[userID]
	if !ok && !create {
		return errNoState
	}
	f(&st)
	s.states[userID] = st
	s.dirtyStates[userID] = true // persisted with the next commit (see LazyFlush)
	return nil
}

// GetChannelPts implements updates.StateStorage.
func (s *Store) GetChannelPts(_ context.Context, userID, channelID int64) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.channels[chanKey{userID, channelID}]
	return cs.Pts, ok && cs.HasPts, nil
}

// SetChannelPts implements updates.StateStorage.
func (s *Store) SetChannelPts(_ context.Context, userID, channelID int64, pts int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen != nil {
		return fmt.Errorf("update state frozen: %w", s.frozen)
	}
	k := chanKey{userID, channelID}
	cs := s.channels[k]
	cs.Pts, cs.HasPts = pts, true
	s.channels[k] = cs
	s.dirtyChans[k] = true
	return nil
}

// ForEachChannels implements updates.StateStorage.
func (s *Store) ForEachChannels(ctx context.Context, userID int64, f func(ctx context.Context, channelID int64, pts int) error) error {
	s.mu.Lock()
	type item struct {
		id  int64
		pts int
	}
	var items []item
	for k, cs := range s.channels {
		if k.user == userID && cs.HasPts {
			items = append(items, item{k.channel, cs.Pts})
		}
	}
	s.mu.Unlock()
	for _, it := range items {
		if err := f(ctx, it.id, it.pts); err != nil {
			return err
		}
	}
	return nil
}

// SetChannelAccessHash implements updates.ChannelAccessHasher.
func (s *Store) SetChannelAccessHash(_ context.Context, userID, channelID, accessHash int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := chanKey{userID, channelID}
	cs := s.channels[k]
	cs.AccessHash, cs.HasHash = accessHash, true
	s.channels[k] = cs
	s.dirtyChans[k] = true
	return nil
}

// GetChannelAccessHash implements updates.ChannelAccessHasher.
func (s *Store) GetChannelAccessHash(_ context.Context, userID, channelID int64) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.channels[chanKey{userID, channelID}]
	return cs.AccessHash, ok && cs.HasHash, nil
}
