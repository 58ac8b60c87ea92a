package sender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tgbotsvc/tgbot/api"
	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/sender"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

const testToken = "test-token-0123456789"

// vars is the environment of a sender pointed at the emulator env.
func vars(t testing.TB, env *emutest.Env, dataDir string) map[string]string {
	tc := env.Telegram
	return map[string]string{
		"SENDER_ADDR":                     "127.0.0.1:0",
		"SENDER_API_TOKENS":               testToken,
		"DATA_DIR":                        dataDir,
		"TG_APP_ID":                       fmt.Sprint(tc.AppID),
		"TG_APP_HASH":                     tc.AppHash,
		"TG_BOT_TOKEN":                    tc.BotToken,
		"TG_DC_ADDR":                      tc.DCAddr,
		"TG_DC_ID":                        fmt.Sprint(tc.DCID),
		"TG_PUBLIC_KEY_FILE":              tc.PublicKeyFile,
		"SENDER_TG_RETRY_INTERVAL":        "1s", // tgtest never acks: resends come after this
		"SENDER_RATE_PER_SECOND":          "0",
		"SENDER_RATE_PER_CHAT_PER_SECOND": "0",
		"SENDER_RATE_GROUP_PER_MINUTE":    "0",
		"SENDER_SHUTDOWN_TIMEOUT":         "5s",
	}
}

// running is a sender started in-process for a test.
type running struct {
	svc    *sender.Service
	url    string
	client *http.Client
	stop   func()
	logs   *observer.ObservedLogs // everything the service logged
}

// requireNoSecretLogged fails if a log entry (message or any field)
// contains secret.
func (s *running) requireNoSecretLogged(t testing.TB, secret string) {
	t.Helper()
	require.NotZero(t, s.logs.Len())
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range s.logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		require.NoError(t, err)
		require.NotContains(t, buf.String(), secret)
		buf.Free()
	}
}

// startSender runs a sender against env until the test ends (or stop).
func startSender(t testing.TB, env *emutest.Env, dataDir string, set map[string]string) *running {
	t.Helper()
	v := vars(t, env, dataDir)
	for k, val := range set {
		v[k] = val
	}
	cfg, err := config.LoadFrom[sender.Config](v)
	require.NoError(t, err)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)).Named("sender")
	svc, err := sender.New(cfg, log)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(20 * time.Second):
				t.Error("sender did not stop")
			}
		})
	}
	t.Cleanup(stop)
	readyCtx, readyCancel := context.WithTimeout(context.Background(), 90*time.Second) // a new auth key under -race on a busy machine is slow
	defer readyCancel()
	require.NoError(t, svc.WaitReady(readyCtx), "sender not ready")
	tr := &specTransport{t: t, next: &http.Transport{DisableKeepAlives: true}}
	return &running{svc: svc, url: "http://" + svc.Addr(), client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, stop: stop, logs: logs}
}

// response is an answer read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

func (r response) errorCode(t testing.TB) string {
	t.Helper()
	e, ok := r.JSON(t)["error"].(map[string]any)
	require.True(t, ok, string(r.Body))
	return e["code"].(string)
}

// do sends a request with the test token unless headers set Authorization.
func (s *running) do(t testing.TB, method, path, contentType string, body []byte, headers map[string]string) response {
	t.Helper()
	return s.send(t, method, path, contentType, bytes.NewReader(body), headers)
}

// send makes one request and reads the answer whole.
func (s *running) send(t testing.TB, method, path, contentType string, body io.Reader, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

func (s *running) postJSON(t testing.TB, path string, body any, headers map[string]string) response {
	t.Helper()
	data, ok := body.([]byte)
	if !ok {
		var err error
		data, err = json.Marshal(body)
		require.NoError(t, err)
	}
	return s.do(t, http.MethodPost, path, "application/json", data, headers)
}

// upload posts a document as multipart, streaming it from r.
func (s *running) upload(t testing.TB, name, mimeType string, r io.Reader) response {
	t.Helper()
	var before map[string]string
	if mimeType != "" {
		before = map[string]string{"mime_type": mimeType}
	}
	return s.uploadFields(t, name, r, before, nil)
}

// uploadFields posts a document as multipart with the form fields before
// and after the file part.
func (s *running) uploadFields(t testing.TB, name string, r io.Reader, before, after map[string]string) response {
	t.Helper()
	return s.uploadFieldsWith(t, name, r, before, after, nil)
}

// uploadFieldsWith is uploadFields with request headers.
func (s *running) uploadFieldsWith(t testing.TB, name string, r io.Reader, before, after, headers map[string]string) response {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		var err error
		for k, v := range before {
			if err == nil {
				err = mw.WriteField(k, v)
			}
		}
		var fw io.Writer
		if err == nil {
			fw, err = mw.CreateFormFile("document", name)
		}
		if err == nil {
			_, err = io.Copy(fw, r)
		}
		for k, v := range after {
			if err == nil {
				err = mw.WriteField(k, v)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return s.send(t, http.MethodPost, "/api_v1/create_document", mw.FormDataContentType(), pr, headers)
}

// newUser creates an emulator user who wrote to the bot (so the bot may
// address them by ID with access hash 0, as on Telegram).
func newUser(t testing.TB, env *emutest.Env, name string) tgemu.User {
	t.Helper()
	u, err := env.Server.CreateUser(name, "")
	require.NoError(t, err)
	_, err = env.Server.UserSendMessage(u.ID, env.BotID, "/start")
	require.NoError(t, err)
	return u
}

// botMessages are the messages the bot sent to a user.
func botMessages(t testing.TB, env *emutest.Env, userID int64) []tgemu.Message {
	t.Helper()
	return botOut(t, env, userID, env.BotID)
}

// specTransport checks every exchange against api/openapi.yaml: each
// response (status, headers, body) must be one the document declares, and
// each request that succeeded must be valid by the document.
type specTransport struct {
	t    testing.TB
	next http.RoundTripper
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.SenderOpenAPI)
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		specRouter, specErr = legacy.NewRouter(doc)
	})
	return specRouter, specErr
}

func (s *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	multipartBody := strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/")
	if req.Body != nil && !multipartBody {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasPrefix(req.URL.Path, "/docs") {
		return resp, nil
	}
	router, err := loadSpec()
	require.NoError(s.t, err)
	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(check)
	if err != nil {
		// Only unknown routes and methods may be missing from the document,
		// and they still answer the error shape.
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed) ||
			json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
			s.t.Errorf("openapi: %s %s is not in the document: %v", req.Method, req.URL.Path, err)
		}
		return resp, nil
	}
	in := &openapi3filter.RequestValidationInput{
		Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: multipartBody},
	}
	if resp.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			s.t.Errorf("openapi: request %s %s accepted (%d) but invalid by the document: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		s.t.Errorf("openapi: response %d to %s %s does not match the document: %v\n%s", resp.StatusCode, req.Method, req.URL.Path, err, body)
	}
	return resp, nil
}
