package receiver_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// TestEndToEnd runs the receiver against the emulator over TCP and an
// httptest downstream that verifies signatures.
func TestEndToEnd(t *testing.T) {
	s := newSuite(t)
	t.Run("MessageArrivesSigned", s.testMessageArrivesSigned)
	t.Run("DownstreamOutageKeepsOrder", s.testDownstreamOutageKeepsOrder)
}

func (s *suite) testMessageArrivesSigned(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL+"/events"))
	u := newUser(t, env, "Ann")

	send(t, env, u.ID, "hello bot")
	down.waitTexts(t, u.ID, []string{"hello bot"})
	ev := down.got()[0]
	require.Equal(t, event.TypeMessage, ev.Type)
	require.Equal(t, env.BotID, ev.BotID)
	require.Equal(t, event.MessageID(env.BotID, 0, ev.Message.ID), ev.ID)
	require.Equal(t, event.ChatPrivate, ev.Chat.Type)
	require.Equal(t, u.ID, ev.From.ID)
	require.Equal(t, "Ann", ev.From.FirstName)
	require.NotZero(t, ev.Date)
	require.Zero(t, down.bad)
}

func (s *suite) testDownstreamOutageKeepsOrder(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	failing := true
	down.setStatus(func(event.Event) int {
		if failing {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	r := startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL))
	a, b := newUser(t, env, "A"), newUser(t, env, "B")
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("m%d", i))
		send(t, env, a.ID, want[i])
		send(t, env, b.ID, want[i])
	}
	require.Eventually(t, func() bool {
		_, body := httpDo(t, http.MethodGet, "http://"+r.svc.Addr()+"/readyz", "")
		return body["outbox_depth"] == 20.0
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // a few failed rounds
	require.Empty(t, down.got())
	down.setStatus(func(event.Event) int {
		failing = false
		return http.StatusOK
	})
	down.waitTexts(t, a.ID, want)
	down.waitTexts(t, b.ID, want)
}
