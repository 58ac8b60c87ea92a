package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/tgbotsvc/tgbot/internal/bots"
)

// Log configures internal/logging.
type Log struct {
	Level          string `env:"LOG_LEVEL" envDefault:"info" usage:"debug, info, warn or error"`
	Format         string `env:"LOG_FORMAT" envDefault:"json" usage:"json or console (stdout)"`
	File           string `env:"LOG_FILE" usage:"also write JSON logs to this file, rotated by size; empty = off"`
	FileMaxSizeMB  int    `env:"LOG_FILE_MAX_SIZE_MB" envDefault:"5" usage:"rotate LOG_FILE at this size (MiB)"`
	FileMaxBackups int    `env:"LOG_FILE_MAX_BACKUPS" envDefault:"10" usage:"rotated LOG_FILE copies to keep"`
}

// Validate implements Validator.
func (l *Log) Validate() error {
	var errs []error
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", l.Level))
	}
	switch l.Format {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not one of json, console", l.Format))
	}
	if l.FileMaxSizeMB <= 0 {
		errs = append(errs, fmt.Errorf("LOG_FILE_MAX_SIZE_MB: must be positive, got %d", l.FileMaxSizeMB))
	}
	if l.FileMaxBackups < 0 {
		errs = append(errs, fmt.Errorf("LOG_FILE_MAX_BACKUPS: must not be negative, got %d", l.FileMaxBackups))
	}
	return errors.Join(errs...)
}

// Telegram configures the MTProto client of a service (internal/tgclient).
type Telegram struct {
	AppID         int      `env:"TG_APP_ID" usage:"application ID from my.telegram.org (any number for the emulator)"`
	AppHash       string   `env:"TG_APP_HASH" secret:"true" usage:"application hash from my.telegram.org"`
	BotToken      string   `env:"TG_BOT_TOKEN" secret:"true" usage:"bot token from @BotFather (<bot_id>:<secret>)"`
	BotTokens     []string `env:"TG_BOT_TOKENS" secret:"true" usage:"more bot tokens, comma-separated; served together with TG_BOT_TOKEN"`
	DCAddr        string   `env:"TG_DC_ADDR" usage:"host:port of an MTProto server to use instead of Telegram's (the emulator, a test DC)"`
	DCID          int      `env:"TG_DC_ID" envDefault:"2" usage:"DC ID to connect to first"`
	PublicKeyFile string   `env:"TG_PUBLIC_KEY_FILE" usage:"PEM file with the RSA public key of TG_DC_ADDR's server"`
}

// validToken reports whether s is a bot token as written, with nothing
// around it (bots.ParseToken itself forgives surrounding spaces).
func validToken(s string) bool {
	_, err := bots.ParseToken(s)
	return err == nil && s == strings.TrimSpace(s)
}

// Validate implements Validator.
func (t *Telegram) Validate() error {
	var errs []error
	if t.AppID <= 0 {
		errs = append(errs, fmt.Errorf("TG_APP_ID: required, a positive number (got %d)", t.AppID))
	}
	if t.AppHash == "" {
		errs = append(errs, fmt.Errorf("TG_APP_HASH: required"))
	}
	if t.BotToken != "" && !validToken(t.BotToken) {
		errs = append(errs, fmt.Errorf("TG_BOT_TOKEN: not of the form <bot_id>:<secret>"))
	}
	for i, tok := range t.BotTokens {
		if tok = strings.TrimSpace(tok); tok != "" && !validToken(tok) {
			errs = append(errs, fmt.Errorf("TG_BOT_TOKENS: item %d is not of the form <bot_id>:<secret>", i+1))
		}
	}
	if (t.DCAddr == "") != (t.PublicKeyFile == "") {
		errs = append(errs, fmt.Errorf("TG_DC_ADDR and TG_PUBLIC_KEY_FILE: set both or neither"))
	} else if t.DCAddr != "" {
		if _, _, err := net.SplitHostPort(t.DCAddr); err != nil {
			errs = append(errs, fmt.Errorf("TG_DC_ADDR: %q is not host:port", t.DCAddr))
		}
		if _, err := os.Stat(t.PublicKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("TG_PUBLIC_KEY_FILE: %w", err))
		}
	}
	if t.DCID <= 0 {
		errs = append(errs, fmt.Errorf("TG_DC_ID: must be positive, got %d", t.DCID))
	}
	return errors.Join(errs...)
}

// BotID returns the numeric prefix of the bot token, or 0.
func (t *Telegram) BotID() int64 {
	tok, err := bots.ParseToken(t.BotToken)
	if err != nil {
		return 0
	}
	return tok.ID()
}

// DataDir configures where a service keeps its session and stores.
type DataDir struct {
	Path string `env:"DATA_DIR" envDefault:"./data" usage:"directory for the Telegram session and the embedded store"`
}

// Validate implements Validator. It does not create the directory: the
// stores and the session file create it when they open, so a run refused
// for its configuration leaves nothing behind.
func (d *DataDir) Validate() error {
	if d.Path == "" {
		return fmt.Errorf("DATA_DIR: must not be empty")
	}
	return nil
}

// LogSettings returns the logging part of a binary's configuration; it is
// promoted to every config struct that embeds Log.
func (l Log) LogSettings() Log { return l }

// Shortest accepted bearer tokens: API tokens are checked per request and
// many may exist; an admin token opens replay and other privileged
// operations, so it must be harder to guess.
const (
	MinAPITokenLen   = 8
	MinAdminTokenLen = 16
)

// CheckTokens returns an error naming the variable when one of tokens is
// shorter than minLen characters. Empty tokens are the caller's business
// (often "feature disabled"). The error never contains a token.
func CheckTokens(name string, minLen int, tokens ...string) error {
	for i, t := range tokens {
		if t != "" && len(t) < minLen {
			if len(tokens) == 1 {
				return fmt.Errorf("%s: too short, needs at least %d characters (got %d)", name, minLen, len(t))
			}
			return fmt.Errorf("%s: token %d is too short, every token needs at least %d characters", name, i+1, minLen)
		}
	}
	return nil
}
