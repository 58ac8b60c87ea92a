package send

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller can do about it. The HTTP
// layer maps each kind to one status code, in one function.
type Kind int

// Error kinds.
const (
	// KindInternal is a bug or an unexpected failure (500).
	KindInternal Kind = iota
	// KindInvalid is a request that can never succeed as sent (400).
	KindInvalid
	// KindUnauthorized is a missing or wrong API token (401).
	KindUnauthorized
	// KindNotFound is an unknown document, job or route (404).
	KindNotFound
	// KindMethodNotAllowed is a known path with the wrong method (405).
	KindMethodNotAllowed
	// KindConflict is an Idempotency-Key reused with another request, or
	// still in flight (409).
	KindConflict
	// KindTooLarge is a body or file over its limit (413).
	KindTooLarge
	// KindUnsupportedMedia is a wrong Content-Type (415).
	KindUnsupportedMedia
	// KindRefused is Telegram refusing the send: unknown chat, blocked by
	// the user, no rights (422).
	KindRefused
	// KindFlood is a FLOOD_WAIT longer than the service waits (429).
	KindFlood
	// KindUnavailable is Telegram unreachable or the client not ready (503).
	KindUnavailable
)

// Error is the one error type every layer returns to the HTTP layer. Code is
// a stable snake_case string for programs, Message is for humans (what went
// wrong and what to do about it), Field names the request field at fault,
// TelegramError keeps Telegram's own error text (PEER_ID_INVALID) when the
// error came from Telegram.
type Error struct {
	Kind          Kind
	Code          string
	Message       string
	Field         string
	TelegramError string
	RetryAfter    time.Duration
	Err           error
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Invalid is a validation error about field.
func Invalid(field, msg string) *Error {
	return &Error{Kind: KindInvalid, Code: "invalid_argument", Message: msg, Field: field}
}

// NotFound says that the named thing does not exist.
func NotFound(code, msg string) *Error {
	return &Error{Kind: KindNotFound, Code: code, Message: msg}
}

// Unavailable says Telegram cannot be reached; err is the cause.
func Unavailable(msg string, err error) *Error {
	return &Error{Kind: KindUnavailable, Code: "telegram_unavailable", Message: msg, Err: err}
}

// Internal wraps an unexpected error.
func Internal(err error) *Error {
	return &Error{Kind: KindInternal, Code: "internal", Message: "internal error", Err: err}
}

// ErrDocumentNotFound is the error for an unknown document_id.
var ErrDocumentNotFound = NotFound("document_not_found", "unknown document_id")

// As returns err as an *Error, wrapping unknown errors as internal.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// Public is the JSON shape of an error in responses and per-recipient
// results. It never includes the wrapped cause, which may hold internals.
type Public struct {
	Code          string `json:"code"`
	Message       string `json:"message"`
	Field         string `json:"field,omitempty"`
	TelegramError string `json:"telegram_error,omitempty"`
	RetryAfter    int    `json:"retry_after,omitempty"`
}

// Public renders e for a client.
func (e *Error) Public() *Public {
	p := &Public{Code: e.Code, Message: e.Message, Field: e.Field, TelegramError: e.TelegramError}
	if e.RetryAfter > 0 {
		p.RetryAfter = int((e.RetryAfter + time.Second - 1) / time.Second)
	}
	if p.Message == "" {
		p.Message = e.Code
	}
	return p
}

// String implements fmt.Stringer for logs.
func (k Kind) String() string {
	names := [...]string{"internal", "invalid", "unauthorized", "not_found", "method_not_allowed", "conflict",
		"too_large", "unsupported_media_type", "refused", "flood", "unavailable"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}
