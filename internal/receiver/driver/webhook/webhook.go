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
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	key     []byte
	safeURL string
	client  *http.Client
	log     *zap.Logger
}

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
	return &Driver{cfg: cfg, key: key, safeURL: RedactURL(cfg.URL), client: client, log: log.Named("driver.http")}, nil
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
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks the Standard Webhooks headers of a request body against
// key, accepting timestamps within tolerance of now. It is what a consumer
// in Go does, and what the tests do.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsStr := h.Get(HeaderID), h.Get(HeaderTimestamp)
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if id == "" || err != nil {
		return errors.New("missing or bad webhook-id / webhook-timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside tolerance")
	}
	want := Sign(key, id, ts, body)
	for _, sig := range strings.Fields(h.Get(HeaderSignature)) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// Deliver implements driver.Driver.
func (d *Driver) Deliver(ctx context.Context, ev event.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return driver.Permanent(fmt.Errorf("encode event: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return driver.Permanent(fmt.Errorf("build request: %s", RedactError(err)))
	}
	ts := d.cfg.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tgbot-receiver")
	for k, v := range d.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set(HeaderID, ev.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if len(d.key) > 0 {
		req.Header.Set(HeaderSignature, Sign(d.key, ev.ID, ts, body))
	}

	attempt := driver.Attempt(ctx)
	log := d.log.With(zap.String("event_id", ev.ID), zap.Int("attempt", attempt), zap.String("url", d.safeURL))
	if ce := log.Check(zap.DebugLevel, "request body"); ce != nil {
		ce.Write(zap.ByteString("body", body))
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	latency := time.Since(start)
	if err != nil {
		// url.Error repeats the URL, credentials included: log and return
		// only the redacted form.
		msg := RedactError(err)
		log.Warn("delivery failed", zap.Duration("latency", latency), zap.String("error", msg))
		return fmt.Errorf("post %s: %s", d.safeURL, msg)
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	log.Info("delivery", zap.Int("status", resp.StatusCode), zap.Duration("latency", latency))
	if ce := log.Check(zap.DebugLevel, "response body"); ce != nil {
		ce.Write(zap.ByteString("body", respBody))
	}
	return Classify(resp.StatusCode, resp.Header.Get("Retry-After"), d.cfg.Now())
}

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
