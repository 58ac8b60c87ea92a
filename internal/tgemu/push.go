package tgemu

import (
	"context"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/tgbotsvc/tgbot/internal/tgemu/mtserver"
	"go.uber.org/zap"
)

// maxSessionsPerAccount bounds the update-receiving sessions kept per
// account; the oldest is dropped (gotd opens a new session per reconnect).
const maxSessionsPerAccount = 8

// pushQueue is how many updates may wait for one slow session before
// further ones are dropped (the client then recovers through getDifference,
// as with Telegram).
const pushQueue = 4096

// session is an MTProto session that receives updates: one that made an
// authorized call without invokeWithoutUpdates. Each has a goroutine that
// writes its updates in order.
type session struct {
	id     int64
	userID int64
	seq    uint64 // registration order, to drop the oldest
	sess   mtserver.Session
	queue  chan func() bin.Encoder
	cancel context.CancelFunc
}

func (ss *session) stop() { ss.cancel() }

// subscribeLocked registers the calling session for updates. s.mu held.
func (s *Server) subscribeLocked(c *call) {
	id := c.req.Session.ID
	if ss, ok := s.sessions[id]; ok && ss.userID == c.acc.ID {
		return
	}
	if s.ctx == nil || s.ctx.Err() != nil {
		return
	}
	// Drop the oldest when the account has too many.
	var oldest *session
	n := 0
	for _, ss := range s.sessions {
		if ss.userID != c.acc.ID {
			continue
		}
		n++
		if oldest == nil || ss.seq < oldest.seq {
			oldest = ss
		}
	}
	if n >= maxSessionsPerAccount && oldest != nil {
		oldest.stop()
		delete(s.sessions, oldest.id)
	}
	s.sessionSeq++
	ctx, cancel := context.WithCancel(s.ctx)
	ss := &session{
		id:     id,
		userID: c.acc.ID,
		seq:    s.sessionSeq,
		sess:   c.req.Session,
		queue:  make(chan func() bin.Encoder, pushQueue),
		cancel: cancel,
	}
	s.sessions[id] = ss
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pushLoop(ctx, ss)
	}()
}

func (s *Server) pushLoop(ctx context.Context, ss *session) {
	for {
		select {
		case <-ctx.Done():
			return
		case build := <-ss.queue:
			if err := s.mt.Send(ctx, ss.sess, mtserver.MessageFromServer, build()); err != nil {
				if ctx.Err() == nil {
					s.log.Debug("push failed, dropping session", zap.Int64("session_id", ss.id), zap.Error(err))
				}
				s.mu.Lock()
				if s.sessions[ss.id] == ss {
					delete(s.sessions, ss.id)
				}
				s.mu.Unlock()
				ss.cancel()
				return
			}
		}
	}
}

// pushLocked queues updates for every update-receiving session of userID
// except the one with ID except. build is called once per session so each
// gets its own TL objects. s.mu held: queuing under the lock that assigned
// the pts keeps each session's updates in pts order.
func (s *Server) pushLocked(userID, except int64, build func() bin.Encoder) {
	for _, ss := range s.sessions {
		if ss.userID != userID || ss.id == except {
			continue
		}
		select {
		case ss.queue <- build:
		default:
			s.log.Warn("push queue full, update dropped", zap.Int64("user_id", userID))
		}
	}
}

// pushMessageLocked pushes the new message m of account to its sessions.
func (s *Server) pushMessageLocked(acc *account, m *message, except int64) {
	s.pushLocked(acc.ID, except, func() bin.Encoder {
		s.mu.Lock()
		defer s.mu.Unlock()
		return &tg.Updates{
			Updates: []tg.UpdateClass{&tg.UpdateNewMessage{Message: s.messageTLLocked(m), Pts: m.Pts, PtsCount: 1}},
			Users:   s.usersForLocked(acc.ID, m),
			Chats:   s.chatsForLocked(m),
			Date:    m.Date,
		}
	})
}
