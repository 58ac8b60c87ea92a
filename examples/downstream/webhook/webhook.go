// Package webhook verifies Standard Webhooks (https://www.standardwebhooks.com)
// signatures, the way the receiver signs the events it forwards.
//
// Verify is deliberately self-contained (standard library only) so another Go
// service can copy it as is.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far webhook-timestamp may be from now.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify. All of them mean "reject with 401".
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp invalid or outside the tolerance")
	ErrSignature      = errors.New("webhook: no matching signature")
)

// Verify checks that body was signed with secret: webhook-signature must hold
// (among space-separated entries) "v1,<base64 HMAC-SHA256 of
// "{webhook-id}.{webhook-timestamp}.{body}">", and webhook-timestamp (unix
// seconds) must be within tolerance of now. A secret of the form
// "whsec_<base64>" is the base64-decoded key; any other secret is used as raw
// bytes. It returns the webhook-id, the key to deduplicate deliveries by.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) (string, error) {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return "", ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return "", ErrTimestamp
	}
	key, err := Key(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, entry := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return id, nil
		}
	}
	return "", ErrSignature
}

// Key returns the HMAC key of secret: the decoded part of "whsec_<base64>",
// else the secret's bytes.
func Key(secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("webhook: empty secret")
	}
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			// base64's error names an offset, never the secret's content.
			return nil, fmt.Errorf("webhook: secret after whsec_ is not base64: %w", err)
		}
		return key, nil
	}
	return []byte(secret), nil
}
