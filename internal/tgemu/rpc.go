package tgemu

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/mt"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/tgbotsvc/tgbot/internal/tgemu/mtserver"
	"go.uber.org/zap"
)

// Stats counts what the emulator served.
type Stats struct {
	// RPC counts calls per method name ("messages.sendMessage").
	RPC map[string]int `json:"rpc"`
	// FloodWaits counts FLOOD_WAIT errors returned (limits and faults).
	FloodWaits int `json:"flood_waits"`
	// Connections is the number of live MTProto connections.
	Connections int `json:"connections"`
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	out := Stats{RPC: make(map[string]int, len(s.stats.RPC)), FloodWaits: s.stats.FloodWaits}
	for k, v := range s.stats.RPC {
		out.RPC[k] = v
	}
	s.statsMu.Unlock()
	out.Connections = s.conns.count()
	return out
}

// route is one RPC method.
type route struct {
	// public methods work before login (key exchange done, no account).
	public bool
	fn     func(c *call) (bin.Encoder, error)
}

// call is one RPC being served.
type call struct {
	req       *mtserver.Request
	method    string
	noUpdates bool
	keyID     string
	// acc is the logged-in account; nil for public methods before login.
	acc *account
}

// methodNames maps type IDs to method names without the "#crc" suffix.
var methodNames = func() map[uint32]string {
	out := map[uint32]string{}
	for id, name := range tg.TypesMap() {
		if i := strings.IndexByte(name, '#'); i > 0 {
			name = name[:i]
		}
		out[id] = name
	}
	return out
}()

func methodName(id uint32) string {
	if n, ok := methodNames[id]; ok {
		return n
	}
	return "0x" + strconv.FormatUint(uint64(id), 16)
}

// Errors Telegram returns; tgerr values so tgtest sends them as RPC errors.
var (
	errAuthKeyUnregistered = tgerr.New(401, "AUTH_KEY_UNREGISTERED")
	errMethodInvalid       = tgerr.New(400, "METHOD_INVALID")
	errInputInvalid        = tgerr.New(400, "INPUT_REQUEST_INVALID")
	errInternal            = tgerr.New(500, "INTERNAL")
)

// ackAfter is how long a request may run before the server acknowledges
// it explicitly. gotd resends a request that got neither an answer nor an
// ack within its RetryInterval (100 ms in tests), so a slow answer needs
// an ack; fast ones are acknowledged by the answer itself.
const ackAfter = 40 * time.Millisecond

type inflightKey struct {
	session int64
	msgID   int64
}

// answered is how many recent answers the server keeps to resend when a
// client repeats a request it already served (MTProto: a request is
// executed once per msg_id; a repeat gets the same answer).
const answered = 4096

// requests tracks requests by (session, msg_id): nil while one is being
// served, its answer once served. The last `answered` answers are kept,
// oldest dropped first.
type requests struct {
	mu    sync.Mutex
	byKey map[inflightKey]bin.Encoder
	order []inflightKey
}

func newRequests() *requests {
	return &requests{byKey: map[inflightKey]bin.Encoder{}}
}

// begin registers key. It returns started=false when the request is known:
// with its answer when it was served, nil while it is still being served.
func (r *requests) begin(key inflightKey) (answer bin.Encoder, started bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, dup := r.byKey[key]; dup {
		return a, false
	}
	r.byKey[key] = nil
	return nil, true
}

// done records key's answer.
func (r *requests) done(key inflightKey, answer bin.Encoder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[key] = answer
	r.order = append(r.order, key)
	if len(r.order) > answered {
		delete(r.byKey, r.order[0])
		r.order = r.order[1:]
	}
}

// onMessage is the MTProto handler. It serves each request in its own
// goroutine, as Telegram serves a connection's requests in parallel: a
// connection's requests do not queue behind a slow one (an upload part,
// a lock held by another client). A resend of a request (same session and
// msg_id) is not executed again: while it is being served the resend is
// dropped (its answer is on the way); once served, the same answer is sent
// again, so a resent sendMessage never becomes a second message or a
// RANDOM_ID_DUPLICATE error.
func (s *Server) onMessage(ts *mtserver.Server, req *mtserver.Request) error {
	key := inflightKey{session: req.Session.ID, msgID: req.MsgID}
	if prev, started := s.requests.begin(key); !started {
		if prev != nil {
			return ts.SendResult(req, prev)
		}
		return nil
	}

	// The read loop reuses the buffer for the next message.
	r := *req
	r.Buf = &bin.Buffer{Buf: req.Buf.Copy()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ack := time.AfterFunc(ackAfter, func() {
			_ = ts.SendAck(r.RequestCtx, r.Session, r.MsgID)
		})
		answer := s.serve(&r)
		s.requests.done(key, answer)
		if err := ts.SendResult(&r, answer); err != nil {
			s.log.Debug("send answer", zap.Error(err))
		}
		ack.Stop()
	}()
	return nil
}

