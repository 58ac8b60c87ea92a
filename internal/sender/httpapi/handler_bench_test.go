package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tgbotsvc/tgbot/api"
	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// BenchmarkSendMessageHandler is the API's own cost of a send_message
// (router, middlewares, auth, decoding, access log at info, metrics, the
// answer) with a gateway that answers at once: what the sender adds to an
// RPC.
//
//	go test -run x -bench SendMessageHandler -benchmem ./internal/sender/httpapi/
func BenchmarkSendMessageHandler(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "sender.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	gw := &fakeGateway{send: func(req send.Request) (send.Result, error) {
		return send.Result{ChatID: req.ChatID, MessageID: 42, Date: 1700000000}, nil
	}}
	m := metrics.New()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel), zap.AddCaller())
	set := &Bots{}
	set.Add(&Bot{ID: 1, GW: gw, Runner: jobs.New(jobs.Config{}, st, gw, m.ForBot("1"), log), Store: st})
	h, err := New(Options{Tokens: []string{"tok-12345678"}, AsyncThreshold: 100, MaxRecipients: 1000,
		MaxJSONBytes: 1 << 20, MaxDocumentBytes: 1 << 20, RequestTimeout: 5 * time.Second,
		IdempotencyWait: time.Second, OpenAPIYAML: api.SenderOpenAPI}, set, st, m, log)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"chat_id":123456789,"text":"bench send 1"}`)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api_v1/send_message", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-12345678")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
