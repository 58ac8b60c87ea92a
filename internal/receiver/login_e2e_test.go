package receiver_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/receiver"
)

// User-account mode: `receiver login` asks for the phone, the code and the
// 2FA password, saves the session, and the service then runs without a
// bot token.
func (s *suite) testUserLogin(t *testing.T) {
	env := s.env
	u, err := env.Server.CreateUserWithPhone("Owner", "", "+15550001")
	require.NoError(t, err)
	require.NoError(t, env.Server.SetPassword(u.ID, "correct horse"))

	down := newDownstream(t)
	cfg := testConfig(env, t.TempDir(), down.srv.URL)
	cfg.BotToken = ""
	_, err = receiver.New(cfg, zaptest.NewLogger(t))
	require.ErrorContains(t, err, "receiver login", "no session yet")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	in := strings.NewReader("+15550001\n12345\ncorrect horse\n")
	require.NoError(t, receiver.Login(ctx, cfg, zaptest.NewLogger(t), in, &out))
	require.Contains(t, out.String(), "Phone number: Login code: 2FA password: Logged in as Owner")
	require.NotContains(t, out.String(), "correct horse")

	r := startReceiver(t, cfg)
	require.Equal(t, u.ID, r.svc.BotID())
}
