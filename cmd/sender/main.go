// Command sender serves the REST API that sends Telegram messages and
// documents for other services. Configuration is environment variables
// only; run with -h to list them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/logging"
	"github.com/tgbotsvc/tgbot/internal/sender"
)

func main() {
	buildinfo.Main("sender", "REST API that sends Telegram messages and documents through one MTProto client",
		&sender.Config{}, run)
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load[sender.Config]()
	if err != nil {
		return err
	}
	log, closeLog, err := logging.New(cfg.Log)
	if err != nil {
		return err
	}
	defer closeLog()
	log.Info("starting sender", append([]zap.Field{zap.String("version", buildinfo.String())}, config.Fields(&cfg)...)...)
	svc, err := sender.New(cfg, log.Named("sender"))
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
