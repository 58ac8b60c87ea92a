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
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tgbotsvc/tgbot/api"
	"github.com/tgbotsvc/tgbot/internal/bots"
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
	send   func(req send.Request) (send.Result, error)
	Editor // not used by these tests (nil)
}

func (f *fakeGateway) Send(_ context.Context, req send.Request, _ int64) (send.Result, error) {
	return f.send(req)
}

func (f *fakeGateway) SendAlbum(context.Context, send.Album, []int64) (send.AlbumResult, error) {
	return send.AlbumResult{}, errors.New("albums are tested end to end")
}

func (f *fakeGateway) Spool(io.Reader, int64) (*send.Spool, error) {
	return nil, errors.New("not in this test")
}

func (f *fakeGateway) CreateDocument(context.Context, send.NewDocument, *send.Spool) (store.Document, error) {
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
	h, _ := newTestRouterWith(t, tokens, gw, zaptest.NewLogger(t))
	return h
}

// newTestRouterWith is newTestRouter with the logger given, and the bot's
// store.
func newTestRouterWith(t *testing.T, tokens []string, gw Gateway, log *zap.Logger) (http.Handler, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "sender.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	m := metrics.New()
	runner := jobs.New(jobs.Config{}, st, gw, m.ForBot("1"), log)
	set := &Bots{}
	set.Add(&Bot{ID: 1, GW: gw, Runner: runner, Store: st})
	h, err := New(Options{
		Tokens: tokens, AsyncThreshold: 100, MaxRecipients: 1000, MaxJSONBytes: 1 << 20, MaxDocumentBytes: 1 << 20,
		RequestTimeout: 5 * time.Second, IdempotencyWait: time.Second, OpenAPIYAML: api.SenderOpenAPI,
		AdminTokens: []string{"admin-token-0123456789"}, Admin: noFleet{},
	}, set, st, m, log)
	require.NoError(t, err)
	return h, st
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

// documented is api/openapi.yaml, validated, as a router to check
// responses with.
func documented(t *testing.T) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.SenderOpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return router
}

// serve sends a request through h: body, when not empty, as JSON.
func serve(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	h.ServeHTTP(rec, req)
	return rec
}

// requireDocumented fails unless rec, the answer to method target with
// body, has a status that api/openapi.yaml declares for that operation and
// a body valid by the schema it declares there.
func requireDocumented(t *testing.T, router routers.Router, method, target, body string, rec *httptest.ResponseRecorder) {
	t.Helper()
	check := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		check.Header.Set("Content-Type", "application/json")
	}
	route, params, err := router.FindRoute(check)
	require.NoError(t, err)
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body:    io.NopCloser(strings.NewReader(rec.Body.String())),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}), "%s %s answered %d %s", method, target, rec.Code, rec.Body.String())
}

// TestSendErrorsMatchTheDocument: every kind of error a send can end in
// answers a status that api/openapi.yaml declares for send_message, with a
// body valid by its error schema, and no two kinds share a status.
func TestSendErrorsMatchTheDocument(t *testing.T) {
	router := documented(t)
	kinds := []send.Kind{send.KindInvalid, send.KindUnauthorized, send.KindNotFound, send.KindConflict,
		send.KindTooLarge, send.KindUnsupportedMedia, send.KindRefused, send.KindFlood, send.KindUnavailable}
	seen := map[int]send.Kind{}
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			h := newTestRouter(t, nil, &fakeGateway{send: func(send.Request) (send.Result, error) {
				return send.Result{}, &send.Error{Kind: k, Code: "some_code", Message: "what happened", RetryAfter: time.Second}
			}})
			const body = `{"chat_id":1,"text":"x"}`
			rec := serve(h, http.MethodPost, "/api_v1/send_message", body)
			if other, dup := seen[rec.Code]; dup {
				t.Fatalf("%v and %v both answer %d", k, other, rec.Code)
			}
			seen[rec.Code] = k
			requireDocumented(t, router, http.MethodPost, "/api_v1/send_message", body, rec)
		})
	}
}

// TestJobErrorsMatchTheDocument: get_job answers 404 only for a job that
// is in no bot's store; a store that fails is a 500 whose cause is logged,
// not sent. Every answer is one the document declares.
func TestJobErrorsMatchTheDocument(t *testing.T) {
	router := documented(t)
	core, logs := observer.New(zap.ErrorLevel)
	h, st := newTestRouterWith(t, nil, &fakeGateway{}, zap.New(core))
	cases := []struct {
		name, target string
		status       int
		code         string
	}{
		{"bad limit", "/api_v1/jobs/job_x?limit=-1", http.StatusBadRequest, "invalid_argument"},
		{"unknown job", "/api_v1/jobs/job_x", http.StatusNotFound, "job_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(h, http.MethodGet, tc.target, "")
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Contains(t, rec.Body.String(), `"code":"`+tc.code+`"`)
			requireDocumented(t, router, http.MethodGet, tc.target, "", rec)
		})
	}
	require.Zero(t, logs.Len(), "client errors are not logged as errors")

	t.Run("store failing", func(t *testing.T) {
		require.NoError(t, st.Close())
		rec := serve(h, http.MethodGet, "/api_v1/jobs/job_x", "")
		require.Equal(t, http.StatusInternalServerError, rec.Code, rec.Body.String())
		require.JSONEq(t, `{"error":{"code":"internal","message":"internal error"}}`, rec.Body.String())
		requireDocumented(t, router, http.MethodGet, "/api_v1/jobs/job_x", "", rec)
		logged := logs.FilterMessage("request failed").All()
		require.Len(t, logged, 1)
		require.Contains(t, logged[0].ContextMap()["error"], "database not open", "the cause is logged")
	})
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
