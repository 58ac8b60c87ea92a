package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/api"
	"github.com/tgbotsvc/tgbot/internal/sender/gateway"
	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// fakeGateway answers without Telegram.
type fakeGateway struct {
	send func(req send.Request) (send.Result, error)
}

func (f *fakeGateway) Send(_ context.Context, req send.Request, _ int64) (send.Result, error) {
	return f.send(req)
}

func (f *fakeGateway) CreateDocument(context.Context, gateway.NewDocument, io.Reader) (store.Document, error) {
	return store.Document{}, errors.New("not in this test")
}

func (f *fakeGateway) Document(string) (store.Document, error) {
	return store.Document{}, send.ErrDocumentNotFound
}

func (f *fakeGateway) Ready() bool { return true }

func newTestRouter(t *testing.T, tokens []string, gw Gateway) http.Handler {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "sender.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	m := metrics.New()
	runner := jobs.New(jobs.Config{}, st, gw, m, zaptest.NewLogger(t))
	h, err := New(Options{
		Tokens: tokens, AsyncThreshold: 100, MaxRecipients: 1000, MaxJSONBytes: 1 << 20, MaxDocumentBytes: 1 << 20,
		RequestTimeout: 5 * time.Second, IdempotencyWait: time.Second, OpenAPIYAML: api.SenderOpenAPI,
	}, gw, runner, st, m, zaptest.NewLogger(t))
	require.NoError(t, err)
	return h
}

// TestRoutesMatchDocument: the router serves exactly the operations of
// api/openapi.yaml (plus the Swagger UI).
func TestRoutesMatchDocument(t *testing.T) {
	h := newTestRouter(t, []string{"tok-12345678"}, &fakeGateway{})
	var routed []string
	require.NoError(t, chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(route, "/docs") {
			routed = append(routed, method+" "+route)
		}
		return nil
	}))
	doc, err := openapi3.NewLoader().LoadFromData(api.SenderOpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(routed)
	sort.Strings(documented)
	require.Equal(t, documented, routed)
}

func TestStatusOfEveryKind(t *testing.T) {
	want := map[send.Kind]int{
		send.KindInternal: 500, send.KindInvalid: 400, send.KindUnauthorized: 401, send.KindNotFound: 404,
		send.KindMethodNotAllowed: 405, send.KindConflict: 409, send.KindTooLarge: 413, send.KindUnsupportedMedia: 415,
		send.KindRefused: 422, send.KindFlood: 429, send.KindUnavailable: 503,
	}
	for k, status := range want {
		require.Equal(t, status, statusOf(k), k.String())
	}
}

func TestPanicBecomes500(t *testing.T) {
	h := newTestRouter(t, nil, &fakeGateway{send: func(send.Request) (send.Result, error) { panic("bug") }})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api_v1/send_message", strings.NewReader(`{"chat_id":1,"text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.JSONEq(t, `{"error":{"code":"internal","message":"internal error"}}`, rec.Body.String())
}

func TestNoTokensMeansOpen(t *testing.T) {
	h := newTestRouter(t, nil, &fakeGateway{send: func(r send.Request) (send.Result, error) {
		return send.Result{ChatID: r.ChatID, MessageID: 7, Date: 1}, nil
	}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api_v1/send_message", strings.NewReader(`{"chat_id":5,"text":"x"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"chat_id":5,"message_id":7,"date":1}`, rec.Body.String())
}
