package tgemu_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// POST /v1/bots makes a bot users can write to before it logs in; its
// first login then finds the messages waiting.
func TestCreateBotBeforeLogin(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	api := apiClient{t: t, base: "http://" + env.Server.HTTPAddr()}

	status, body := api.do("POST", "/v1/bots", map[string]any{"id": 7100001, "username": "shop_bot"})
	require.Equal(t, 201, status, body)
	require.Equal(t, "shop_bot", body["username"])
	require.Equal(t, true, body["bot"])
	status, body = api.do("POST", "/v1/bots", map[string]any{"id": 7100001})
	require.Equal(t, 201, status, "an existing bot is returned unchanged: %v", body)
	require.Equal(t, "shop_bot", body["username"])

	user, err := env.Server.CreateUser("Ann", "ann_bots")
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"no id", map[string]any{"username": "x_bot_x"}, 400},
		{"bad username", map[string]any{"id": 7100002, "username": "x"}, 400},
		{"username taken", map[string]any{"id": 7100002, "username": "ann_bots"}, 409},
		{"a user's id", map[string]any{"id": user.ID}, 409},
		{"other username for an existing bot", map[string]any{"id": 7100001, "username": "other_bot"}, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := api.do("POST", "/v1/bots", tc.body)
			require.Equal(t, tc.status, status, body)
			require.NotEmpty(t, body["error"])
		})
	}
	status, body = api.do("GET", "/v1/bots", nil)
	require.Equal(t, 200, status)
	require.Len(t, body["bots"], 2, "the emulator's own bot and shop_bot: %v", body)

	// A user writes to shop_bot before it ever connects.
	_, err = env.Server.UserSendMessage(user.ID, 7100001, "anyone there?")
	require.NoError(t, err)
	msgs, err := env.Server.Messages(user.ID, 7100001)
	require.NoError(t, err)
	require.Len(t, msgs, 1)

	// A token whose ID is a user's is refused: it takes over nothing.
	client := env.NewClient(t, tgclient.Options{})
	require.NoError(t, client.Run(context.Background(), func(ctx context.Context) error {
		_, err := client.Auth().Bot(ctx, fmt.Sprintf("%d:secret", user.ID))
		require.True(t, tgerr.Is(err, "ACCESS_TOKEN_INVALID"), "%v", err)
		_, err = client.Auth().Bot(ctx, "7100001:secret")
		require.NoError(t, err)
		self, err := client.Self(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(7100001), self.ID)
		require.Equal(t, "shop_bot", self.Username)
		return nil
	}))
	users := env.Server.Users()
	for _, u := range users {
		if u.ID == user.ID {
			require.False(t, u.Bot, "the user is still a user")
		}
	}
}
