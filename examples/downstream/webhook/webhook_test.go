package webhook

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The example of the Standard Webhooks specification.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = "1614265330"
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestVerify(t *testing.T) {
	at := time.Unix(1614265330, 0)
	tests := []struct {
		name    string
		secret  string
		id, ts  string
		sig     string
		body    string
		now     time.Time
		wantErr error
	}{
		{name: "known vector", now: at},
		{name: "one of several signatures", sig: "v1,AAAA v2,xyz " + vecSig, now: at},
		{name: "within tolerance", now: at.Add(4 * time.Minute)},
		{name: "too old", now: at.Add(6 * time.Minute), wantErr: ErrTimestamp},
		{name: "from the future", now: at.Add(-6 * time.Minute), wantErr: ErrTimestamp},
		{name: "timestamp not a number", ts: "soon", now: at, wantErr: ErrTimestamp},
		{name: "body changed", body: `{"test": 2432232315}`, now: at, wantErr: ErrSignature},
		{name: "id changed", id: "msg_other", now: at, wantErr: ErrSignature},
		{name: "other secret", secret: "whsec_" + "c2VjcmV0", now: at, wantErr: ErrSignature},
		{name: "wrong version", sig: "v2," + vecSig[3:], now: at, wantErr: ErrSignature},
		{name: "garbage signature", sig: "v1,!!!", now: at, wantErr: ErrSignature},
		{name: "missing signature", sig: "-", now: at, wantErr: ErrMissingHeaders},
		{name: "missing id", id: "-", now: at, wantErr: ErrMissingHeaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			set := func(k, v, def string) {
				switch v {
				case "":
					h.Set(k, def)
				case "-":
				default:
					h.Set(k, v)
				}
			}
			set("webhook-id", tc.id, vecID)
			set("webhook-timestamp", tc.ts, vecTS)
			set("webhook-signature", tc.sig, vecSig)
			secret, body := vecSecret, vecBody
			if tc.secret != "" {
				secret = tc.secret
			}
			if tc.body != "" {
				body = tc.body
			}
			id, err := Verify(secret, h, []byte(body), tc.now, DefaultTolerance)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Empty(t, id)
				return
			}
			require.NoError(t, err)
			require.Equal(t, vecID, id)
		})
	}
}

func TestKey(t *testing.T) {
	k, err := Key("whsec_c2VjcmV0")
	require.NoError(t, err)
	require.Equal(t, []byte("secret"), k)

	k, err = Key("plain-secret")
	require.NoError(t, err)
	require.Equal(t, []byte("plain-secret"), k)

	_, err = Key("whsec_not base64!")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "not base64!")

	_, err = Key("")
	require.Error(t, err)
}
