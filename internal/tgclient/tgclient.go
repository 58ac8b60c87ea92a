// Package tgclient builds the gotd/td MTProto client every binary uses, from
// the shared TG_* configuration: Telegram's production DCs by default, or any
// MTProto server (the emulator, a test DC) given by TG_DC_ADDR and
// TG_PUBLIC_KEY_FILE. The session (auth key) lives in a file in DATA_DIR so a
// restart never logs in again.
//
// Limitations:
//   - gotd's own logs are bridged to zap at info level and above only: at debug
//     gotd may print request bodies, which include the bot token at login.
//   - Two processes must never share one session file.
package tgclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gotd/log/logzap"
	"github.com/gotd/td/crypto"
	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/logging"
)

// Options are what differs between the binaries. The zero value is usable.
type Options struct {
	// SessionPath is the session file. Empty means an in-memory session.
	SessionPath string
	// Logger receives gotd's logs (info and above). Nil means none.
	Logger *zap.Logger
	// UpdateHandler receives updates. Nil together with NoUpdates=false is
	// allowed: gotd then implies NoUpdates.
	UpdateHandler telegram.UpdateHandler
	// NoUpdates wraps every call in invokeWithoutUpdates, so this connection
	// never takes updates away from another client of the same account.
	NoUpdates bool
	// Middlewares wrap every RPC (flood wait, rate limits, metrics).
	Middlewares []telegram.Middleware
	// RetryInterval between resends; 0 means gotd's default (5 s).
	RetryInterval time.Duration
	// MaxRetries of a request; 0 means gotd's default.
	MaxRetries int
	// OnConnectionState is forwarded to gotd.
	OnConnectionState func(telegram.ConnectionState)
	// ReconnectionBackoff is forwarded to gotd; nil means gotd's default.
	ReconnectionBackoff func() backoff.BackOff
}

// SessionFile is the conventional session path of a service in dataDir.
func SessionFile(dataDir, service string) string {
	return filepath.Join(dataDir, service+".session.json")
}

// ClientOptions translates cfg and opts into gotd's options.
func ClientOptions(cfg config.Telegram, opts Options) (telegram.Options, error) {
	o := telegram.Options{
		DC:                cfg.DCID,
		UpdateHandler:     opts.UpdateHandler,
		NoUpdates:         opts.NoUpdates,
		Middlewares:       opts.Middlewares,
		RetryInterval:     opts.RetryInterval,
		MaxRetries:        opts.MaxRetries,
		OnConnectionState: opts.OnConnectionState,
		Device: telegram.DeviceConfig{
			DeviceModel:   "tgbot",
			SystemVersion: "linux",
			AppVersion:    "1.0",
		},
	}
	if opts.ReconnectionBackoff != nil {
		o.ReconnectionBackoff = opts.ReconnectionBackoff
	}
	if opts.Logger != nil {
		o.Logger = logzap.New(logging.AtLeast(opts.Logger, zapcore.InfoLevel))
	}
	if opts.SessionPath != "" {
		if err := os.MkdirAll(filepath.Dir(opts.SessionPath), 0o700); err != nil {
			return o, fmt.Errorf("session dir: %w", err)
		}
		o.SessionStorage = &session.FileStorage{Path: opts.SessionPath}
	}
	if cfg.DCAddr != "" {
		dcOpts, keys, err := CustomDC(cfg)
		if err != nil {
			return o, err
		}
		o.PublicKeys = keys
		o.DCList = dcs.List{Options: dcOpts}
		o.Resolver = dcs.Plain(dcs.PlainOptions{})
	}
	return o, nil
}

// CustomDC returns the DC list and public keys for TG_DC_ADDR/TG_PUBLIC_KEY_FILE.
func CustomDC(cfg config.Telegram) ([]tg.DCOption, []telegram.PublicKey, error) {
	host, portStr, err := net.SplitHostPort(cfg.DCAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("TG_DC_ADDR: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, nil, fmt.Errorf("TG_DC_ADDR: bad port %q", portStr)
	}
	pem, err := os.ReadFile(cfg.PublicKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("TG_PUBLIC_KEY_FILE: %w", err)
	}
	keys, err := ParsePublicKeys(pem)
	if err != nil {
		return nil, nil, fmt.Errorf("TG_PUBLIC_KEY_FILE: %w", err)
	}
	return []tg.DCOption{{ID: cfg.DCID, IPAddress: host, Port: port}}, keys, nil
}

// ParsePublicKeys parses PEM-encoded RSA public keys.
func ParsePublicKeys(pem []byte) ([]telegram.PublicKey, error) {
	rsaKeys, err := crypto.ParseRSAPublicKeys(pem)
	if err != nil {
		return nil, err
	}
	if len(rsaKeys) == 0 {
		return nil, errors.New("no RSA public key in PEM")
	}
	keys := make([]telegram.PublicKey, 0, len(rsaKeys))
	for _, k := range rsaKeys {
		keys = append(keys, telegram.PublicKey{RSA: k})
	}
	return keys, nil
}

// New builds a client for cfg. AppHash is passed to gotd and nowhere else.
func New(cfg config.Telegram, opts Options) (*telegram.Client, error) {
	o, err := ClientOptions(cfg, opts)
	if err != nil {
		return nil, err
	}
	return telegram.NewClient(cfg.AppID, cfg.AppHash, o), nil
}

// ErrNoBotToken is returned by EnsureBotAuth when the session is not
// authorized and there is no token to log in with.
var ErrNoBotToken = errors.New("not authorized and TG_BOT_TOKEN is empty")

// EnsureBotAuth logs the client in with the bot token unless its session is
// already authorized. Logging in once and keeping the session matters:
// repeated auth.importBotAuthorization calls earn long FLOOD_WAITs.
func EnsureBotAuth(ctx context.Context, c *telegram.Client, token string) (*tg.User, error) {
	st, err := c.Auth().Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth status: %w", err)
	}
	if !st.Authorized {
		if token == "" {
			return nil, ErrNoBotToken
		}
		if _, err := c.Auth().Bot(ctx, token); err != nil {
			// The error from gotd never contains the token itself.
			return nil, fmt.Errorf("bot login: %w", err)
		}
	}
	self, err := c.Self(ctx)
	if err != nil {
		return nil, fmt.Errorf("get self: %w", err)
	}
	return self, nil
}
