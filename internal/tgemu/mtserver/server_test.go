package mtserver_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/gotd/log/logzap"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/crypto"
	"github.com/gotd/td/exchange"
	"github.com/gotd/td/mtproto"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/gotd/td/transport"

	"github.com/tgbotsvc/tgbot/internal/tgemu/mtserver"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// serverKey is one RSA key for every test (generating one is slow).
func serverKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

// testServer is a running mtserver.Server on 127.0.0.1 with a handler that
// answers help.getNearestDC, fails users.getUsers
// with an RPC error, and records every session it saw.
type testServer struct {
	srv  *mtserver.Server
	addr string
	stop func()

	mu       sync.Mutex
	keys     []crypto.AuthKey // from OnAuthKey
	sessions []mtserver.Session
}

func startServer(t *testing.T, restore ...crypto.AuthKey) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.srv = mtserver.NewServer(mtserver.NewPrivateKey(serverKey(t)), mtserver.HandlerFunc(ts.onMessage), mtserver.ServerOptions{
		ReadTimeout: 10 * time.Second,
		Logger:      logzap.New(zaptest.NewLogger(t).Named("server")),
		OnAuthKey: func(k crypto.AuthKey) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.keys = append(ts.keys, k)
		},
	})
	for _, k := range restore {
		ts.srv.AddAuthKey(k)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ts.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(ctx, transport.Listen(l)) }()
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err, "Serve after its context ends")
			case <-time.After(10 * time.Second):
				t.Error("Serve did not return after its context ended")
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) onMessage(s *mtserver.Server, req *mtserver.Request) error {
	ts.mu.Lock()
	ts.sessions = append(ts.sessions, req.Session)
	ts.mu.Unlock()
	id, err := req.Buf.PeekID()
	if err != nil {
		return err
	}
	switch id {
	case tg.HelpGetNearestDCRequestTypeID:
		return s.SendResult(req, &tg.NearestDC{Country: "ZZ", ThisDC: req.DC, NearestDC: req.DC})
	case tg.UsersGetUsersRequestTypeID:
		return tgerr.New(400, "USER_ID_INVALID")
	}
	return tgerr.New(400, "METHOD_UNKNOWN")
}

func (ts *testServer) authKeys() []crypto.AuthKey {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]crypto.AuthKey(nil), ts.keys...)
}

func (ts *testServer) lastSession() mtserver.Session {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.sessions[len(ts.sessions)-1]
}

// clientHandler records the session gotd's client ends up with and the
// messages the server pushes.
type clientHandler struct {
	mu      sync.Mutex
	session mtproto.Session
	pushed  chan *bin.Buffer
}

func (h *clientHandler) OnMessage(b *bin.Buffer) error {
	select {
	case h.pushed <- &bin.Buffer{Buf: append([]byte(nil), b.Buf...)}:
	default:
	}
	return nil
}

func (h *clientHandler) OnSession(s mtproto.Session) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.session = s
	return nil
}

