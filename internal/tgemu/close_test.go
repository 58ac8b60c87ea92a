package tgemu_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// Close drops live connections and waits for every goroutine it started:
// after it (and the client's own shutdown) nothing is left running.
func TestCloseWithLiveClientsLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Max", "")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := env.NewClient(t, tgclient.Options{})
	connected := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- client.Run(ctx, func(ctx context.Context) error {
			if _, err := tgclient.EnsureBotAuth(ctx, client, env.Telegram.BotToken); err != nil {
				return err
			}
			if _, err := client.API().UpdatesGetState(ctx); err != nil {
				return err
			}
			close(connected)
			<-ctx.Done()
			return nil
		})
	}()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("client: %v", err)
	}
	_, err = env.Server.UserSendMessage(user.ID, 0, "pushed to a live session")
	require.NoError(t, err)
	require.Positive(t, env.Server.Stats().Connections)

	require.NoError(t, env.Server.Close())
	require.NoError(t, env.Server.Close(), "Close twice is fine")
	require.Zero(t, env.Server.Stats().Connections)
	cancel()
	<-done
	goleak.VerifyNone(t, before)
}
