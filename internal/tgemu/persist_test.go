package tgemu_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// With a key file and a data file, a restart of the emulator keeps the
// bot's session valid, and what happened while it was down (or before)
// reaches the bot through getDifference.
func TestRestartKeepsSessionsAndState(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *tgemu.Config) {
		c.KeyFile = filepath.Join(dir, "tgemu.key")
		c.DataFile = filepath.Join(dir, "tgemu.json")
		c.PublicKeyFile = filepath.Join(dir, "tgemu.pub")
	}
	env := emutest.Start(t, emutest.WithConfig(cfg))
	user, err := env.Server.CreateUser("Ida", "ida_user")
	require.NoError(t, err)
	session := filepath.Join(t.TempDir(), "bot.session.json")
	state := newMemState()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	r1 := newReceiver(t, env, session, state)
	r1.run(t, env, ctx, func(ctx context.Context) error {
		_, err := env.Server.UserSendMessage(user.ID, 0, "before restart")
		require.NoError(t, err)
		require.Equal(t, "before restart", waitMsg(t, r1.msgs).Message)
		return nil
	})
	_, err = env.Server.UserSendMessage(user.ID, 0, "while bot offline")
	require.NoError(t, err)
	addr := env.Server.MTProtoAddr()
	require.NoError(t, env.Server.Close())

	// Same address, key and data: the client's saved session still works.
	srv, err := tgemu.New(tgemu.Config{
		MTProtoAddr: addr,
		KeyFile:     filepath.Join(dir, "tgemu.key"),
		DataFile:    filepath.Join(dir, "tgemu.json"),
		Logger:      zaptest.NewLogger(t).Named("tgemu2"),
	})
	require.NoError(t, err)
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	env2 := &emutest.Env{Server: srv, Telegram: env.Telegram, BotID: env.BotID, Dir: env.Dir}
	_, err = srv.UserSendMessage(user.ID, 0, "after restart")
	require.NoError(t, err)

	logins := srv.Stats().RPC["auth.importBotAuthorization"]
	r2 := newReceiver(t, env2, session, state)
	r2.run(t, env2, ctx, func(ctx context.Context) error {
		require.Equal(t, "while bot offline", waitMsg(t, r2.msgs).Message)
		require.Equal(t, "after restart", waitMsg(t, r2.msgs).Message)
		noMore(t, r2.msgs)
		return nil
	})
	require.Equal(t, logins, srv.Stats().RPC["auth.importBotAuthorization"], "no new login after the restart")
	msgs, err := srv.Messages(user.ID, env.BotID)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
}
