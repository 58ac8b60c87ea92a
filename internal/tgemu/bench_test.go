package tgemu_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// BenchmarkSendMessage measures messages.sendMessage from one gotd client
// with 16 concurrent callers, the load the services put on the emulator.
func BenchmarkSendMessage(b *testing.B) {
	env := emutest.Start(b)
	user, err := env.Server.CreateUser("Bench", "")
	require.NoError(b, err)
	peer := &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash}
	c := env.NewClient(b, tgclient.Options{NoUpdates: true, RetryInterval: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env.RunBot(b, ctx, c, func(ctx context.Context) error {
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
					Peer: peer, Message: "bench", RandomID: randomID.Add(1),
				}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		return nil
	})
}
