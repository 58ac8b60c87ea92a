// Package natsingress serves send_message over NATS beside REST: a request
// on subject tg.send.<bot_id> whose data is send_message's JSON body is
// answered (request-reply) with the JSON the REST API answers, so services
// already on NATS need no HTTP. The request goes through the same handler
// as POST /api_v1/send_message, so validation, limits, the Idempotency-Key
// header and the error shape are the same; the answer's "Status" header
// carries the HTTP status code.
//
// Replicas subscribe in one queue group: each request is served once.
// NATS authenticates the callers (NATS_CREDS_FILE and the server's
// permissions); their Idempotency-Keys share one scope, "nats".
package natsingress

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/httperror"
	"github.com/tgbotsvc/tgbot/internal/sender/httpapi"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// Subject is the subject a bot's requests are made on (tg.send.<bot_id>).
const (
	SubjectPrefix = "tg.send."
	queueGroup    = "tgbot-sender"
	path          = "/api_v1/send_message"
	// maxConcurrent bounds the requests served at once by one replica.
	maxConcurrent = 256
)

// Ingress serves requests until Stop.
type Ingress struct {
	sub  *nats.Subscription
	h    http.Handler
	log  *zap.Logger
	sem  chan struct{}
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

// Start subscribes to tg.send.* on nc and serves the requests with h (the
// REST API's handler).
func Start(nc *nats.Conn, h http.Handler, log *zap.Logger) (*Ingress, error) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &Ingress{h: h, log: log, sem: make(chan struct{}, maxConcurrent), ctx: ctx, stop: cancel}
	sub, err := nc.QueueSubscribe(SubjectPrefix+"*", queueGroup, in.receive)
	if err != nil {
		cancel()
		return nil, err
	}
	in.sub = sub
	return in, nil
}

// Stop stops taking requests and waits for those being served.
func (in *Ingress) Stop() {
	_ = in.sub.Drain()
	in.wg.Wait()
	in.stop()
}

func (in *Ingress) receive(m *nats.Msg) {
	if m.Reply == "" {
		return // nobody to answer
	}
	in.sem <- struct{}{}
	in.wg.Go(func() {
		defer func() { <-in.sem }()
		in.serve(m)
	})
}

func (in *Ingress) serve(m *nats.Msg) {
	rec := &recorder{header: http.Header{}}
	bot := strings.TrimPrefix(m.Subject, SubjectPrefix)
	body, err := withBot(m.Data, bot)
	if err != nil {
		rec.fail(err)
		in.reply(m, rec)
		return
	}
	r, err := http.NewRequestWithContext(httpapi.Trusted(in.ctx, "nats"), http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		rec.fail(err)
		in.reply(m, rec)
		return
	}
	r.Header.Set("Content-Type", "application/json")
	if key := m.Header.Get("Idempotency-Key"); key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	r.RemoteAddr = "nats"
	in.h.ServeHTTP(rec, r)
	in.reply(m, rec)
}

func (in *Ingress) reply(m *nats.Msg, rec *recorder) {
	out := nats.NewMsg(m.Reply)
	out.Data = rec.body.Bytes()
	out.Header.Set("Status", strconv.Itoa(rec.status()))
	out.Header.Set("Content-Type", rec.header.Get("Content-Type"))
	if v := rec.header.Get("Idempotent-Replayed"); v != "" {
		out.Header.Set("Idempotent-Replayed", v)
	}
	if err := m.RespondMsg(out); err != nil {
		in.log.Warn("nats reply", zap.Error(err))
	}
}

// withBot names the subject's bot in the body: added when the body names
// none, refused when it names another. A body that is not a JSON object is
// left for the handler to refuse.
func withBot(data []byte, bot string) ([]byte, error) {
	if _, err := strconv.ParseInt(bot, 10, 64); err != nil {
		return nil, badRequest("bot", "the subject must be tg.send.<bot_id> with a numeric bot ID")
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil || obj == nil {
		return data, nil
	}
	if raw, ok := obj["bot"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		given := strings.Trim(strings.TrimSpace(string(raw)), `"`)
		if given != bot {
			return nil, badRequest("bot", "the body names bot "+given+" but the subject names bot "+bot)
		}
		return data, nil
	}
	obj["bot"] = json.RawMessage(bot)
	return json.Marshal(obj)
}

func badRequest(field, msg string) error { return send.Invalid(field, msg) }

// recorder keeps the handler's answer.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// fail writes the error shape for a request refused before the handler
// (always a 400 of send.Invalid).
func (r *recorder) fail(err error) {
	httperror.Write(r, http.StatusBadRequest, send.As(err).Public())
}
