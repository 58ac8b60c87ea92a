package receiver_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handlers"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsconv"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// convKeys lists the keys of KV bucket tg_conv.
func convKeys(t *testing.T, url string) []string {
	t.Helper()
	c, ctx := testConn(t, url)
	kv, err := c.JS.KeyValue(ctx, natsconv.Bucket)
	require.NoError(t, err)
	keys, err := kv.ListKeys(ctx)
	require.NoError(t, err)
	var out []string
	for k := range keys.Keys() {
		out = append(out, k)
	}
	return out
}

// /familiarize asks for the name on replica a; a loses NATS (and its bot)
// before the answer, which replica b takes and answers from tg_conv.
func TestNATSConversationSurvivesTakeover(t *testing.T) {
	env := emutest.Start(t)
	const ttl = 2 * time.Second
	srv, p, _, b := startNATSPair(t, env, ttl)
	require.Equal(t, "standby", role(t, b))

	u := newUser(t, env, "Conv")
	waitBot := func(n int) []string { return waitBotSaid(t, env, u.ID, n) }
	send(t, env, u.ID, "/familiarize")
	require.Equal(t, []string{handlers.AskName}, waitBot(1))
	require.Equal(t, []string{fmt.Sprintf("%d.%d", env.BotID, u.ID)}, convKeys(t, srv.ClientURL()))

	p.partition()
	require.Eventually(t, func() bool { return role(t, b) == "active" }, ttl+3*time.Second, 10*time.Millisecond)
	send(t, env, u.ID, "12345") // not a name: asked again, by b
	require.Equal(t, []string{handlers.AskName, handlers.AskName}, waitBot(2))
	send(t, env, u.ID, "Bob")
	require.Equal(t, []string{handlers.AskName, handlers.AskName, "Nice to meet you Bob!"}, waitBot(3))
	require.Eventually(t, func() bool { return len(convKeys(t, srv.ClientURL())) == 0 }, 5*time.Second, 20*time.Millisecond,
		"the finished conversation is removed")

	var creates []event.UserCreate
	for _, ev := range streamEvents(t, srv.ClientURL()) {
		if ev.Type == event.TypeUserCreate {
			var uc event.UserCreate
			require.NoError(t, json.Unmarshal(ev.Data, &uc))
			creates = append(creates, uc)
		}
	}
	require.Equal(t, []event.UserCreate{{Name: "Bob", ChatID: u.ID}}, creates)
	time.Sleep(200 * time.Millisecond)
	require.Len(t, botSaid(t, env, u.ID), 3, "nothing said twice")
}
