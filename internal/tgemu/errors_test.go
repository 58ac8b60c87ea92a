package tgemu_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// botSession runs a logged-in bot client (no updates) for fn.
func botSession(t *testing.T, env *emutest.Env, fn func(ctx context.Context, api *tg.Client)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := env.NewClient(t, tgclient.Options{NoUpdates: true})
	env.RunBot(t, ctx, c, func(ctx context.Context) error {
		fn(ctx, c.API())
		return nil
	})
}

var randomID atomic.Int64

func send(ctx context.Context, api *tg.Client, peer tg.InputPeerClass, text string) error {
	_, err := api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: peer, Message: text, RandomID: randomID.Add(1)})
	return err
}

func requireRPCError(t *testing.T, err error, code int, typ string) {
	t.Helper()
	var rpcErr *tgerr.Error
	require.ErrorAs(t, err, &rpcErr, "want %d %s", code, typ)
	require.Equal(t, code, rpcErr.Code, rpcErr.Message)
	require.Equal(t, typ, rpcErr.Type, rpcErr.Message)
}

func TestSendMessageErrors(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Dan", "dan_the_user")
	require.NoError(t, err)
	stranger, err := env.Server.CreateUser("Eve", "")
	require.NoError(t, err)
	peer := &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash}

	botSession(t, env, func(ctx context.Context, api *tg.Client) {
		tests := []struct {
			name string
			peer tg.InputPeerClass
			text string
			code int
			typ  string
		}{
			{name: "empty", peer: peer, text: "", code: 400, typ: "MESSAGE_EMPTY"},
			{name: "4097 chars", peer: peer, text: strings.Repeat("a", 4097), code: 400, typ: "MESSAGE_TOO_LONG"},
			{name: "emoji count twice", peer: peer, text: strings.Repeat("😀", 2049), code: 400, typ: "MESSAGE_TOO_LONG"},
			{name: "unknown user", peer: &tg.InputPeerUser{UserID: 999, AccessHash: 1}, text: "x", code: 400, typ: "PEER_ID_INVALID"},
			{name: "wrong hash", peer: &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash + 1}, text: "x", code: 400, typ: "PEER_ID_INVALID"},
			{name: "hash 0 for a user who never wrote", peer: &tg.InputPeerUser{UserID: stranger.ID}, text: "x", code: 400, typ: "PEER_ID_INVALID"},
			{name: "unknown group", peer: &tg.InputPeerChat{ChatID: 12345}, text: "x", code: 400, typ: "PEER_ID_INVALID"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				requireRPCError(t, send(ctx, api, tc.peer, tc.text), tc.code, tc.typ)
			})
		}
		require.NoError(t, send(ctx, api, peer, strings.Repeat("😀", 2048)))

		require.NoError(t, env.Server.Block(user.ID, env.BotID))
		requireRPCError(t, send(ctx, api, peer, "hi"), 400, "USER_IS_BLOCKED")
		require.NoError(t, env.Server.Unblock(user.ID, env.BotID))
		require.NoError(t, send(ctx, api, peer, "hi"))

		resolved, err := api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: "dan_the_user"})
		require.NoError(t, err)
		require.Equal(t, user.ID, resolved.Peer.(*tg.PeerUser).UserID)
		require.Equal(t, user.AccessHash, resolved.Users[0].(*tg.User).AccessHash)
		_, err = api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: "nobody_here"})
		requireRPCError(t, err, 400, "USERNAME_NOT_OCCUPIED")

		users, err := api.UsersGetUsers(ctx, []tg.InputUserClass{&tg.InputUser{UserID: user.ID, AccessHash: user.AccessHash}})
		require.NoError(t, err)
		require.Len(t, users, 1)
		require.Equal(t, "Dan", users[0].(*tg.User).FirstName)

		// An unknown method is an RPC error, and the connection stays usable.
		_, err = api.MessagesGetAllStickers(ctx, 0)
		requireRPCError(t, err, 400, "METHOD_INVALID")
		require.NoError(t, send(ctx, api, peer, "still connected"))
	})
}

