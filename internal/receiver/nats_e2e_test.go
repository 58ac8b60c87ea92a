package receiver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/receiver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsstate"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// proxy forwards TCP connections to target until cut: a network partition
// between one receiver and NATS.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { p.partition(); _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

// partition closes every connection and refuses new ones.
func (p *proxy) partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func natsConfig(env *emutest.Env, url string, ttl time.Duration) receiver.Config {
	cfg := testConfig(env, "", "http://127.0.0.1:1/unused")
	cfg.NATS = config.NATS{URL: url, Replicas: 1}
	cfg.LeaseTTL = ttl
	cfg.Driver = "nats"
	return cfg
}

// readyBot is a bot's entry in /readyz.
type readyBot struct {
	ID          int64  `json:"id"`
	Role        string `json:"role"`
	LeaseHolder string `json:"lease_holder"`
}

func readyz(t *testing.T, r *running) (replica string, bots []readyBot) {
	t.Helper()
	var body struct {
		Replica string     `json:"replica"`
		Bots    []readyBot `json:"bots"`
	}
	resp, err := http.Get("http://" + r.svc.Addr() + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Replica, body.Bots
}

func role(t *testing.T, r *running) string {
	_, bs := readyz(t, r)
	require.Len(t, bs, 1)
	return bs[0].Role
}

// testConn connects to url for the rest of the test and returns a context
// for its calls (20 s).
func testConn(t *testing.T, url string) (*natsx.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, err := natsx.Connect(ctx, config.NATS{URL: url, Replicas: 1}, "test-reader", zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, ctx
}

// streamEvents reads every event in TG_EVENTS in stream order.
func streamEvents(t *testing.T, url string) []event.Event {
	t.Helper()
	c, ctx := testConn(t, url)
	st, err := c.JS.Stream(ctx, natsstate.Stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var out []event.Event
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	for uint64(len(out)) < info.State.Msgs {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		var ev event.Event
		require.NoError(t, json.Unmarshal(m.Data(), &ev))
		require.Equal(t, ev.ID, m.Headers().Get("Nats-Msg-Id"))
		require.Equal(t, fmt.Sprintf("tg.events.%d.%d", ev.BotID, ev.ChatID()), m.Subject())
		out = append(out, ev)
	}
	return out
}

// checkStream asserts that TG_EVENTS holds every text of want once, per
// chat in the order sent.
func checkStream(t *testing.T, evs []event.Event, want map[int64][]string) {
	t.Helper()
	ids := map[string]bool{}
	got := map[int64][]string{}
	for _, ev := range evs {
		require.False(t, ids[ev.ID], "event %s stored twice", ev.ID)
		ids[ev.ID] = true
		if ev.Type == event.TypeMessage {
			got[ev.ChatID()] = append(got[ev.ChatID()], ev.Message.Text)
		}
	}
	require.Equal(t, want, got)
}

func TestNATSStandbyTakesOverAndLosesNothing(t *testing.T) {
	env := emutest.Start(t)
	const ttl = 2 * time.Second
	srv, p, a, b := startNATSPair(t, env, ttl)
	replicaA, _ := readyz(t, a)
	_, bs := readyz(t, b)
	require.Equal(t, "standby", bs[0].Role)
	require.Equal(t, replicaA, bs[0].LeaseHolder)

	users := []int64{newUser(t, env, "ann").ID, newUser(t, env, "bob").ID, newUser(t, env, "cid").ID}
	want := map[int64][]string{}
	sendRound := func(round string, n int) {
		for i := range n {
			for _, u := range users {
				text := fmt.Sprintf("%s-%d", round, i)
				send(t, env, u, text)
				want[u] = append(want[u], text)
			}
		}
	}
	status, metrics := httpGet(t, "http://"+b.svc.Addr()+"/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, metrics, fmt.Sprintf(`receiver_bot_active{bot="%d"} 0`, env.BotID))
	require.Contains(t, metrics, fmt.Sprintf(`receiver_bot_lease_holder{bot="%d",replica="%s"} 1`, env.BotID, replicaA))
	sendRound("before", 5)
	require.Eventually(t, func() bool { return len(streamEvents(t, srv.ClientURL())) == 15 }, 10*time.Second, 50*time.Millisecond)

	// a loses NATS: it cannot renew its lease; b takes over.
	p.partition()
	cut := time.Now()
	sendRound("during", 5)
	require.Eventually(t, func() bool { return role(t, b) == "active" }, ttl+3*time.Second, 10*time.Millisecond)
	took := time.Since(cut)
	t.Logf("takeover after %s (lease TTL %s)", took, ttl)
	require.LessOrEqual(t, took, ttl+time.Second)
	require.Eventually(t, func() bool { return role(t, a) == "standby" }, ttl, 20*time.Millisecond,
		"a replica that cannot renew gives its bot up")
	sendRound("after", 5)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, len(streamEvents(t, srv.ClientURL())), 45, "events in the stream")
	}, 30*time.Second, 100*time.Millisecond)
	checkStream(t, streamEvents(t, srv.ClientURL()), want)
}

// startNATSPair starts an embedded NATS server and two receivers on it: a
// (through p, which the test can partition) active, then b.
func startNATSPair(t *testing.T, env *emutest.Env, ttl time.Duration) (srv *server.Server, p *proxy, a, b *running) {
	t.Helper()
	srv = natstest.Start(t)
	p = newProxy(t, srv.Addr().String())
	a = startReceiver(t, natsConfigDir(t, env, p.url(), ttl))
	require.Eventually(t, func() bool { return role(t, a) == "active" }, 10*time.Second, 20*time.Millisecond)
	b = startReceiver(t, natsConfigDir(t, env, srv.ClientURL(), ttl))
	return srv, p, a, b
}

func natsConfigDir(t *testing.T, env *emutest.Env, url string, ttl time.Duration) receiver.Config {
	cfg := natsConfig(env, url, ttl)
	cfg.DataDir = config.DataDir{Path: t.TempDir()}
	return cfg
}

func TestNATSWebhooksFromTheStreamInOrderPerChat(t *testing.T) {
	env := emutest.Start(t)
	srv := natstest.Start(t)
	ds := newDownstream(t)
	var mu sync.Mutex
	failed := map[string]bool{}
	ds.setStatus(func(ev event.Event) int {
		mu.Lock()
		defer mu.Unlock()
		// The first attempt at every third message fails: the retry comes
		// back with the same webhook-id, and the chat waits for it.
		if ev.Type == event.TypeMessage && ev.Message.ID%3 == 0 && !failed[ev.ID] {
			failed[ev.ID] = true
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	// Two replicas: one takes the updates, both deliver.
	for range 2 {
		cfg := natsConfigDir(t, env, srv.ClientURL(), 2*time.Second)
		cfg.Driver = "http"
		cfg.HTTP.URL = ds.srv.URL
		startReceiver(t, cfg)
	}
	users := []int64{newUser(t, env, "u1").ID, newUser(t, env, "u2").ID, newUser(t, env, "u3").ID, newUser(t, env, "u4").ID}
	want := map[int64][]string{}
	for i := range 8 {
		for _, u := range users {
			text := fmt.Sprintf("m%d", i)
			send(t, env, u, text)
			want[u] = append(want[u], text)
		}
	}
	for _, u := range users {
		ds.waitTexts(t, u, want[u])
	}
	mu.Lock()
	require.NotEmpty(t, failed)
	mu.Unlock()
	ids := map[string]bool{}
	for _, ev := range ds.got() {
		require.False(t, ids[ev.ID], "event %s delivered twice", ev.ID)
		ids[ev.ID] = true
	}
	ds.validateBodies(t)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, readAll(t, resp)
}
