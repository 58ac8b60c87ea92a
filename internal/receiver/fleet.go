package receiver

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/bots"
)

// The receiver is a bots.Fleet: /admin/bots adds and removes bots while it
// runs.
var _ bots.Fleet = (*Service)(nil)

// Bots implements bots.Fleet.
func (s *Service) Bots() []bots.Info {
	bs := s.list()
	out := make([]bots.Info, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// errNotRunning is returned by AddBot before Run or after it returned.
var errNotRunning = errors.New("the receiver is not running")

// AddBot implements bots.Fleet: it starts the bot, waits for its login and
// only then persists its token (DATA_DIR/bots/<bot_id>/token, 0600). A
// refused login leaves nothing behind.
func (s *Service) AddBot(ctx context.Context, t bots.Token) (bots.Info, bool, error) {
	s.mu.Lock()
	if b := s.bots[t.ID()]; b != nil {
		s.mu.Unlock()
		return b.info(), false, nil
	}
	runCtx := s.runCtx
	if runCtx == nil || runCtx.Err() != nil {
		s.mu.Unlock()
		return bots.Info{}, false, errNotRunning
	}
	b, err := s.newBot(t, bots.SessionFile(s.cfg.Path, t.ID(), SessionName))
	if err != nil {
		s.mu.Unlock()
		return bots.Info{}, false, err
	}
	s.bots[t.ID()] = b
	s.order = append(s.order, t.ID())
	s.mu.Unlock()

	// A bot added at runtime never stops the service, even when it is the
	// only one left.
	b.start(runCtx, func(*bot, error) {})
	var loginErr error
	select {
	case <-b.loggedIn:
		loginErr = b.loginErr
	case <-ctx.Done():
		loginErr = ctx.Err()
	}
	if loginErr != nil {
		s.drop(t.ID())
		b.stop()
		if err := bots.Forget(s.cfg.Path, t.ID()); err != nil {
			s.log.Warn("clean up after a refused bot", zap.Int64("bot_id", t.ID()), zap.Error(err))
		}
		if rpc, ok := tgerr.As(loginErr); ok {
			return bots.Info{}, false, &bots.LoginError{Code: rpc.Type, Err: loginErr}
		}
		return bots.Info{}, false, loginErr
	}
	if err := bots.Save(s.cfg.Path, t); err != nil {
		s.drop(t.ID())
		b.stop()
		return bots.Info{}, false, fmt.Errorf("persist the bot: %w", err)
	}
	s.log.Info("bot added", zap.Int64("bot_id", t.ID()))
	return b.info(), true, nil
}

// RemoveBot implements bots.Fleet: the bot stops taking updates at once and
// is forgotten (token and session). The events it already accepted stay in
// the outbox and are delivered as usual.
func (s *Service) RemoveBot(_ context.Context, id int64) error {
	b := s.drop(id)
	if b == nil {
		return bots.ErrUnknownBot
	}
	b.stop()
	if err := bots.Forget(s.cfg.Path, id); err != nil {
		return err
	}
	s.log.Info("bot removed", zap.Int64("bot_id", id))
	return nil
}

// drop takes bot id out of the service and returns it (nil if absent).
func (s *Service) drop(id int64) *bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[id]
	if b == nil {
		return nil
	}
	delete(s.bots, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i:i], s.order[i+1:]...)
			break
		}
	}
	return b
}
