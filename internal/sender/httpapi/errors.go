package httpapi

import (
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/httperror"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// statusOf is the one place that turns an error kind into an HTTP status.
func statusOf(k send.Kind) int {
	switch k {
	case send.KindInvalid:
		return http.StatusBadRequest
	case send.KindUnauthorized:
		return http.StatusUnauthorized
	case send.KindNotFound:
		return http.StatusNotFound
	case send.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case send.KindConflict:
		return http.StatusConflict
	case send.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case send.KindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case send.KindRefused:
		return http.StatusUnprocessableEntity
	case send.KindFlood:
		return http.StatusTooManyRequests
	case send.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers with err's status and JSON shape. Only internal errors
// are logged as errors; their cause never reaches the client.
func writeError(w http.ResponseWriter, r *http.Request, log *zap.Logger, err error) {
	se := send.As(err)
	status := statusOf(se.Kind)
	if status >= 500 {
		lvl := log.Warn
		if se.Kind == send.KindInternal {
			lvl = log.Error
		}
		lvl("request failed", zap.String("path", r.URL.Path), zap.String("code", se.Code), zap.Error(se))
	}
	if se.Kind == send.KindFlood && se.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(se.Public().RetryAfter))
	}
	httperror.Write(w, status, se.Public())
}

func writeJSON(w http.ResponseWriter, status int, v any) { httperror.WriteJSON(w, status, v) }

var (
	errUnauthorized = &send.Error{Kind: send.KindUnauthorized, Code: "unauthorized",
		Message: "missing or invalid bearer token (Authorization: Bearer <token>)"}
	errNotFound         = send.NotFound("not_found", "no such route")
	errJobNotFound      = send.NotFound("job_not_found", "unknown job_id")
	errMethodNotAllowed = &send.Error{Kind: send.KindMethodNotAllowed, Code: "method_not_allowed", Message: "method not allowed"}
)

func unsupportedMedia(want string) *send.Error {
	return &send.Error{Kind: send.KindUnsupportedMedia, Code: "unsupported_media_type",
		Message: "Content-Type must be " + want}
}

func tooLarge(limit int64) *send.Error {
	return &send.Error{Kind: send.KindTooLarge, Code: "too_large",
		Message: "request body larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}
