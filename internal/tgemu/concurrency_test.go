package tgemu_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// Many clients doing key exchanges while others send: the server must stay
// correct under -race (bounded: 4 clients x 50 sends).
func TestConcurrentClients(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Bob", "bob_user")
	require.NoError(t, err)
	_, err = env.Server.UserSendMessage(user.ID, 0, "hi")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const clients, sends = 4, 50
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := env.NewClient(t, tgclient.Options{NoUpdates: i%2 == 0})
			env.RunBot(t, ctx, c, func(ctx context.Context) error {
				for j := 0; j < sends; j++ {
					if _, err := c.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
						Peer: &tg.InputPeerUser{UserID: user.ID}, Message: fmt.Sprintf("m %d %d", i, j), RandomID: int64(i*1000 + j + 1),
					}); err != nil {
						return err
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	msgs, err := env.Server.Messages(user.ID, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1+clients*sends)
	// gotd resends a request it got no answer for within RetryInterval;
	// random_id makes the resend harmless.
	require.GreaterOrEqual(t, env.Server.Stats().RPC["messages.sendMessage"], clients*sends)
}

// A client that resends every request before its answer arrives (a retry
// interval far below the round trip) still gets each message sent once and
// every call answered with its result: the server answers a repeated
// msg_id with the answer it already gave, never by running it again.
func TestResentRequestsAnsweredOnce(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Bob", "bob_user")
	require.NoError(t, err)
	_, err = env.Server.UserSendMessage(user.ID, 0, "hi")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const sends = 100
	// Resent every millisecond, and never given up on: on a busy machine an
	// answer may take far longer than gotd's default 5 resends.
	c := env.NewClient(t, tgclient.Options{NoUpdates: true, RetryInterval: time.Millisecond, MaxRetries: 10000})
	env.RunBot(t, ctx, c, func(ctx context.Context) error {
		for j := 0; j < sends; j++ {
			if _, err := c.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
				Peer: &tg.InputPeerUser{UserID: user.ID}, Message: fmt.Sprintf("m %d", j), RandomID: int64(j + 1),
			}); err != nil {
				return err
			}
		}
		return nil
	})
	msgs, err := env.Server.Messages(user.ID, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1+sends)
	require.Equal(t, sends, env.Server.Stats().RPC["messages.sendMessage"], "a resent request was executed again")
}
