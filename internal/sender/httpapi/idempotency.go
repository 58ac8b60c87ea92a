package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// idempotency makes POSTs with an Idempotency-Key safe to retry. The first
// request claims the key in the store (state in_flight); its answer is
// stored when it is final (2xx and the 4xx that a retry would get again),
// and a retry gets that answer back without anything being sent. A
// duplicate arriving while the first is still running waits for it (up to
// wait), then answers 409. A claim left by a process that died is taken
// over: the request runs again with the same random_ids (derived from the
// key), so Telegram drops the messages it already has.
type idempotency struct {
	store IdempotencyStore
	owner string // this process; claims of other owners are dead
	wait  time.Duration
	log   *zap.Logger

	mu       sync.Mutex
	inflight map[string]chan struct{}
}

const maxIdempotencyKey = 255

// idemPoll is how often a request waits for the answer of the same request
// running on another replica.
const idemPoll = 20 * time.Millisecond

type seedKey struct{}

// idempotencySeed is the seed random_ids are derived from, nil without an
// Idempotency-Key.
func idempotencySeed(ctx context.Context) []byte {
	s, _ := ctx.Value(seedKey{}).([]byte)
	return s
}

// storable reports whether an answer is final: a retry would get the same.
func storable(status int) bool {
	switch {
	case status >= 200 && status < 300:
		return true
	case status == http.StatusBadRequest, status == http.StatusNotFound, status == http.StatusRequestEntityTooLarge,
		status == http.StatusUnsupportedMediaType, status == http.StatusUnprocessableEntity:
		return true
	}
	return false
}

var (
	errIdemConflict = &send.Error{Kind: send.KindConflict, Code: "idempotency_conflict",
		Message: "this Idempotency-Key was used for a different request", Field: "Idempotency-Key"}
	errIdemInProgress = &send.Error{Kind: send.KindConflict, Code: "idempotency_in_progress",
		Message: "a request with this Idempotency-Key is still running: retry later", Field: "Idempotency-Key"}
)

// content reads what identifies a request's content for its fingerprint.
// It may read the body: it returns the request the handler gets then, and
// what to release once the handler returned (nil for nothing).
type content func(w http.ResponseWriter, r *http.Request) (_ []byte, _ *http.Request, release func(), _ error)

// jsonContent is the canonical form of a JSON body: members sorted by
// name, no insignificant white space, strings and numbers written one way,
// so the same request written differently has the same fingerprint. A body
// that is not JSON counts as its bytes (the handler refuses it).
func (a *API) jsonContent(w http.ResponseWriter, r *http.Request) ([]byte, *http.Request, func(), error) {
	if !hasContentType(r, "application/json") {
		return nil, r, nil, nil
	}
	data, err := readJSON(w, r, a.opts.MaxJSONBytes)
	if err != nil {
		return nil, nil, nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	return canonicalJSON(data), r, nil, nil
}

// canonicalJSON re-encodes data from its decoded value (encoding/json
// writes object members sorted by name); numbers keep their text. Data
// that is not one JSON value is returned as it is.
func canonicalJSON(data []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return data
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return data
	}
	out, err := json.Marshal(v)
	if err != nil {
		return data
	}
	return out
}

type documentFormKey struct{}

// documentContent reads the create_document form whole (the file spooled
// to disk) and identifies it by the file's SHA-256 and size and the name
// and type that apply to it, whatever the order of the parts. The handler
// gets the form read.
func (a *API) documentContent(w http.ResponseWriter, r *http.Request) ([]byte, *http.Request, func(), error) {
	form, err := a.readDocumentForm(w, r)
	if err != nil {
		return nil, nil, nil, err
	}
	c := fmt.Appendf(nil, "sha256=%s\nsize=%d\nfile_name=%q\nmime_type=%q\n",
		form.spool.SHA256, form.spool.Size, form.doc.FileName, form.doc.MimeType)
	return c, r.WithContext(context.WithValue(r.Context(), documentFormKey{}, form)), func() { _ = form.spool.Close() }, nil
}

// documentFormOf is the form documentContent read, nil if none.
func documentFormOf(ctx context.Context) *documentForm {
	f, _ := ctx.Value(documentFormKey{}).(*documentForm)
	return f
}

