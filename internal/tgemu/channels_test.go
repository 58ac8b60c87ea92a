package tgemu_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestChannelsControlAPI: the channel routes over HTTP, their answers and
// their refusals. Only an admin posts in a broadcast channel; members write
// in a supergroup; message IDs are the channel's.
func TestChannelsControlAPI(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	api := apiClient{t: t, base: "http://" + env.Server.HTTPAddr()}
	ann, err := env.Server.CreateUser("Ann", "")
	require.NoError(t, err)
	bob, err := env.Server.CreateUser("Bob", "")
	require.NoError(t, err)
	outsider, err := env.Server.CreateUser("Out", "")
	require.NoError(t, err)

	status, news := api.do("POST", "/v1/channels", map[string]any{"title": "News", "member_ids": []int64{ann.ID, bob.ID}})
	require.Equal(t, http.StatusCreated, status, news)
	require.Equal(t, false, news["megagroup"])
	require.ElementsMatch(t, []any{float64(ann.ID), float64(env.BotID)}, news["admins"], "the creator and the bot")
	status, super := api.do("POST", "/v1/channels", map[string]any{"title": "Super", "megagroup": true, "member_ids": []int64{ann.ID, bob.ID}})
	require.Equal(t, http.StatusCreated, status, super)
	require.Equal(t, []any{float64(ann.ID)}, super["admins"])
	newsPath := fmt.Sprintf("/v1/channels/%d/messages", int64(news["id"].(float64)))
	superPath := fmt.Sprintf("/v1/channels/%d/messages", int64(super["id"].(float64)))

	for i, who := range []int64{bob.ID, ann.ID} {
		status, body := api.do("POST", superPath, map[string]any{"user_id": who, "text": "hi"})
		require.Equal(t, http.StatusCreated, status, body)
		require.EqualValues(t, i+1, body["message_id"])
	}
	status, body := api.do("POST", newsPath, map[string]any{"user_id": ann.ID, "text": "news"})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = api.do("GET", superPath+fmt.Sprintf("?bot_id=%d", env.BotID), nil)
	require.Equal(t, http.StatusOK, status)
	msgs := body["messages"].([]any)
	require.Len(t, msgs, 2)
	require.EqualValues(t, bob.ID, msgs[0].(map[string]any)["from_id"])
	require.Equal(t, false, msgs[0].(map[string]any)["out"])
	status, body = api.do("GET", "/v1/channels", nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["channels"], 2)

	tests := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"no title", "POST", "/v1/channels", map[string]any{"title": " "}, http.StatusBadRequest},
		{"unknown member", "POST", "/v1/channels", map[string]any{"title": "x", "member_ids": []int64{1}}, http.StatusNotFound},
		{"unknown field", "POST", "/v1/channels", map[string]any{"title": "x", "broadcast": true}, http.StatusBadRequest},
		{"not an admin of a broadcast channel", "POST", newsPath, map[string]any{"user_id": bob.ID, "text": "mine"}, http.StatusBadRequest},
		{"not a member", "POST", superPath, map[string]any{"user_id": outsider.ID, "text": "hi"}, http.StatusBadRequest},
		{"empty text", "POST", superPath, map[string]any{"user_id": ann.ID, "text": ""}, http.StatusBadRequest},
		{"no such channel", "POST", "/v1/channels/77/messages", map[string]any{"user_id": ann.ID, "text": "hi"}, http.StatusNotFound},
		{"no such channel to read", "GET", "/v1/channels/77/messages", nil, http.StatusNotFound},
		{"bad id", "GET", "/v1/channels/x/messages", nil, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := api.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, body)
			require.NotEmpty(t, body["error"])
		})
	}
}
