package tgemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

type apiClient struct {
	t    *testing.T
	base string
}

// do sends a JSON request to the control API and decodes the JSON answer.
func (c apiClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	out := map[string]any{}
	if resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(c.t, json.Unmarshal(raw, &out), string(raw))
	} else {
		out["raw"] = string(raw)
	}
	return resp.StatusCode, out
}

func TestControlAPI(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	api := apiClient{t: t, base: "http://" + env.Server.HTTPAddr()}

	status, body := api.do("GET", "/healthz", nil)
	require.Equal(t, 200, status)
	require.Equal(t, "ok", body["status"])
	status, body = api.do("GET", "/v1/public-key", nil)
	require.Equal(t, 200, status)
	require.Equal(t, string(env.Server.PublicKeyPEM()), body["raw"])

	status, body = api.do("POST", "/v1/users", map[string]string{"first_name": "Hal", "username": "hal_user"})
	require.Equal(t, 201, status, body)
	userID := int64(body["id"].(float64))
	require.NotZero(t, body["access_hash"])
	require.Equal(t, "hal_user", body["username"])
	u := fmt.Sprintf("/v1/users/%d", userID)
	status, body = api.do("GET", "/v1/users", nil)
	require.Equal(t, 200, status, body)
	require.Len(t, body["users"], 2, "the bot and Hal")

	errorCases := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"user without name", "POST", "/v1/users", map[string]string{"username": "nobody_x"}, 400},
		{"username taken", "POST", "/v1/users", map[string]string{"first_name": "X", "username": "hal_user"}, 409},
		{"unknown field", "POST", "/v1/users", map[string]string{"first_name": "X", "nick": "y"}, 400},
		{"bad user id", "POST", "/v1/users/abc/messages", map[string]string{"text": "x"}, 400},
		{"unknown user", "POST", "/v1/users/424242/messages", map[string]string{"text": "x"}, 404},
		{"unknown bot", "POST", u + "/messages", map[string]any{"text": "x", "bot_id": 5}, 404},
		{"empty text", "POST", u + "/messages", map[string]any{"text": ""}, 400},
		{"no such message to press", "POST", u + "/callbacks", map[string]any{"message_id": 999, "data": "x"}, 404},
		{"negative limit", "PUT", "/v1/limits", map[string]int{"global_per_second": -1}, 400},
		{"unknown method fault", "POST", "/v1/faults", map[string]any{"method": "nope.nope", "error": "INTERNAL", "count": 1}, 400},
		{"bad fault error", "POST", "/v1/faults", map[string]any{"method": "messages.sendMessage", "error": "oops", "count": 1}, 400},
		{"group without title", "POST", "/v1/groups", map[string]any{"member_ids": []int64{userID}}, 400},
		{"no route", "GET", "/v1/nothing", nil, 404},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := api.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, body)
			require.NotEmpty(t, body["error"])
		})
	}

	status, body = api.do("POST", u+"/messages", map[string]any{"text": "hi bot"})
	require.Equal(t, 201, status, body)
	require.NotZero(t, body["message_id"])

	var buttonMsg int
	peer := &tg.InputPeerUser{UserID: userID}
	botSession(t, env, func(ctx context.Context, c *tg.Client) {
		res, err := c.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
			Peer: peer, Message: "choose", RandomID: randomID.Add(1),
			ReplyMarkup: &tg.ReplyInlineMarkup{Rows: []tg.KeyboardInlineButtonRow{{Buttons: []tg.KeyboardInlineButton{
				{Text: "A", Type: &tg.InlineButtonTypeCallback{Data: []byte("a")}},
				{Text: "Site", Type: &tg.InlineButtonTypeURL{URL: "https://example.com"}},
			}}}},
		})
		require.NoError(t, err)
		for _, upd := range res.(*tg.Updates).Updates {
			if m, ok := upd.(*tg.UpdateMessageID); ok {
				buttonMsg = m.ID
			}
		}

		status, body := api.do("POST", u+"/block", nil)
		require.Equal(t, 200, status, body)
		requireRPCError(t, send(ctx, c, peer, "blocked?"), 400, "USER_IS_BLOCKED")
		status, body = api.do("POST", u+"/unblock", nil)
		require.Equal(t, 200, status, body)
		require.NoError(t, send(ctx, c, peer, "unblocked"))

		status, body = api.do("POST", "/v1/faults", map[string]any{"method": "messages.sendMessage", "error": "FLOOD_WAIT_3", "count": 1})
		require.Equal(t, 201, status, body)
		requireRPCError(t, send(ctx, c, peer, "x"), 420, "FLOOD_WAIT")

		status, body = api.do("PUT", "/v1/limits", map[string]int{"per_chat_per_second": 1})
		require.Equal(t, 200, status, body)
		require.NoError(t, send(ctx, c, peer, "one"))
		requireRPCError(t, send(ctx, c, peer, "two"), 420, "FLOOD_WAIT")
		status, _ = api.do("PUT", "/v1/limits", map[string]int{})
		require.Equal(t, 200, status)

		status, body = api.do("POST", "/v1/disconnect", nil)
		require.Equal(t, 200, status, body)
		// gotd reconnects by itself; a call racing the drop may fail with a
		// network error, as with Telegram, so the caller retries.
		// One random_id for every attempt: a retry of a send that did
		// arrive is refused as a duplicate instead of sent twice.
		rid := randomID.Add(1)
		require.Eventually(t, func() bool {
			_, err := c.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: peer, Message: "after reconnect", RandomID: rid})
			return err == nil || tgerr.Is(err, "RANDOM_ID_DUPLICATE")
		}, 20*time.Second, 100*time.Millisecond)
	})

	status, body = api.do("POST", u+"/callbacks", map[string]any{"message_id": buttonMsg, "data": "a"})
	require.Equal(t, 201, status, body)
	status, body = api.do("POST", u+"/callbacks", map[string]any{"message_id": buttonMsg, "data": "zzz"})
	require.Equal(t, 400, status, body)

	status, body = api.do("GET", u+"/messages", nil)
	require.Equal(t, 200, status, body)
	msgs := body["messages"].([]any)
	require.Len(t, msgs, 5)
	first, second := msgs[0].(map[string]any), msgs[1].(map[string]any)
	require.Equal(t, false, first["out"])
	require.Equal(t, "hi bot", first["text"])
	require.Equal(t, true, second["out"])
	require.Equal(t, map[string]any{"inline_keyboard": []any{[]any{
		map[string]any{"text": "A", "callback_data": "a"},
		map[string]any{"text": "Site", "url": "https://example.com"},
	}}}, second["reply_markup"])

	status, body = api.do("POST", "/v1/groups", map[string]any{"title": "Team", "member_ids": []int64{userID}})
	require.Equal(t, 201, status, body)
	g := fmt.Sprintf("/v1/groups/%d", int64(body["id"].(float64)))
	require.Len(t, body["members"], 2)
	status, body = api.do("POST", g+"/messages", map[string]any{"user_id": userID, "text": "hello team"})
	require.Equal(t, 201, status, body)
	status, body = api.do("GET", g+"/messages", nil)
	require.Equal(t, 200, status, body)
	require.Len(t, body["messages"], 1)

	status, body = api.do("GET", "/v1/stats", nil)
	require.Equal(t, 200, status, body)
	rpc := body["rpc"].(map[string]any)
	require.GreaterOrEqual(t, rpc["messages.sendMessage"].(float64), 6.0)
	require.GreaterOrEqual(t, body["flood_waits"].(float64), 2.0)
	require.Contains(t, body, "connections")

}
