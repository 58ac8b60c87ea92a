package tgemu

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gotd/td/tgerr"
)

// limiter implements Telegram's flood limits with sliding windows: a send
// is refused with FLOOD_WAIT_X when the window already holds the limit,
// X being the seconds until its oldest send leaves. Guarded by Server.mu.
type limiter struct {
	limits Limits
	global map[int64]*window    // per bot
	chat   map[limitKey]*window // per bot and chat, per second
	group  map[limitKey]*window // per bot and group, per minute
}

type limitKey struct {
	bot  int64
	peer peerKey
}

func newLimiter(l Limits) *limiter {
	return &limiter{
		limits: l,
		global: map[int64]*window{},
		chat:   map[limitKey]*window{},
		group:  map[limitKey]*window{},
	}
}

// window holds the times of the last sends, at most limit of them.
type window struct {
	times []time.Time // ring buffer
	next  int
}

// wait returns how long until one more send fits, 0 when it fits now.
func (w *window) wait(now time.Time, limit int, span time.Duration) time.Duration {
	if len(w.times) < limit {
		return 0
	}
	oldest := w.times[w.next]
	if d := oldest.Add(span).Sub(now); d > 0 {
		return d
	}
	return 0
}

func (w *window) add(now time.Time, limit int) {
	if len(w.times) < limit {
		w.times = append(w.times, now) // the oldest stays at index 0 = next
		return
	}
	w.times[w.next] = now
	w.next = (w.next + 1) % limit
}

func getWindow[K comparable](m map[K]*window, k K) *window {
	w := m[k]
	if w == nil {
		w = &window{}
		m[k] = w
	}
	return w
}

// allow checks every limit for one message from bot to peer and, when all
// pass, counts it. It returns a FLOOD_WAIT error otherwise.
func (l *limiter) allow(now time.Time, bot int64, peer peerKey) error {
	type check struct {
		w     *window
		limit int
		span  time.Duration
	}
	var checks []check
	if n := l.limits.GlobalPerSecond; n > 0 {
		checks = append(checks, check{getWindow(l.global, bot), n, time.Second})
	}
	if n := l.limits.PerChatPerSecond; n > 0 {
		checks = append(checks, check{getWindow(l.chat, limitKey{bot, peer}), n, time.Second})
	}
	if n := l.limits.GroupPerMinute; n > 0 && peer.Chat {
		checks = append(checks, check{getWindow(l.group, limitKey{bot, peer}), n, time.Minute})
	}
	var longest time.Duration
	for _, c := range checks {
		if d := c.w.wait(now, c.limit, c.span); d > longest {
			longest = d
		}
	}
	if longest > 0 {
		secs := int((longest + time.Second - 1) / time.Second)
		return tgerr.New(420, fmt.Sprintf("FLOOD_WAIT_%d", secs))
	}
	for _, c := range checks {
		c.w.add(now, c.limit)
	}
	return nil
}

// SetLimits replaces the flood limits; counting starts afresh.
func (s *Server) SetLimits(l Limits) {
	s.mu.Lock()
	s.limiter = newLimiter(l)
	s.mu.Unlock()
}

// fault is an injected RPC error for the next count calls of a method.
type fault struct {
	err   *tgerr.Error
	count int
}

var rpcErrorRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// ParseRPCError turns "FLOOD_WAIT_3", "INTERNAL" or "403:CHAT_WRITE_FORBIDDEN"
// into the RPC error Telegram would send: FLOOD_WAIT_* and FLOOD_PREMIUM_WAIT_*
// are 420, INTERNAL* 500, AUTH_KEY_*/SESSION_* 401, others 400 unless a
// code is given.
func ParseRPCError(s string) (*tgerr.Error, error) {
	code := 0
	if c, rest, ok := strings.Cut(s, ":"); ok {
		n, err := strconv.Atoi(c)
		if err != nil || n < 300 || n > 599 {
			return nil, fmt.Errorf("bad error code %q", c)
		}
		code, s = n, rest
	}
	if !rpcErrorRe.MatchString(s) {
		return nil, errors.New("error must look like FLOOD_WAIT_3 or INTERNAL")
	}
	if code == 0 {
		switch {
		case strings.HasPrefix(s, "FLOOD_WAIT_"), strings.HasPrefix(s, "FLOOD_PREMIUM_WAIT_"):
			code = 420
		case strings.HasPrefix(s, "INTERNAL"):
			code = 500
		case strings.HasPrefix(s, "AUTH_KEY_"), strings.HasPrefix(s, "SESSION_"):
			code = 401
		default:
			code = 400
		}
	}
	return tgerr.New(code, s), nil
}

// InjectFault makes the next count calls of method (e.g.
// "messages.sendMessage") fail with rpcError (see ParseRPCError). Faults
// for one method queue up.
func (s *Server) InjectFault(method, rpcError string, count int) error {
	if method == "" {
		return errors.New("method is required")
	}
	if count <= 0 {
		return errors.New("count must be positive")
	}
	if !knownMethod(method) {
		return fmt.Errorf("unknown method %q", method)
	}
	e, err := ParseRPCError(rpcError)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.faults[method] = append(s.faults[method], &fault{err: e, count: count})
	s.mu.Unlock()
	return nil
}

func knownMethod(name string) bool {
	for _, n := range methodNames {
		if n == name {
			return true
		}
	}
	return false
}

func (s *Server) takeFault(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[method]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	f.count--
	if f.count <= 0 {
		q = q[1:]
		if len(q) == 0 {
			delete(s.faults, method)
		} else {
			s.faults[method] = q
		}
	}
	// A copy: tgerr.Error values are not mutated, but callers may wrap.
	return tgerr.New(f.err.Code, f.err.Message)
}
