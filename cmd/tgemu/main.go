// Command tgemu runs the offline Telegram emulator (internal/tgemu): an
// MTProto server for real gotd clients plus a JSON control API that plays
// the users. Configuration is environment variables; see -h.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
)

func main() {
	buildinfo.Main("tgemu", about, &Config{}, func() error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return run(ctx, nil, os.Stdout, nil)
	})
}
