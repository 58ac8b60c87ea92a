package receiver_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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
	a, b := s.startActiveStandby(t, bin, t.TempDir(), t.TempDir(), down.srv.URL, extra...)

	const chats, perChat = 10, 40
	users := make([]int64, chats)
	for i := range users {
		users[i] = newUser(t, env, fmt.Sprintf("K%d", i)).ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	wg, _ := sendLoad(ctx, users, perChat, 25*time.Millisecond, func(_ context.Context, id int64, text string) error {
		_, err := env.Server.UserSendMessage(id, env.BotID, text)
		return err
	})
	require.Eventually(t, func() bool { return len(down.texts(users[0])) >= perChat/4 }, 30*time.Second, 5*time.Millisecond)
	killActive(t, a, b, ttl)
	wg.Wait()
	require.NoError(t, ctx.Err())

	checkDelivered(t, down, users, perChat)
}

// startActiveStandby starts receiver process a (in dirA), waits until it
// is active, then b (in dirB), which must be its standby.
func (s *suite) startActiveStandby(t *testing.T, bin, dirA, dirB, url string, extra ...string) (a, b *process) {
	t.Helper()
	a = s.startProcess(t, bin, dirA, url, extra...)
	require.Eventually(t, func() bool { return a.role(t) == "active" }, 60*time.Second, 20*time.Millisecond)
	b = s.startProcess(t, bin, dirB, url, extra...)
	require.Equal(t, "standby", b.role(t))
	return a, b
}

// killActive kills the active process a with SIGKILL and checks that b
// takes over within ttl + 1 s; killed is when a died.
func killActive(t *testing.T, a, b *process, ttl time.Duration) (killed time.Time) {
	t.Helper()
	a.kill(t)
	killed = time.Now()
	require.Eventually(t, func() bool { return b.role(t) == "active" }, ttl+10*time.Second, 10*time.Millisecond)
	took := time.Since(killed)
	t.Logf("takeover after kill -9: %s (RECEIVER_LEASE_TTL %s)", took, ttl)
	require.LessOrEqual(t, took, ttl+time.Second)
	return killed
}

// sendLoad sends "m 000", "m 001"... (perChat) from every user, pause
// apart, retrying a failed send until ctx ends; sent counts what went out.
func sendLoad(ctx context.Context, users []int64, perChat int, pause time.Duration,
	send func(ctx context.Context, user int64, text string) error) (wg *sync.WaitGroup, sent *atomic.Int64) {
	wg, sent = &sync.WaitGroup{}, &atomic.Int64{}
	for _, id := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perChat {
				for ctx.Err() == nil && send(ctx, id, fmt.Sprintf("m %03d", i)) != nil {
					time.Sleep(50 * time.Millisecond)
				}
				if ctx.Err() != nil {
					return
				}
				sent.Add(1)
				time.Sleep(pause)
			}
		}()
	}
	return wg, sent
}

// checkDelivered waits until every user's perChat messages "m 000"... reached
// the downstream, checks their order per chat and that a repeated delivery
// has the same webhook-id, and returns how many were repeated.
func checkDelivered(t *testing.T, down *downstream, users []int64, perChat int) (repeated int) {
	t.Helper()
	var want []string
	for i := range perChat {
		want = append(want, fmt.Sprintf("m %03d", i))
	}
	for _, id := range users {
		require.Eventually(t, func() bool { return len(uniqueInOrder(down.texts(id))) == perChat }, 60*time.Second, 20*time.Millisecond,
			"user %d got %d", id, len(uniqueInOrder(down.texts(id))))
		require.Equal(t, want, uniqueInOrder(down.texts(id)), "chat %d out of order or incomplete", id)
	}
	idOf := map[string]string{}
	for _, ev := range down.got() {
		k := fmt.Sprintf("%d/%s", ev.ChatID(), ev.Message.Text)
		if prev, ok := idOf[k]; ok {
			repeated++
			require.Equal(t, prev, ev.ID, "redelivery of %s with another webhook-id", k)
		}
		idOf[k] = ev.ID
	}
	require.Len(t, idOf, len(users)*perChat)
	return repeated
}
