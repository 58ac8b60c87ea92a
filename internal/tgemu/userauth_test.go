package tgemu_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

func codeFunc(code string) auth.CodeAuthenticator {
	return auth.CodeAuthenticatorFunc(func(context.Context, *tg.AuthSentCode) (string, error) { return code, nil })
}

// A user account logs in with the fixed code and, when it has one, its 2FA
// password through gotd's own SRP client; then it writes to the bot.
func TestUserLogin(t *testing.T) {
	env := emutest.Start(t)
	plain, err := env.Server.CreateUserWithPhone("Jo", "jo_plain", "15550001")
	require.NoError(t, err)
	secured, err := env.Server.CreateUserWithPhone("Kim", "kim_secured", "15550002")
	require.NoError(t, err)
	require.NoError(t, env.Server.SetPassword(secured.ID, "hunter2"))
	tests := []struct {
		name     string
		phone    string
		password string
		code     string
		wantErr  string
		userID   int64
	}{
		{name: "unknown phone", phone: "19999999", code: "12345", wantErr: "PHONE_NUMBER_INVALID"},
		{name: "wrong code", phone: "15550001", code: "00000", wantErr: "PHONE_CODE_INVALID"},
		{name: "no password", phone: "15550001", code: "12345", userID: plain.ID},
		// gotd turns PASSWORD_HASH_INVALID into auth.ErrPasswordInvalid.
		{name: "wrong password", phone: "15550002", password: "nope", code: "12345", wantErr: "PASSWORD_HASH_INVALID"},
		{name: "2FA", phone: "15550002", password: "hunter2", code: "12345", userID: secured.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := env.NewClient(t, tgclient.Options{})
			require.NoError(t, c.Run(ctx, func(ctx context.Context) error {
				flow := auth.NewFlow(auth.Constant(tc.phone, tc.password, codeFunc(tc.code)), auth.SendCodeOptions{})
				err := c.Auth().IfNecessary(ctx, flow)
				if tc.wantErr != "" {
					require.True(t, tgerr.Is(err, tc.wantErr) || errors.Is(err, auth.ErrPasswordInvalid), "%v", err)
					st, err := c.Auth().Status(ctx)
					require.NoError(t, err)
					require.False(t, st.Authorized)
					return nil
				}
				require.NoError(t, err)
				self, err := c.Self(ctx)
				require.NoError(t, err)
				require.Equal(t, tc.userID, self.ID)
				require.False(t, self.Bot)

				bot, err := c.API().ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: "emu" + itoa(env.BotID) + "_bot"})
				require.NoError(t, err)
				b := bot.Users[0].(*tg.User)
				require.True(t, b.Bot)
				_, err = c.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
					Peer: &tg.InputPeerUser{UserID: b.ID, AccessHash: b.AccessHash}, Message: "from a real client", RandomID: randomID.Add(1),
				})
				require.NoError(t, err)
				return nil
			}))
		})
	}
	for _, id := range []int64{plain.ID, secured.ID} {
		msgs, err := env.Server.Messages(id, 0)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, "from a real client", msgs[0].Text)
		require.False(t, msgs[0].Out)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
