package receiver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// role of the bot in a receiver process's /readyz ("" when unreachable).
func (p *process) role(t *testing.T) string {
	code, body := httpDo(t, "GET", "http://"+p.addr+"/readyz", "")
	bs, _ := body["bots"].([]any)
	if code == 0 || len(bs) != 1 {
		return ""
	}
	b, _ := bs[0].(map[string]any)
	r, _ := b["role"].(string)
	return r
}

// Two receiver processes on a real nats-server process; the active one is
// killed with SIGKILL in the middle of a stream of messages from several
// chats. The standby takes over within RECEIVER_LEASE_TTL + 1 s; every
// message reaches the downstream, in order per chat, and a message
// delivered again carries the same webhook-id.
func TestNATSKill9ActiveReceiver(t *testing.T) {
	bin := buildBinary(t)
	natsBin := natstest.Build(t, t.TempDir())
	ns := natstest.ClusterProcesses(t, natsBin, 1)[0]
	ns.RoutePort = 0
	ns.Start(t)

	env := emutest.Start(t)
	s := &suite{env: env}
	down := newDownstream(t)
	const ttl = 2 * time.Second
	extra := []string{"NATS_URL=" + ns.URL(), "RECEIVER_LEASE_TTL=" + ttl.String(), "DRIVER=http"}
	a := s.startProcess(t, bin, t.TempDir(), down.srv.URL, extra...)
	require.Eventually(t, func() bool { return a.role(t) == "active" }, 30*time.Second, 20*time.Millisecond)
	b := s.startProcess(t, bin, t.TempDir(), down.srv.URL, extra...)
	require.Equal(t, "standby", b.role(t))

	const chats, perChat = 10, 40
	users := make([]int64, chats)
	for i := range users {
		users[i] = newUser(t, env, fmt.Sprintf("K%d", i)).ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perChat {
				if ctx.Err() != nil {
					return
				}
				_, _ = env.Server.UserSendMessage(id, env.BotID, fmt.Sprintf("m %03d", i))
				time.Sleep(25 * time.Millisecond)
			}
		}()
	}
	require.Eventually(t, func() bool { return len(down.texts(users[0])) >= perChat/4 }, 30*time.Second, 5*time.Millisecond)
	a.kill(t)
	killed := time.Now()
	require.Eventually(t, func() bool { return b.role(t) == "active" }, ttl+5*time.Second, 10*time.Millisecond)
	took := time.Since(killed)
	t.Logf("takeover after kill -9: %s (RECEIVER_LEASE_TTL %s)", took, ttl)
	require.LessOrEqual(t, took, ttl+time.Second)
	wg.Wait()
	require.NoError(t, ctx.Err())

	var want []string
	for i := range perChat {
		want = append(want, fmt.Sprintf("m %03d", i))
	}
	for _, id := range users {
		require.Eventually(t, func() bool { return len(uniqueInOrder(down.texts(id))) == perChat }, 60*time.Second, 20*time.Millisecond,
			"user %d got %d", id, len(uniqueInOrder(down.texts(id))))
		require.Equal(t, want, uniqueInOrder(down.texts(id)), "chat %d out of order or incomplete", id)
	}
	// A text delivered twice is the same event (same webhook-id).
	idOf := map[string]string{}
	for _, ev := range down.got() {
		k := fmt.Sprintf("%d/%s", ev.ChatID(), ev.Message.Text)
		if prev, ok := idOf[k]; ok {
			require.Equal(t, prev, ev.ID, "redelivery of %s with another webhook-id", k)
		}
		idOf[k] = ev.ID
	}
	require.Len(t, idOf, chats*perChat)
}
