package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	consumer "github.com/tgbotsvc/tgbot/examples/downstream/webhook"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// verify checks a delivery with the example consumer's verifier, the one the
// README quotes: signing is tested against an independent implementation.
// A raw key passes as itself (only "whsec_"-prefixed secrets are decoded).
func verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	_, err := consumer.Verify(string(key), h, body, now, tolerance)
	return err
}

// The test vector of the Standard Webhooks specification.
func TestSignKnownVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", got)

	h := http.Header{}
	h.Set(HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(HeaderTimestamp, "1614265330")
	h.Set(HeaderSignature, "v1,bogus "+got)
	now := time.Unix(1614265330, 0)
	require.NoError(t, verify(key, h, []byte(`{"test": 2432232314}`), now, time.Minute))
	require.Error(t, verify(key, h, []byte(`{"test": 2432232315}`), now, time.Minute))
	require.Error(t, verify(key, h, []byte(`{"test": 2432232314}`), now.Add(time.Hour), time.Minute))
}

func TestParseSecret(t *testing.T) {
	raw, err := ParseSecret("plain-secret")
	require.NoError(t, err)
	require.Equal(t, []byte("plain-secret"), raw)
	_, err = ParseSecret("whsec_!!!")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "!!!")
}

func TestClassify(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		status     int
		retryAfter string
		wantNil    bool
		permanent  bool
		after      time.Duration
	}{
		{status: 200, wantNil: true},
		{status: 204, wantNil: true},
		{status: 400, permanent: true},
		{status: 401, permanent: true},
		{status: 404, permanent: true},
		{status: 410, permanent: true},
		{status: 408},
		{status: 409},
		{status: 425},
		{status: 429, retryAfter: "7", after: 7 * time.Second},
		{status: 503, retryAfter: now.Add(3 * time.Second).UTC().Format(http.TimeFormat), after: 3 * time.Second},
		{status: 500},
		{status: 302, permanent: true},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			err := Classify(tc.status, tc.retryAfter, now)
			if tc.wantNil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.permanent, driver.IsPermanent(err))
			d, ok := driver.RetryAfterOf(err)
			require.Equal(t, tc.after != 0, ok)
			require.Equal(t, tc.after, d)
		})
	}
}

func TestDeliverSignsAndRedacts(t *testing.T) {
	key := []byte("k")
	var got event.Event
	var gotHeaders http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verify(key, r.Header, body, time.Now(), time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		gotHeaders = r.Header.Clone()
		_ = json.Unmarshal(body, &got)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	d, err := New(Config{URL: srv.URL + "/hook?api_key=topsecret", Secret: "k", Headers: map[string]string{"X-Api-Key": "abc"}}, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.NotContains(t, d.safeURL, "topsecret")
	ev := event.Event{ID: "1:m5", Type: event.TypeMessage, Chat: &event.Chat{ID: 9, Type: event.ChatPrivate}}
	require.NoError(t, d.Deliver(context.Background(), ev))
	require.Equal(t, ev.ID, got.ID)
	require.Equal(t, "1:m5", gotHeaders.Get(HeaderID))
	require.Equal(t, "abc", gotHeaders.Get("X-Api-Key"))

	// A wrong secret is a 401 from the consumer: permanent.
	bad, err := New(Config{URL: srv.URL, Secret: "other"}, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.True(t, driver.IsPermanent(bad.Deliver(context.Background(), ev)))

	// A dead downstream is retryable, and the error has no credentials.
	srv.Close()
	err = d.Deliver(context.Background(), ev)
	require.Error(t, err)
	require.False(t, driver.IsPermanent(err))
	require.NotContains(t, err.Error(), "topsecret")
}

func TestNewRejectsBadURL(t *testing.T) {
	_, err := New(Config{URL: "ftp://user:pw@x"}, zaptest.NewLogger(t))
	require.ErrorContains(t, err, "DRIVER_HTTP_URL")
	require.NotContains(t, err.Error(), "pw")
}

// BenchmarkDeliver is one signed delivery to a local server answering 204,
// logged at info as in production (to io.Discard).
func BenchmarkDeliver(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	d, err := New(Config{URL: srv.URL + "/hook", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Headers: map[string]string{"X-Api-Key": "abc"}}, log)
	require.NoError(b, err)
	ev := event.Event{ID: "1:m5", Type: event.TypeMessage, Date: 1700000000, BotID: 1,
		Chat:    &event.Chat{ID: 9, Type: event.ChatPrivate},
		From:    &event.User{ID: 9, FirstName: "Ann"},
		Message: &event.Message{ID: 5, Text: "hello"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Deliver(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// Deliveries share HMACs, scratch buffers and header values: concurrent
// ones must each still carry their own valid signature and headers.
func TestDeliverConcurrentSignatures(t *testing.T) {
	key := []byte("k")
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev event.Event
		if verify(key, r.Header, body, time.Now(), time.Minute) != nil || json.Unmarshal(body, &ev) != nil ||
			ev.ID != r.Header.Get(HeaderID) || r.Header.Get("X-Api-Key") != "abc" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen[ev.ID] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d, err := New(Config{URL: srv.URL, Secret: "k", Headers: map[string]string{"x-api-key": "abc"}}, zaptest.NewLogger(t))
	require.NoError(t, err)

	const workers, each = 8, 25
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("%d:m%d", w, i)
				errs <- d.Deliver(context.Background(), event.Event{ID: id, Type: event.TypeMessage,
					Message: &event.Message{ID: i, Text: strings.Repeat("x", i*w)}})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, seen, workers*each)
	// And the pooled signer gives what Sign gives.
	require.Equal(t, Sign(key, "a", 1, []byte("b")), (&signer{mac: hmac.New(sha256.New, key)}).sign("a", 1, []byte("b")))
}
