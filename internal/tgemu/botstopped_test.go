package tgemu_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

func waitStop(t *testing.T, ch <-chan *tg.UpdateBotStopped) *tg.UpdateBotStopped {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no updateBotStopped within 10s")
		return nil
	}
}

// A user blocking the bot (control API) reaches the bot as updateBotStopped
// on its qts sequence: pushed while it is online, from getDifference after
// it was offline. Blocking twice is one update.
func TestBlockSendsUpdateBotStopped(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Dora", "")
	require.NoError(t, err)
	ctl := httptest.NewServer(env.Server.Handler())
	defer ctl.Close()
	post := func(path string) {
		resp, err := http.Post(ctl.URL+path, "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	userPath := "/v1/users/" + itoa(user.ID)
	session := filepath.Join(t.TempDir(), "receiver.session.json")
	state := newMemState()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	r1 := newReceiver(t, env, session, state)
	r1.run(t, env, ctx, func(ctx context.Context) error {
		post(userPath + "/block")
		post(userPath + "/block")
		u := waitStop(t, r1.stops)
		require.Equal(t, user.ID, u.UserID)
		require.True(t, u.Stopped)
		require.Equal(t, 1, u.Qts)
		select {
		case u := <-r1.stops:
			t.Fatalf("a second block of a blocked bot sent %+v", u)
		case <-time.After(300 * time.Millisecond):
		}
		return nil
	})

	post(userPath + "/unblock") // while the bot is offline
	r2 := newReceiver(t, env, session, state)
	r2.run(t, env, ctx, func(ctx context.Context) error {
		u := waitStop(t, r2.stops)
		require.Equal(t, user.ID, u.UserID)
		require.False(t, u.Stopped)
		return nil
	})
	st, _, err := state.GetState(ctx, env.BotID)
	require.NoError(t, err)
	require.Equal(t, 2, st.Qts)
}
