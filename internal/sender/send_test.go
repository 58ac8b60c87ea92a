package sender_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestSendMessage sends one message through the whole stack and checks that
// stopping the service and the emulator leaves no goroutine behind (the
// first cleanup registered runs last).
func TestSendMessage(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	env := emutest.Start(t)
	s := startSender(t, env, t.TempDir(), nil)
	u := newUser(t, env, "Alice")

	resp := s.postJSON(t, "/api_v1/send_message", map[string]any{
		"chat_id": u.ID, "text": "<b>hello</b> there", "parse_mode": "html",
		"buttons": [][]map[string]any{{{"text": "yes", "callback_data": "y"}, {"text": "site", "url": "https://example.com"}}},
	}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	body := resp.JSON(t)
	require.EqualValues(t, u.ID, body["chat_id"])
	require.NotZero(t, body["message_id"])

	msgs := botMessages(t, env, u.ID)
	require.Len(t, msgs, 1)
	require.Equal(t, "hello there", msgs[0].Text)
	require.NotEmpty(t, msgs[0].Entities)
	require.NotNil(t, msgs[0].ReplyMarkup)
	require.EqualValues(t, body["message_id"], msgs[0].ID)
}
