// Package natslimit keeps sender replicas together within one bot's
// Telegram limits, and spreads FLOOD_WAITs between them.
//
// Rate limits have one owner per bot: the replica holding the lease key
// <bot_id> in the KV bucket tg_limits (TTL 3 s, renewed every second)
// keeps the bot's buckets and windows (package ratelimit) in its memory
// and admits every replica's sends: a replica asks on tg.limit.<bot_id>.acquire
// before each message send and tells tg.limit.<bot_id>.release when the
// answer came, so the windows count sends from their start to their answer
// whichever replica makes them. The owner's own sends skip the round trip.
// A compare-and-set per send in KV (measured at about 1,300/s for one
// writer) would be slower and would lose the windows. When the owner dies,
// another replica takes the lease once it expired and admits nothing for
// one second more, so that what the old owner admitted has left the
// one-second windows.
//
// A FLOOD_WAIT seen by one replica is written to the KV bucket tg_flood
// with a TTL of the wait (key <bot_id>.<unique>); every replica watches
// its bots' keys and holds their sends until the latest wait ends.
//
// Limitations:
//   - A new owner starts with empty per-group windows (20 a minute): right
//     after a takeover a group may get up to one minute's budget more.
//   - Replicas' clocks matter only for flood waits (each compares the end
//     written by another with its own clock).
//   - A replica that cannot reach the owner waits (up to its send's
//     deadline) rather than sending unchecked.
package natslimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotd/td/tg"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/sender/ratelimit"
)

// Bucket names.
const (
	BucketLimits = "tg_limits"
	BucketFlood  = "tg_flood"
)

const (
	leaseTTL   = 3 * time.Second
	leaseRenew = time.Second
	// coldStart is how long a new owner admits nothing: the one-second
	// windows of the old owner empty meanwhile.
	coldStart = time.Second
	// grantTTL gives back the window slot of a send whose release never
	// came (its replica died).
	grantTTL = 30 * time.Second
	// maxRequest bounds one acquire round trip without a deadline.
	maxRequest = 30 * time.Second
)

// Buckets are the shared buckets.
type Buckets struct {
	nc     *nats.Conn
	limits jetstream.KeyValue
	flood  jetstream.KeyValue
}

// Open creates (or updates) tg_limits and tg_flood on c.
func Open(ctx context.Context, c *natsx.Conn) (*Buckets, error) {
	limits, err := c.KV(ctx, jetstream.KeyValueConfig{Bucket: BucketLimits, TTL: leaseTTL,
		Description: "sender: which replica keeps each bot's rate limits", Storage: jetstream.FileStorage})
	if err != nil {
		return nil, err
	}
	flood, err := c.KV(ctx, jetstream.KeyValueConfig{Bucket: BucketFlood, TTL: 24 * time.Hour,
		LimitMarkerTTL: time.Second, Description: "sender: FLOOD_WAITs in force, by bot", Storage: jetstream.FileStorage})
	if err != nil {
		return nil, err
	}
	return &Buckets{nc: c.NC, limits: limits, flood: flood}, nil
}

// Limiter admits one bot's sends across replicas (it implements
// gateway.Limiter). Run keeps trying to own the bot's limits.
type Limiter struct {
	b       *Buckets
	bot     string
	replica string
	local   *ratelimit.Limiter // the bot's limits, used while this replica owns them
	log     *zap.Logger

	owner   atomic.Bool
	renewed atomic.Int64 // unix nanos of the last successful renewal

	mu     sync.Mutex
	grants map[uint64]*grant
	nextID uint64
}

type grant struct {
	release func()
	timer   *time.Timer
}

// NewLimiter returns the shared limiter of bot; local holds the bot's
// limits; replica names this process in the lease.
func (b *Buckets) NewLimiter(bot int64, replica string, local *ratelimit.Limiter, log *zap.Logger) *Limiter {
	return &Limiter{b: b, bot: strconv.FormatInt(bot, 10), replica: replica, local: local, log: log, grants: map[uint64]*grant{}}
}

func (l *Limiter) subject(op string) string { return "tg.limit." + l.bot + "." + op }

type acquireReq struct {
	Kind     byte  `json:"k"`
	ID       int64 `json:"id"`
	Deadline int64 `json:"d,omitempty"` // unix millis
}

type acquireResp struct {
	Grant    uint64 `json:"g,omitempty"`
	Deadline bool   `json:"deadline,omitempty"`
	Err      string `json:"err,omitempty"`
}

type releaseMsg struct {
	Grant uint64 `json:"g"`
}

// errNotOwner answers a request that reached a replica that just lost the
// lease.
var errNotOwner = errors.New("not the owner of the limits")

func peerOf(p tg.InputPeerClass) (acquireReq, bool) {
	switch p := p.(type) {
	case *tg.InputPeerUser:
		return acquireReq{Kind: 'u', ID: p.UserID}, true
	case *tg.InputPeerChat:
		return acquireReq{Kind: 'c', ID: p.ChatID}, true
	case *tg.InputPeerChannel:
		return acquireReq{Kind: 'C', ID: p.ChannelID}, true
	}
	return acquireReq{}, false
}

func (r acquireReq) peer() tg.InputPeerClass {
	switch r.Kind {
	case 'c':
		return &tg.InputPeerChat{ChatID: r.ID}
	case 'C':
		return &tg.InputPeerChannel{ChannelID: r.ID}
	default:
		return &tg.InputPeerUser{UserID: r.ID}
	}
}

