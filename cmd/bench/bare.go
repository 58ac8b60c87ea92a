package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"path/filepath"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// withBareClient runs fn with a plain gotd client (internal/tgclient, no
// middlewares, no HTTP, no store) logged in as the bench bot on the same
// emulator: the floor any gateway overhead is measured against. Its session
// is kept in the work dir, so only the first use logs in.
func (st *stack) withBareClient(ctx context.Context, fn func(ctx context.Context, api *tg.Client) error) error {
	client, err := tgclient.New(emulatorTelegram(st.botToken, st.emuMT, st.pubKey), tgclient.Options{
		SessionPath: tgclient.SessionFile(filepath.Join(st.work, "bare"), "bare"),
		NoUpdates:   true,
	})
	if err != nil {
		return fmt.Errorf("bare client: %w", err)
	}
	return client.Run(ctx, func(ctx context.Context) error {
		if _, err := tgclient.EnsureBotAuth(ctx, client, st.botToken); err != nil {
			return fmt.Errorf("bare client: %w", err)
		}
		return fn(ctx, client.API())
	})
}

// emulatorTelegram is the Telegram config of a plain client of the emulator
// at dcAddr, logged in as the bot.
func emulatorTelegram(botToken, dcAddr, publicKeyFile string) config.Telegram {
	return config.Telegram{
		AppID:         1,
		AppHash:       "emulator",
		BotToken:      botToken,
		DCAddr:        dcAddr,
		DCID:          2,
		PublicKeyFile: publicKeyFile,
	}
}

// randomID is a send's random_id, Telegram's duplicate guard.
func randomID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// bareSend sends text to u the way the sender ultimately does.
func bareSend(ctx context.Context, api *tg.Client, u emuUser, text string) error {
	_, err := api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer:     &tg.InputPeerUser{UserID: u.ID, AccessHash: u.AccessHash},
		Message:  text,
		RandomID: randomID(),
	})
	return err
}
