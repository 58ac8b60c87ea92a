package tgclient

import (
	"context"

	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"github.com/gotd/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
)

func writeKey(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	path := filepath.Join(t.TempDir(), "pub.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der}), 0o600))
	return path
}

func TestCustomDC(t *testing.T) {
	cfg := config.Telegram{AppID: 1, AppHash: "h", DCID: 2, DCAddr: "127.0.0.1:9443", PublicKeyFile: writeKey(t)}
	opts, err := ClientOptions(cfg, Options{SessionPath: filepath.Join(t.TempDir(), "s", "x.session.json")})
	require.NoError(t, err)
	require.Len(t, opts.PublicKeys, 1)
	require.Len(t, opts.DCList.Options, 1)
	require.Equal(t, "127.0.0.1", opts.DCList.Options[0].IPAddress)
	require.Equal(t, 9443, opts.DCList.Options[0].Port)
	require.Equal(t, 2, opts.DC)
	require.NotNil(t, opts.SessionStorage)
	require.NotNil(t, opts.Resolver)
}

func TestCustomDCErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a key"), 0o600))
	for name, cfg := range map[string]config.Telegram{
		"no port":      {DCID: 2, DCAddr: "127.0.0.1", PublicKeyFile: bad},
		"missing file": {DCID: 2, DCAddr: "127.0.0.1:1", PublicKeyFile: "/nonexistent"},
		"bad pem":      {DCID: 2, DCAddr: "127.0.0.1:1", PublicKeyFile: bad},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := CustomDC(cfg)
			require.Error(t, err)
		})
	}
}

func TestProductionByDefault(t *testing.T) {
	opts, err := ClientOptions(config.Telegram{AppID: 1, AppHash: "h", DCID: 2}, Options{})
	require.NoError(t, err)
	require.Empty(t, opts.PublicKeys, "gotd's embedded Telegram keys are used")
	require.True(t, opts.DCList.Zero(), "gotd's production DC list is used")
	require.Nil(t, opts.SessionStorage)
}

func TestGotdLogsNeverAtDebug(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	opts, err := ClientOptions(config.Telegram{AppID: 1, AppHash: "h", DCID: 2}, Options{Logger: zap.New(core)})
	require.NoError(t, err)
	opts.Logger.Log(context.Background(), log.LevelDebug, "request body with a token")
	opts.Logger.Log(context.Background(), log.LevelInfo, "connected")
	require.Equal(t, 1, logs.Len())
	require.Equal(t, "connected", logs.All()[0].Message)
}
