package tgemu_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// A bot whose token ID lies in the users' range keeps its account: new
// users get IDs no account has.
func TestCreateUserSkipsBotIDs(t *testing.T) {
	env := emutest.Start(t)
	for _, token := range []string{"1000001:first", "1000002:second", "1000004:third"} {
		_, err := env.Server.RegisterBot(token)
		require.NoError(t, err)
	}
	bots := map[int64]bool{env.BotID: true, 1000001: true, 1000002: true, 1000004: true}
	seen := map[int64]bool{}
	for _, name := range []string{"Ann", "Bob", "Cid"} {
		u, err := env.Server.CreateUser(name, "")
		require.NoError(t, err)
		require.False(t, bots[u.ID], "user %s got bot ID %d", name, u.ID)
		require.False(t, seen[u.ID], "user %s got a taken ID %d", name, u.ID)
		seen[u.ID] = true
	}
	var nBots, nUsers int
	for _, u := range env.Server.Users() {
		if u.Bot {
			require.True(t, bots[u.ID], "unexpected bot %d", u.ID)
			nBots++
		} else {
			require.True(t, seen[u.ID], "unexpected user %d", u.ID)
			nUsers++
		}
	}
	require.Equal(t, len(bots), nBots)
	require.Equal(t, 3, nUsers)
}