// owning reports whether this replica owns the limits and renewed its
// lease recently enough that no other replica can have taken it.
func (l *Limiter) owning() bool {
	return l.owner.Load() && time.Since(time.Unix(0, l.renewed.Load())) < leaseTTL-leaseRenew
}

// Acquire implements gateway.Limiter.
func (l *Limiter) Acquire(ctx context.Context, peer tg.InputPeerClass) (func(), error) {
	req, ok := peerOf(peer)
	if !ok {
		return func() {}, nil
	}
	for {
		if l.owning() {
			return l.local.Acquire(ctx, peer)
		}
		release, err := l.remote(ctx, req)
		if err == nil || !errors.Is(err, errRetry) {
			return release, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errRetry = errors.New("no owner of the limits answered")

func (l *Limiter) remote(ctx context.Context, req acquireReq) (func(), error) {
	timeout := maxRequest
	if d, ok := ctx.Deadline(); ok {
		req.Deadline = d.UnixMilli()
		timeout = time.Until(d)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := l.b.nc.RequestWithContext(rctx, l.subject("acquire"), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, errRetry
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && req.Deadline == 0:
		return nil, errRetry
	case err != nil:
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (shared limits): %v", ratelimit.ErrDeadline, ctx.Err())
		}
		return nil, errRetry
	}
	var resp acquireResp
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("shared limits: %w", err)
	}
	switch {
	case resp.Deadline:
		return nil, fmt.Errorf("%w (shared limits)", ratelimit.ErrDeadline)
	case resp.Err != "":
		return nil, errRetry
	}
	return func() {
		data, _ := json.Marshal(releaseMsg{Grant: resp.Grant})
		_ = l.b.nc.Publish(l.subject("release"), data)
	}, nil
}

// Run competes for the lease of the bot's limits and, while it holds it,
// admits the other replicas' sends. It returns when ctx ends.
func (l *Limiter) Run(ctx context.Context) {
	var rev uint64
	var subs []*nats.Subscription
	stopServing := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		subs = nil
		l.owner.Store(false)
	}
	defer func() {
		stopServing()
		if rev != 0 {
			// Let another replica take over at once.
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = l.b.limits.Delete(dctx, l.bot, jetstream.LastRevision(rev))
			cancel()
		}
	}()
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		opCtx, cancel := context.WithTimeout(ctx, leaseRenew)
		var err error
		if rev == 0 {
			rev, err = l.b.limits.Create(opCtx, l.bot, []byte(l.replica))
			if err == nil {
				l.renewed.Store(time.Now().UnixNano())
				l.log.Info("owner of the bot's rate limits")
				select { // what the previous owner admitted leaves the windows
				case <-ctx.Done():
				case <-time.After(coldStart):
				}
				l.mu.Lock()
				// Grants of an earlier owner never match this one's.
				l.nextID = rand.Uint64() >> 1
				l.mu.Unlock()
				subs, err = l.serve()
				if err != nil {
					l.log.Warn("serve rate limits", zap.Error(err))
				}
				l.owner.Store(true)
			}
		} else {
			rev, err = l.b.limits.Update(opCtx, l.bot, []byte(l.replica), rev)
			if err == nil {
				l.renewed.Store(time.Now().UnixNano())
			} else {
				l.log.Warn("lost the bot's rate limits", zap.Error(err))
				stopServing()
				rev = 0
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *Limiter) serve() ([]*nats.Subscription, error) {
	acq, err := l.b.nc.Subscribe(l.subject("acquire"), func(m *nats.Msg) { go l.admit(m) })
	if err != nil {
		return nil, err
	}
	rel, err := l.b.nc.Subscribe(l.subject("release"), func(m *nats.Msg) {
		var r releaseMsg
		if json.Unmarshal(m.Data, &r) == nil {
			l.giveBack(r.Grant)
		}
	})
	if err != nil {
		_ = acq.Unsubscribe()
		return nil, err
	}
	return []*nats.Subscription{acq, rel}, nil
}

// admit answers one acquire request once the limits allow the send.
func (l *Limiter) admit(m *nats.Msg) {
	var req acquireReq
	reply := func(r acquireResp) {
		data, _ := json.Marshal(r)
		_ = m.Respond(data)
	}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		reply(acquireResp{Err: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxRequest)
	if req.Deadline != 0 {
		cancel()
		ctx, cancel = context.WithDeadline(context.Background(), time.UnixMilli(req.Deadline))
	}
	defer cancel()
	if !l.owning() {
		reply(acquireResp{Err: errNotOwner.Error()})
		return
	}
	release, err := l.local.Acquire(ctx, req.peer())
	if err != nil {
		reply(acquireResp{Deadline: true})
		return
	}
	if !l.owning() {
		release()
		reply(acquireResp{Err: errNotOwner.Error()})
		return
	}
	l.mu.Lock()
	l.nextID++
	id := l.nextID
	g := &grant{release: release}
	g.timer = time.AfterFunc(grantTTL, func() { l.giveBack(id) })
	l.grants[id] = g
	l.mu.Unlock()
	reply(acquireResp{Grant: id})
}

func (l *Limiter) giveBack(id uint64) {
	l.mu.Lock()
	g := l.grants[id]
	delete(l.grants, id)
	l.mu.Unlock()
	if g != nil {
		g.timer.Stop()
		g.release()
	}
}
