// Package webhook is the HTTP driver: it POSTs each event as JSON to one URL,
// signed the Standard Webhooks way (https://www.standardwebhooks.com):
//
//	webhook-id:        the event ID (stable across retries: the consumer's dedupe key)
//	webhook-timestamp: unix seconds of this attempt
//	webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">
//
// The secret may be given as "whsec_<base64>" (the key is the decoded part)
// or as raw bytes. Responses are classified, not retried here: 2xx is
// delivered; 408, 409, 425, 429 and 5xx are retryable (honouring
// Retry-After); any other status is permanent. Transport errors and
// timeouts are retryable.
//
// Limitations:
//   - One URL for every event type; route by "type" on the consumer side.
//   - Only the first signature scheme (v1, symmetric) is produced.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// Header names of Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Config of the driver.
type Config struct {
	// URL receives the POSTs.
	URL string
	// Secret signs them; empty means unsigned (no webhook-signature header).
	Secret string
	// Timeout of one attempt; 0 means 10 s.
	Timeout time.Duration
	// Headers are added to every request (e.g. an API key).
	Headers map[string]string
	// Client is the HTTP client; nil means a new one with Timeout.
	Client *http.Client
	// Now is the clock for webhook-timestamp; nil means time.Now.
	Now func() time.Time
}

// Driver is the HTTP driver.
type Driver struct {
	cfg     Config
	url     *url.URL
	key     []byte
	safeURL string
	client  *http.Client
	log     *zap.Logger // carries the redacted URL
	// static are the headers of every request, keys canonical. Requests
	// share their value slices, which nothing writes to.
	static  http.Header
	signers sync.Pool // of *signer
}

// signer is an HMAC and a scratch buffer, reused across deliveries.
type signer struct {
	mac hash.Hash
	buf []byte
}

// Canonical forms of the Standard Webhooks headers, set without
// http.Header.Set canonicalising (and allocating) them on every request.
var (
	canonicalID        = http.CanonicalHeaderKey(HeaderID)
	canonicalTimestamp = http.CanonicalHeaderKey(HeaderTimestamp)
	canonicalSignature = http.CanonicalHeaderKey(HeaderSignature)
)

// New validates cfg and returns the driver.
func New(cfg Config, log *zap.Logger) (*Driver, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("DRIVER_HTTP_URL: want an http(s) URL, got %q", RedactURL(cfg.URL))
	}
	key, err := ParseSecret(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("DRIVER_HTTP_SECRET: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		client = &http.Client{Transport: tr}
	}
	static := http.Header{}
	static.Set("Content-Type", "application/json")
	static.Set("User-Agent", "tgbot-receiver")
	for k, v := range cfg.Headers {
		static.Set(k, v)
	}
	safeURL := RedactURL(cfg.URL)
	d := &Driver{
		cfg: cfg, url: u, key: key, safeURL: safeURL, client: client, static: static,
		log: log.Named("driver.http").With(zap.String("url", safeURL)),
	}
	d.signers.New = func() any { return &signer{mac: hmac.New(sha256.New, key)} }
	return d, nil
}

// ParseSecret returns the HMAC key of a secret: the base64-decoded part of
// "whsec_<base64>", or the raw bytes of anything else.
func ParseSecret(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("whsec_ secret is not valid base64")
		}
		return key, nil
	}
	return []byte(s), nil
}

// Sign returns the webhook-signature value for a message.
func Sign(key []byte, id string, ts int64, body []byte) string {
	return (&signer{mac: hmac.New(sha256.New, key)}).sign(id, ts, body)
}

// sign is Sign with the signer's HMAC; it allocates only the result.
func (s *signer) sign(id string, ts int64, body []byte) string {
	s.mac.Reset()
	b := append(s.buf[:0], id...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '.')
	s.mac.Write(b)
	s.mac.Write(body)
	sum := s.mac.Sum(b[:0])
	n := len(sum)
	b = append(sum, "v1,"...)
	b = base64.StdEncoding.AppendEncode(b, sum[:n])
	s.buf = b
	return string(b[n:])
}

