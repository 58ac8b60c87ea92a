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
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/api"
	"github.com/tgbotsvc/tgbot/internal/bots"
	"github.com/tgbotsvc/tgbot/internal/sender/gateway"
	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/metrics"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// noFleet is an empty bots.Fleet.
type noFleet struct{}

func (noFleet) Bots() []bots.Info { return nil }
func (noFleet) AddBot(context.Context, bots.Token) (bots.Info, bool, error) {
	return bots.Info{}, false, errors.New("not in this test")
}
func (noFleet) RemoveBot(context.Context, int64) error { return bots.ErrUnknownBot }

// fakeGateway answers without Telegram.
type fakeGateway struct {
	send func(req send.Request) (send.Result, error)
}

func (f *fakeGateway) Send(_ context.Context, req send.Request, _ int64) (send.Result, error) {
	return f.send(req)
}

func (f *fakeGateway) SendAlbum(context.Context, send.Album, []int64) (send.AlbumResult, error) {
	return send.AlbumResult{}, errors.New("albums are tested end to end")
}

func (f *fakeGateway) Spool(io.Reader, int64) (*gateway.Spool, error) {
	return nil, errors.New("not in this test")
}

func (f *fakeGateway) CreateDocument(context.Context, gateway.NewDocument, *gateway.Spool) (store.Document, error) {
	return store.Document{}, errors.New("not in this test")
}

func (f *fakeGateway) Document(string) (store.Document, error) {
	return store.Document{}, send.ErrDocumentNotFound
}

func (f *fakeGateway) Adopt(context.Context, store.Document) (store.Document, error) {
	return store.Document{}, errors.New("not in this test")
}

func (f *fakeGateway) Ready() bool      { return true }
func (f *fakeGateway) BotID() int64     { return 1 }
func (f *fakeGateway) Username() string { return "fake_bot" }

func (f *fakeGateway) WaitReady(context.Context) error { return nil }

func newTestRouter(t *testing.T, tokens []string, gw Gateway) http.Handler {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "sender.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	m := metrics.New()
	runner := jobs.New(jobs.Config{}, st, gw, m.ForBot("1"), zaptest.NewLogger(t))
	set := &Bots{}
	set.Add(&Bot{ID: 1, GW: gw, Runner: runner, Store: st})
	h, err := New(Options{
		Tokens: tokens, AsyncThreshold: 100, MaxRecipients: 1000, MaxJSONBytes: 1 << 20, MaxDocumentBytes: 1 << 20,
		RequestTimeout: 5 * time.Second, IdempotencyWait: time.Second, OpenAPIYAML: api.SenderOpenAPI,
		AdminTokens: []string{"admin-token-0123456789"}, Admin: noFleet{},
	}, set, st, m, zaptest.NewLogger(t))
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

// TestSendErrorsMatchTheDocument: every kind of error a send can end in
// answers a status that api/openapi.yaml declares for send_message, with a
// body valid by its error schema, and no two kinds share a status.
func TestSendErrorsMatchTheDocument(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.SenderOpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	kinds := []send.Kind{send.KindInvalid, send.KindUnauthorized, send.KindNotFound, send.KindConflict,
		send.KindTooLarge, send.KindUnsupportedMedia, send.KindRefused, send.KindFlood, send.KindUnavailable}
	seen := map[int]send.Kind{}
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			h := newTestRouter(t, nil, &fakeGateway{send: func(send.Request) (send.Result, error) {
				return send.Result{}, &send.Error{Kind: k, Code: "some_code", Message: "what happened", RetryAfter: time.Second}
			}})
			body := `{"chat_id":1,"text":"x"}`
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/api_v1/send_message", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, req)
			if other, dup := seen[rec.Code]; dup {
				t.Fatalf("%v and %v both answer %d", k, other, rec.Code)
			}
			seen[rec.Code] = k

			check := httptest.NewRequest(http.MethodPost, "/api_v1/send_message", strings.NewReader(body))
			check.Header.Set("Content-Type", "application/json")
			route, params, err := router.FindRoute(check)
			require.NoError(t, err)
			in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			require.NoError(t, openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
				Body:    io.NopCloser(strings.NewReader(rec.Body.String())),
				Options: &openapi3filter.Options{IncludeResponseStatus: true},
			}), "kind %v answered %d %s", k, rec.Code, rec.Body.String())
		})
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
