package config

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
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
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", l.Level)
	}
	switch l.Format {
	case "json", "console":
	default:
		return fmt.Errorf("LOG_FORMAT: %q is not one of json, console", l.Format)
	}
	if l.FileMaxSizeMB <= 0 {
		return fmt.Errorf("LOG_FILE_MAX_SIZE_MB: must be positive, got %d", l.FileMaxSizeMB)
	}
	if l.FileMaxBackups < 0 {
		return fmt.Errorf("LOG_FILE_MAX_BACKUPS: must not be negative, got %d", l.FileMaxBackups)
	}
	return nil
}

// Telegram configures the MTProto client of a service (internal/tgclient).
type Telegram struct {
	AppID         int    `env:"TG_APP_ID" usage:"application ID from my.telegram.org (any number for the emulator)"`
	AppHash       string `env:"TG_APP_HASH" secret:"true" usage:"application hash from my.telegram.org"`
	BotToken      string `env:"TG_BOT_TOKEN" secret:"true" usage:"bot token from @BotFather (<bot_id>:<secret>)"`
	DCAddr        string `env:"TG_DC_ADDR" usage:"host:port of an MTProto server to use instead of Telegram's (the emulator, a test DC)"`
	DCID          int    `env:"TG_DC_ID" envDefault:"2" usage:"DC ID to connect to first"`
	PublicKeyFile string `env:"TG_PUBLIC_KEY_FILE" usage:"PEM file with the RSA public key of TG_DC_ADDR's server"`
}

var botTokenRe = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)

// Validate implements Validator.
func (t *Telegram) Validate() error {
	if t.AppID <= 0 {
		return fmt.Errorf("TG_APP_ID: required, a positive number (got %d)", t.AppID)
	}
	if t.AppHash == "" {
		return fmt.Errorf("TG_APP_HASH: required")
	}
	if t.BotToken != "" && !botTokenRe.MatchString(t.BotToken) {
		return fmt.Errorf("TG_BOT_TOKEN: not of the form <bot_id>:<secret>")
	}
	if (t.DCAddr == "") != (t.PublicKeyFile == "") {
		return fmt.Errorf("TG_DC_ADDR and TG_PUBLIC_KEY_FILE: set both or neither")
	}
	if t.DCAddr != "" {
		if _, _, err := net.SplitHostPort(t.DCAddr); err != nil {
			return fmt.Errorf("TG_DC_ADDR: %q is not host:port", t.DCAddr)
		}
		if _, err := os.Stat(t.PublicKeyFile); err != nil {
			return fmt.Errorf("TG_PUBLIC_KEY_FILE: %w", err)
		}
	}
	if t.DCID <= 0 {
		return fmt.Errorf("TG_DC_ID: must be positive, got %d", t.DCID)
	}
	return nil
}

// BotID returns the numeric prefix of the bot token, or 0.
func (t *Telegram) BotID() int64 {
	id, _, ok := strings.Cut(t.BotToken, ":")
	if !ok {
		return 0
	}
	var n int64
	if _, err := fmt.Sscan(id, &n); err != nil {
		return 0
	}
	return n
}

// DataDir configures where a service keeps its session and stores.
type DataDir struct {
	Path string `env:"DATA_DIR" envDefault:"./data" usage:"directory for the Telegram session and the embedded store"`
}

// Validate implements Validator; it creates the directory when missing.
func (d *DataDir) Validate() error {
	if d.Path == "" {
		return fmt.Errorf("DATA_DIR: must not be empty")
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("DATA_DIR: %w", err)
	}
	return nil
}

// LogSettings returns the logging part of a binary's configuration; it is
// promoted to every config struct that embeds Log.
func (l Log) LogSettings() Log { return l }