// Deliver implements driver.Driver. Every request and response is logged
// (at info: event, attempt, status, latency; at debug: the bodies).
func (d *Driver) Deliver(ctx context.Context, ev event.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return driver.Permanent(fmt.Errorf("encode event: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	ts := d.cfg.Now().Unix()
	// The header map and the per-request values in one slice: a few
	// allocations per request instead of one per header.
	h := make(http.Header, len(d.static)+3)
	for k, v := range d.static {
		h[k] = v
	}
	vals := make([]string, 3)
	vals[0], vals[1] = ev.ID, strconv.FormatInt(ts, 10)
	h[canonicalID], h[canonicalTimestamp] = vals[0:1:1], vals[1:2:2]
	if len(d.key) > 0 {
		s := d.signers.Get().(*signer)
		vals[2] = s.sign(ev.ID, ts, body)
		d.signers.Put(s)
		h[canonicalSignature] = vals[2:3:3]
	}
	// What http.NewRequestWithContext builds, without parsing the URL again.
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           d.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          newBody(body),
		GetBody:       func() (io.ReadCloser, error) { return newBody(body), nil },
		ContentLength: int64(len(body)),
		Host:          d.url.Host,
	}).WithContext(ctx)

	attempt := driver.Attempt(ctx)
	if ce := d.log.Check(zap.DebugLevel, "request body"); ce != nil {
		ce.Write(zap.String("event_id", ev.ID), zap.Int("attempt", attempt), zap.ByteString("body", body))
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	latency := time.Since(start)
	if err != nil {
		// url.Error repeats the URL, credentials included: log and return
		// only the redacted form.
		msg := RedactError(err)
		d.log.Warn("delivery failed", zap.String("event_id", ev.ID), zap.Int("attempt", attempt),
			zap.Duration("latency", latency), zap.String("error", msg))
		return fmt.Errorf("post %s: %s", d.safeURL, msg)
	}
	defer resp.Body.Close()
	d.log.Info("delivery", zap.String("event_id", ev.ID), zap.Int("attempt", attempt),
		zap.Int("status", resp.StatusCode), zap.Duration("latency", latency))
	// Read (up to 4 KiB of) the response so that the connection is reused;
	// keep it only when it is logged.
	lr := &io.LimitedReader{R: resp.Body, N: 4096}
	if ce := d.log.Check(zap.DebugLevel, "response body"); ce != nil {
		respBody, _ := io.ReadAll(lr)
		ce.Write(zap.String("event_id", ev.ID), zap.Int("attempt", attempt), zap.ByteString("body", respBody))
	} else {
		_, _ = io.Copy(io.Discard, lr)
	}
	return Classify(resp.StatusCode, resp.Header.Get("Retry-After"), d.cfg.Now())
}

// bodyReader is a request body over bytes: a bytes.Reader that closes.
type bodyReader struct{ bytes.Reader }

func newBody(b []byte) *bodyReader {
	r := &bodyReader{}
	r.Reset(b)
	return r
}

// Close implements io.Closer.
func (*bodyReader) Close() error { return nil }

// Classify turns a response status into nil (delivered), a retryable error
// (with the delay of a Retry-After header, seconds or HTTP date) or a
// permanent one.
func Classify(status int, retryAfter string, now time.Time) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusRequestTimeout, status == http.StatusConflict,
		status == http.StatusTooEarly, status == http.StatusTooManyRequests, status >= 500:
		err := fmt.Errorf("downstream answered %d", status)
		if d, ok := parseRetryAfter(retryAfter, now); ok {
			return driver.RetryAfter(err, d)
		}
		return err
	default:
		return driver.Permanent(fmt.Errorf("downstream answered %d", status))
	}
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// RedactURL drops the user info and query values of a URL, where
// credentials tend to live, for logs and errors.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "xxxxx")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// RedactError renders err without the URL that net/http errors carry.
func RedactError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
