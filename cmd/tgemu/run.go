package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
)

const about = "offline Telegram emulator: MTProto for gotd clients plus a JSON control API that plays the users"

// Config is the emulator binary's configuration.
type Config struct {
	MTProtoAddr      string        `env:"TGEMU_MTPROTO_ADDR" envDefault:"127.0.0.1:9443" usage:"MTProto listen address (clients' TG_DC_ADDR)"`
	PublicAddr       string        `env:"TGEMU_PUBLIC_ADDR" usage:"host:port clients reach the MTProto server at, sent in help.getConfig (e.g. tgemu:9443 in compose); empty = TGEMU_MTPROTO_ADDR, 127.0.0.1 if it listens on all interfaces"`
	HTTPAddr         string        `env:"TGEMU_HTTP_ADDR" envDefault:"127.0.0.1:9080" usage:"control API listen address"`
	KeyFile          string        `env:"TGEMU_KEY_FILE" envDefault:"./data/tgemu.key" usage:"RSA private key (PEM), created if missing so clients' sessions survive restarts"`
	PublicKeyFile    string        `env:"TGEMU_PUBLIC_KEY_FILE" usage:"write the public key (PEM) here for clients' TG_PUBLIC_KEY_FILE; empty = don't"`
	DataFile         string        `env:"TGEMU_DATA_FILE" usage:"persist auth keys, accounts, chats, messages and pts here (JSON) so a restart keeps clients logged in; empty = in memory"`
	BotTokens        []string      `env:"TGEMU_BOT_TOKENS" secret:"true" usage:"comma-separated bot tokens allowed to log in; empty = any <bot_id>:<secret>"`
	LoginCode        string        `env:"TGEMU_LOGIN_CODE" envDefault:"12345" secret:"true" usage:"code user accounts log in with (auth.signIn)"`
	FileReferenceTTL time.Duration `env:"TGEMU_FILE_REFERENCE_TTL" usage:"file references expire after this (e.g. 1h); 0 = never"`
	GlobalPerSecond  int           `env:"TGEMU_LIMIT_GLOBAL_PER_SECOND" usage:"messages one bot may send per second; 0 = no limit"`
	PerChatPerSecond int           `env:"TGEMU_LIMIT_PER_CHAT_PER_SECOND" usage:"messages one bot may send to one chat per second; 0 = no limit"`
	GroupPerMinute   int           `env:"TGEMU_LIMIT_GROUP_PER_MINUTE" usage:"messages one bot may send to one group per minute; 0 = no limit"`
	config.Log
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	switch {
	case c.MTProtoAddr == "":
		return fmt.Errorf("TGEMU_MTPROTO_ADDR: must not be empty")
	case c.PublicAddr != "" && !validHostPort(c.PublicAddr):
		return fmt.Errorf("TGEMU_PUBLIC_ADDR: %q is not host:port", c.PublicAddr)
	case c.GlobalPerSecond < 0:
		return fmt.Errorf("TGEMU_LIMIT_GLOBAL_PER_SECOND: must not be negative")
	case c.PerChatPerSecond < 0:
		return fmt.Errorf("TGEMU_LIMIT_PER_CHAT_PER_SECOND: must not be negative")
	case c.GroupPerMinute < 0:
		return fmt.Errorf("TGEMU_LIMIT_GROUP_PER_MINUTE: must not be negative")
	case c.FileReferenceTTL < 0:
		return fmt.Errorf("TGEMU_FILE_REFERENCE_TTL: must not be negative")
	}
	for _, t := range c.BotTokens {
		if id, secret, ok := strings.Cut(t, ":"); !ok || id == "" || secret == "" {
			return fmt.Errorf("TGEMU_BOT_TOKENS: an entry is not of the form <bot_id>:<secret>")
		}
	}
	return nil
}

func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

// emulatorConfig translates the binary's config for the library.
func (c *Config) emulatorConfig(log *zap.Logger) tgemu.Config {
	return tgemu.Config{
		MTProtoAddr:      c.MTProtoAddr,
		PublicAddr:       c.PublicAddr,
		HTTPAddr:         c.HTTPAddr,
		KeyFile:          c.KeyFile,
		PublicKeyFile:    c.PublicKeyFile,
		DataFile:         c.DataFile,
		BotTokens:        c.BotTokens,
		LoginCode:        c.LoginCode,
		FileReferenceTTL: c.FileReferenceTTL,
		Limits: tgemu.Limits{
			GlobalPerSecond:  c.GlobalPerSecond,
			PerChatPerSecond: c.PerChatPerSecond,
			GroupPerMinute:   c.GroupPerMinute,
		},
		Logger: log,
	}
}

// run starts the emulator from the environment (vars, or the process
// environment when nil), prints its addresses on stdout, and serves until
// ctx ends. ready, when set, is called once it serves (tests).
func run(ctx context.Context, vars map[string]string, stdout io.Writer, ready func(*tgemu.Server)) error {
	cfg, log, closeLog, err := buildinfo.Setup[Config]("tgemu", vars)
	if err != nil {
		return err
	}
	defer closeLog()

	srv, err := tgemu.New(cfg.emulatorConfig(log))
	if err != nil {
		return fmt.Errorf("tgemu: %w", err)
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("tgemu: %w", err)
	}
	fmt.Fprintf(stdout, "tgemu %s\n  MTProto:     %s (DC %d)\n", about, srv.MTProtoAddr(), tgemu.DCID)
	if a := srv.HTTPAddr(); a != "" {
		fmt.Fprintf(stdout, "  control API: http://%s\n  page:        http://%s/ (chat with your bot as any user)\n", a, a)
	}
	if cfg.PublicKeyFile != "" {
		fmt.Fprintf(stdout, "  public key:  %s\n", cfg.PublicKeyFile)
	}
	if ready != nil {
		ready(srv)
	}
	<-ctx.Done()
	log.Info("stopping")
	if err := srv.Close(); err != nil {
		return fmt.Errorf("tgemu: close: %w", err)
	}
	return nil
}
