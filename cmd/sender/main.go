// Command sender serves the REST API that sends Telegram messages and
// documents for other services. Configuration is environment variables
// only; run with -h to list them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/sender"
)

func main() {
	buildinfo.Main("sender", "REST API that sends Telegram messages and documents through one MTProto client",
		&sender.Config{}, run)
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, log, closeLog, err := buildinfo.Setup[sender.Config]("sender", nil)
	if err != nil {
		return err
	}
	defer closeLog()
	svc, err := sender.New(cfg, log)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