// middleware fingerprints a request with an Idempotency-Key by its path,
// its query and read(r).
func (i *idempotency) middleware(a *API, read content) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get("Idempotency-Key")
			if key == "" {
				next.ServeHTTP(w, r)
				return
			}
			if len(key) > maxIdempotencyKey {
				a.fail(w, r, send.Invalid("Idempotency-Key", "at most 255 characters"))
				return
			}
			body, forHandler, release, err := read(w, r)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			r = forHandler
			if release != nil {
				defer release()
			}
			fp := sha256.New()
			fp.Write([]byte(r.URL.Path + "\n" + r.URL.Query().Encode() + "\n"))
			fp.Write(body)
			// Keys are per caller and per bot: the same key used with two
			// bots names two requests.
			storeKey := caller(r.Context()) + "|" + a.botScope(r, body) + r.URL.Path + "|" + key
			seed := sha256.Sum256([]byte(storeKey))
			rec := store.IdemRecord{State: store.IdemInFlight, Fingerprint: hex.EncodeToString(fp.Sum(nil)),
				Owner: i.owner, CreatedAt: time.Now().UTC()}
			done, err := i.claim(r.Context(), storeKey, rec, w)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			if done {
				return
			}
			i.run(w, r.WithContext(context.WithValue(r.Context(), seedKey{}, seed[:])), next, storeKey, rec)
		})
	}
}

// claim takes the key for this request. done=true means it already wrote
// the stored answer of an earlier request.
func (i *idempotency) claim(ctx context.Context, key string, rec store.IdemRecord, w http.ResponseWriter) (done bool, err error) {
	deadline := time.NewTimer(i.wait)
	defer deadline.Stop()
	for {
		i.mu.Lock()
		existing, claimed, err := i.store.Claim(key, rec)
		if err != nil {
			i.mu.Unlock()
			return false, send.Internal(err)
		}
		if claimed {
			i.inflight[key] = make(chan struct{})
			i.mu.Unlock()
			if existing != nil {
				i.log.Warn("resuming a request interrupted by a restart")
			}
			return false, nil
		}
		wait := i.inflight[key]
		i.mu.Unlock()
		switch {
		case existing.Fingerprint != rec.Fingerprint:
			return false, errIdemConflict
		case existing.State == store.IdemDone:
			w.Header().Set("Content-Type", existing.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(existing.Status)
			_, _ = w.Write(existing.Body)
			return true, nil
		case wait == nil && existing.Owner == i.owner:
			// Claimed by this process but finished between the two
			// looks: look again.
			continue
		case wait == nil:
			// Running on another replica sharing the store: look again
			// shortly.
			t := time.NewTimer(idemPoll)
			select {
			case <-t.C:
				continue
			case <-deadline.C:
				t.Stop()
				return false, errIdemInProgress
			case <-ctx.Done():
				t.Stop()
				return false, errIdemInProgress
			}
		}
		select {
		case <-wait:
		case <-deadline.C:
			return false, errIdemInProgress
		case <-ctx.Done():
			return false, errIdemInProgress
		}
	}
}

func (i *idempotency) run(w http.ResponseWriter, r *http.Request, next http.Handler, key string, rec store.IdemRecord) {
	cw := &captureWriter{ResponseWriter: w}
	finished := false
	defer func() {
		if finished && storable(cw.status()) && !cw.overflow {
			rec.State, rec.Status, rec.Body = store.IdemDone, cw.status(), cw.buf.Bytes()
			rec.ContentType = cw.Header().Get("Content-Type")
			if err := i.store.PutIdempotent(key, rec); err != nil {
				i.log.Error("store idempotent answer", zap.Error(err))
			}
		} else if err := i.store.DeleteIdempotent(key); err != nil {
			i.log.Error("release idempotency key", zap.Error(err))
		}
		i.mu.Lock()
		close(i.inflight[key])
		delete(i.inflight, key)
		i.mu.Unlock()
	}()
	next.ServeHTTP(cw, r)
	finished = true
}

// captureWriter keeps a copy of the answer (up to maxStoredAnswer) to store.
type captureWriter struct {
	http.ResponseWriter
	code     int
	buf      bytes.Buffer
	overflow bool
}

const maxStoredAnswer = 8 << 20

func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if c.buf.Len()+len(p) > maxStoredAnswer {
		c.overflow = true
	} else {
		c.buf.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

func (c *captureWriter) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