func TestFloodLimits(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) {
		c.Limits = tgemu.Limits{PerChatPerSecond: 1}
	}))
	u1, err := env.Server.CreateUser("U1", "")
	require.NoError(t, err)
	u2, err := env.Server.CreateUser("U2", "")
	require.NoError(t, err)
	p1 := &tg.InputPeerUser{UserID: u1.ID, AccessHash: u1.AccessHash}
	p2 := &tg.InputPeerUser{UserID: u2.ID, AccessHash: u2.AccessHash}

	var groupID int64
	botSession(t, env, func(ctx context.Context, api *tg.Client) {
		require.NoError(t, send(ctx, api, p1, "1"))
		err := send(ctx, api, p1, "2")
		d, ok := tgerr.AsFloodWait(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, time.Second, d)
		require.NoError(t, send(ctx, api, p2, "another chat is fine"))

		env.Server.SetLimits(tgemu.Limits{GlobalPerSecond: 2})
		require.NoError(t, send(ctx, api, p1, "a"))
		require.NoError(t, send(ctx, api, p2, "b"))
		_, ok = tgerr.AsFloodWait(send(ctx, api, p1, "c"))
		require.True(t, ok)

		group, err := env.Server.CreateGroup("team", []int64{u1.ID, u2.ID})
		require.NoError(t, err)
		env.Server.SetLimits(tgemu.Limits{GroupPerMinute: 2})
		groupID = group.ID
		gp := &tg.InputPeerChat{ChatID: group.ID}
		require.NoError(t, send(ctx, api, gp, "g1"))
		require.NoError(t, send(ctx, api, p1, "private chats do not count"))
		require.NoError(t, send(ctx, api, gp, "g2"))
		d, ok = tgerr.AsFloodWait(send(ctx, api, gp, "g3"))
		require.True(t, ok)
		require.Greater(t, d, 50*time.Second)
		require.LessOrEqual(t, d, time.Minute)

		env.Server.SetLimits(tgemu.Limits{})
		require.NoError(t, send(ctx, api, gp, "limits off"))
	})
	require.Equal(t, 3, env.Server.Stats().FloodWaits)
	msgs, err := env.Server.GroupMessages(groupID, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	u1msgs, err := env.Server.Messages(u1.ID, 0)
	require.NoError(t, err)
	require.Len(t, u1msgs, 3)
}

func TestInjectedFaults(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Fay", "")
	require.NoError(t, err)
	peer := &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash}
	require.Error(t, env.Server.InjectFault("messages.noSuchMethod", "INTERNAL", 1))
	require.Error(t, env.Server.InjectFault("messages.sendMessage", "lower case", 1))
	require.Error(t, env.Server.InjectFault("messages.sendMessage", "INTERNAL", 0))
	require.NoError(t, env.Server.InjectFault("messages.sendMessage", "FLOOD_WAIT_3", 2))
	require.NoError(t, env.Server.InjectFault("messages.sendMessage", "INTERNAL", 1))
	require.NoError(t, env.Server.InjectFault("messages.sendMessage", "403:CHAT_WRITE_FORBIDDEN", 1))

	botSession(t, env, func(ctx context.Context, api *tg.Client) {
		for i := 0; i < 2; i++ {
			d, ok := tgerr.AsFloodWait(send(ctx, api, peer, "x"))
			require.True(t, ok)
			require.Equal(t, 3*time.Second, d)
		}
		requireRPCError(t, send(ctx, api, peer, "x"), 500, "INTERNAL")
		requireRPCError(t, send(ctx, api, peer, "x"), 403, "CHAT_WRITE_FORBIDDEN")
		require.NoError(t, send(ctx, api, peer, "x"))
	})
	st := env.Server.Stats()
	require.Equal(t, 2, st.FloodWaits)
	require.Equal(t, 5, st.RPC["messages.sendMessage"])
	msgs, err := env.Server.Messages(user.ID, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
}
