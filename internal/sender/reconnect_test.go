package sender_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestSendsWaitForReconnect drops every MTProto connection three times
// (POST /v1/disconnect on the emulator's control API) while 500 sends run 8
// at a time. The sends that meet the drop (refused as not connected, a
// write on the dead connection, a request on it left without an answer)
// wait for the client to reconnect and resend with the same random_id, so
// every one answers 200 and the chat holds each message exactly once.
func TestSendsWaitForReconnect(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	s := startSender(t, env, t.TempDir(), map[string]string{"SENDER_REQUEST_TIMEOUT": "30s"})
	u := newUser(t, env, "Alice")
	disconnect := func() {
		resp, err := http.Post("http://"+env.Server.HTTPAddr()+"/v1/disconnect", "application/json", nil)
		if err != nil {
			t.Error(err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("disconnect: %s", resp.Status)
		}
	}

	const total, workers = 500, 8
	drops := map[int64]bool{100: true, 250: true, 400: true}
	var next, done atomic.Int64
	responses := make([]response, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				responses[i] = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": u.ID, "text": fmt.Sprint("m", i)}, nil)
				if drops[done.Add(1)] {
					disconnect()
				}
			}
		})
	}
	wg.Wait()
	for i, resp := range responses {
		require.Equal(t, http.StatusOK, resp.Status, "send %d: %s", i, resp.Body)
		body := resp.JSON(t)
		require.True(t, body["message_id"] != float64(0) || body["duplicate"] == true, "send %d: %s", i, resp.Body)
	}
	msgs := botMessages(t, env, u.ID)
	seen := map[string]bool{}
	for _, m := range msgs {
		require.False(t, seen[m.Text], "duplicate message %q", m.Text)
		seen[m.Text] = true
	}
	require.Len(t, msgs, total)
	t.Logf("%d calls ran again after a dropped connection",
		s.logs.FilterMessageSnippet("waiting for the next one to run it again").Len())
}