// key waits until gotd has reported a session whose key is set and is not
// skip, and returns that key. gotd reports a session when the server's
// new_session_created notice is handled, which may come after the first
// RPC answer.
func (h *clientHandler) key(ctx context.Context, skip crypto.AuthKey) (crypto.AuthKey, error) {
	for {
		h.mu.Lock()
		k := h.session.Key
		h.mu.Unlock()
		if !k.Zero() && k.ID != skip.ID {
			return k, nil
		}
		select {
		case <-ctx.Done():
			return crypto.AuthKey{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// runClient connects gotd's MTProto client to ts (using key when not zero)
// and runs f with it.
func runClient(t *testing.T, addr string, key crypto.AuthKey, f func(ctx context.Context, c *mtproto.Conn, h *clientHandler) error) error {
	t.Helper()
	h := &clientHandler{pushed: make(chan *bin.Buffer, 16)}
	dial := func(ctx context.Context) (transport.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return transport.Intermediate.Handshake(conn)
	}
	c := mtproto.New(dial, mtproto.Options{
		DC:            2,
		PublicKeys:    []exchange.PublicKey{{RSA: &serverKey(t).PublicKey}},
		Handler:       h,
		Key:           key,
		RetryInterval: 100 * time.Millisecond,
		MaxRetries:    3,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Run returns when its context ends: end it once f is done.
	var (
		ran  bool
		fErr error
	)
	err := c.Run(ctx, func(ctx context.Context) error {
		fErr, ran = f(ctx, c, h), true
		cancel()
		return nil
	})
	if ran {
		return fErr
	}
	return err
}

func nearestDC(ctx context.Context, c *mtproto.Conn) (*tg.NearestDC, error) {
	var out tg.NearestDC
	err := c.Invoke(ctx, &tg.HelpGetNearestDCRequest{}, &out)
	return &out, err
}

func TestKeyExchangeAndEncryptedRPC(t *testing.T) {
	ts := startServer(t)
	var clientKey crypto.AuthKey
	err := runClient(t, ts.addr, crypto.AuthKey{}, func(ctx context.Context, c *mtproto.Conn, h *clientHandler) error {
		dc, err := nearestDC(ctx, c)
		require.NoError(t, err)
		require.Equal(t, &tg.NearestDC{Country: "ZZ", ThisDC: 2, NearestDC: 2}, dc)

		// An RPC error reaches the client as one.
		var users tg.UserClassVector
		err = c.Invoke(ctx, &tg.UsersGetUsersRequest{ID: []tg.InputUserClass{&tg.InputUserSelf{}}}, &users)
		require.True(t, tgerr.Is(err, "USER_ID_INVALID"), "got %v", err)

		clientKey, err = h.key(ctx, crypto.AuthKey{})
		return err
	})
	require.NoError(t, err)
	require.False(t, clientKey.Zero())
	keys := ts.authKeys()
	require.Len(t, keys, 1, "one key exchange")
	require.Equal(t, clientKey, keys[0], "the server reports the key the client holds")
	require.Equal(t, clientKey.ID, ts.lastSession().AuthKey.ID)
}

func TestServerPushesToSession(t *testing.T) {
	ts := startServer(t)
	err := runClient(t, ts.addr, crypto.AuthKey{}, func(ctx context.Context, c *mtproto.Conn, h *clientHandler) error {
		_, err := nearestDC(ctx, c)
		require.NoError(t, err)
		upd := &tg.Updates{Updates: []tg.UpdateClass{&tg.UpdateNewMessage{Message: &tg.MessageEmpty{ID: 77}}}}
		require.NoError(t, ts.srv.Send(ctx, ts.lastSession(), mtserver.MessageFromServer, upd))
		for {
			select {
			case b := <-h.pushed:
				var got tg.UpdatesBox
				if got.Decode(b) != nil {
					continue // session notices, acks
				}
				require.Equal(t, upd, got.Updates)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	require.NoError(t, err)
}

func TestAuthKeyRestoredAfterRestart(t *testing.T) {
	first := startServer(t)
	require.NoError(t, runClient(t, first.addr, crypto.AuthKey{}, func(ctx context.Context, c *mtproto.Conn, _ *clientHandler) error {
		_, err := nearestDC(ctx, c)
		return err
	}))
	keys := first.authKeys()
	require.Len(t, keys, 1)
	first.stop()

	// A new server that was given the stored key serves the client without
	// a new key exchange.
	second := startServer(t, keys[0])
	require.NoError(t, runClient(t, second.addr, keys[0], func(ctx context.Context, c *mtproto.Conn, h *clientHandler) error {
		dc, err := nearestDC(ctx, c)
		require.NoError(t, err)
		require.Equal(t, 2, dc.ThisDC)
		key, err := h.key(ctx, crypto.AuthKey{})
		require.NoError(t, err)
		require.Equal(t, keys[0], key)
		return nil
	}))
	require.Empty(t, second.authKeys(), "no new key exchange")
	require.Equal(t, keys[0].ID, second.lastSession().AuthKey.ID)
}

func TestUnknownAuthKeyGetsNewExchange(t *testing.T) {
	ts := startServer(t)
	var k crypto.Key
	_, err := rand.Read(k[:])
	require.NoError(t, err)
	unknown := k.WithID()
	// The server answers AUTH_KEY_NOT_FOUND; gotd's client then exchanges
	// a new key and the call succeeds with it.
	var got crypto.AuthKey
	require.NoError(t, runClient(t, ts.addr, unknown, func(ctx context.Context, c *mtproto.Conn, h *clientHandler) error {
		if _, err := nearestDC(ctx, c); err != nil {
			return err
		}
		var err error
		got, err = h.key(ctx, unknown)
		return err
	}))
	keys := ts.authKeys()
	require.Len(t, keys, 1)
	require.Equal(t, got, keys[0])
	require.NotEqual(t, unknown.ID, keys[0].ID)
	require.Equal(t, keys[0].ID, ts.lastSession().AuthKey.ID)
}

func TestClosedConnectionForgetsSession(t *testing.T) {
	ts := startServer(t)
	var sess mtserver.Session
	require.NoError(t, runClient(t, ts.addr, crypto.AuthKey{}, func(ctx context.Context, c *mtproto.Conn, _ *clientHandler) error {
		_, err := nearestDC(ctx, c)
		sess = ts.lastSession()
		return err
	}))
	// The client is gone: pushing to its session fails instead of writing
	// to a dead connection.
	// (Until the server reads the EOF, a send may still fail on the socket.)
	require.Eventually(t, func() bool {
		err := ts.srv.Send(context.Background(), sess, mtserver.MessageFromServer, &tg.Updates{})
		return err != nil && strings.Contains(err.Error(), "connection") && strings.Contains(err.Error(), "not found")
	}, 10*time.Second, 20*time.Millisecond)

	// The key survives the connection: the client comes back with it.
	require.NoError(t, runClient(t, ts.addr, sess.AuthKey, func(ctx context.Context, c *mtproto.Conn, _ *clientHandler) error {
		_, err := nearestDC(ctx, c)
		return err
	}))
	require.Len(t, ts.authKeys(), 1)
}