// serve strips the invoke wrappers (noting invokeWithoutUpdates, which
// tgtest's UnpackInvoke drops), counts the call, applies injected faults
// and the auth check, runs the method and returns the answer. Every failure
// is an RPC error: a plain error would make the server close the connection.
func (s *Server) serve(req *mtserver.Request) bin.Encoder {
	c := &call{req: req, keyID: hex.EncodeToString(req.Session.AuthKey.ID[:])}
	id, err := s.unpack(c)
	if err != nil {
		return rpcError(errInputInvalid)
	}
	c.method = methodName(id)
	s.statsMu.Lock()
	s.stats.RPC[c.method]++
	s.statsMu.Unlock()

	result, rerr := s.dispatch(c, id)
	if rerr != nil {
		var te *tgerr.Error
		if !errors.As(rerr, &te) {
			s.log.Error("rpc handler failed", zap.String("method", c.method), zap.Error(rerr))
			te = errInternal
		}
		if te.Code == 420 {
			s.statsMu.Lock()
			s.stats.FloodWaits++
			s.statsMu.Unlock()
		}
		return rpcError(te)
	}
	// Encode here, so a result that cannot be encoded becomes an INTERNAL
	// error rather than no answer at all.
	var b bin.Buffer
	if err := result.Encode(&b); err != nil {
		s.log.Error("encode result", zap.String("method", c.method), zap.Error(err))
		return rpcError(errInternal)
	}
	return rawResult(b.Buf)
}

// rpcError is e as an answer.
func rpcError(e *tgerr.Error) bin.Encoder {
	return &mt.RPCError{ErrorCode: e.Code, ErrorMessage: e.Message}
}

// rawResult is an encoded result.
type rawResult []byte

func (r rawResult) Encode(b *bin.Buffer) error {
	b.Put(r)
	return nil
}

// unpack strips invokeWithLayer, initConnection and invokeWithoutUpdates.
func (s *Server) unpack(c *call) (uint32, error) {
	for {
		id, err := c.req.Buf.PeekID()
		if err != nil {
			return 0, err
		}
		var r bin.Decoder
		obj := &peekID{}
		switch id {
		case tg.InvokeWithLayerRequestTypeID:
			r = &tg.InvokeWithLayerRequest{Query: obj}
		case tg.InitConnectionRequestTypeID:
			r = &tg.InitConnectionRequest{Query: obj}
		case tg.InvokeWithoutUpdatesRequestTypeID:
			r = &tg.InvokeWithoutUpdatesRequest{Query: obj}
			c.noUpdates = true
		default:
			return id, nil
		}
		if err := r.Decode(c.req.Buf); err != nil {
			return 0, err
		}
	}
}

// peekID decodes nothing: it leaves the wrapped query in the buffer.
type peekID struct{}

func (peekID) Decode(b *bin.Buffer) error {
	_, err := b.PeekID()
	return err
}

func (peekID) Encode(*bin.Buffer) error { return errors.New("peekID is decode-only") }

func (s *Server) dispatch(c *call, id uint32) (bin.Encoder, error) {
	r, ok := s.routes[id]
	if !ok {
		return nil, errMethodInvalid
	}
	if err := s.takeFault(c.method); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if info := s.st.AuthKeys[c.keyID]; info != nil && info.UserID != 0 {
		c.acc = s.st.Accounts[info.UserID]
	}
	if c.acc != nil && !c.noUpdates {
		s.subscribeLocked(c)
	}
	s.mu.Unlock()
	if c.acc == nil && !r.public {
		return nil, errAuthKeyUnregistered
	}
	return r.fn(c)
}

// handler adapts a typed method to a route: it decodes the request.
func handler[T any, P interface {
	*T
	bin.Decoder
}](public bool, fn func(c *call, req P) (bin.Encoder, error)) route {
	return route{public: public, fn: func(c *call) (bin.Encoder, error) {
		req := P(new(T))
		if err := req.Decode(c.req.Buf); err != nil {
			return nil, errInputInvalid
		}
		return fn(c, req)
	}}
}

// vector is a TL Vector<T> result.
type vector []bin.Encoder

func (v vector) Encode(b *bin.Buffer) error {
	b.PutVectorHeader(len(v))
	for _, e := range v {
		if err := e.Encode(b); err != nil {
			return err
		}
	}
	return nil
}

func boolResult(v bool) bin.Encoder {
	if v {
		return &tg.BoolTrue{}
	}
	return &tg.BoolFalse{}
}
