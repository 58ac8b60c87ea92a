package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gotd/td/tgerr"

	"github.com/tgbotsvc/tgbot/internal/sender/ratelimit"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// refusal is how one of Telegram's error types reaches clients.
type refusal struct {
	code string
	kind send.Kind
}

// refusals maps Telegram's error types to stable codes. Types not listed
// here become "telegram_refused" (4xx) or "telegram_unavailable" (5xx).
var refusals = map[string]refusal{
	"PEER_ID_INVALID":           {"chat_not_found", send.KindRefused},
	"CHAT_ID_INVALID":           {"chat_not_found", send.KindRefused},
	"USER_ID_INVALID":           {"chat_not_found", send.KindRefused},
	"CHANNEL_INVALID":           {"chat_not_found", send.KindRefused},
	"CHANNEL_PRIVATE":           {"chat_not_found", send.KindRefused},
	"USERNAME_NOT_OCCUPIED":     {"chat_not_found", send.KindRefused},
	"USERNAME_INVALID":          {"chat_not_found", send.KindRefused},
	"INPUT_USER_DEACTIVATED":    {"user_deactivated", send.KindRefused},
	"USER_DEACTIVATED":          {"user_deactivated", send.KindRefused},
	"USER_IS_BLOCKED":           {"blocked_by_user", send.KindRefused},
	"USER_IS_BOT":               {"bot_to_bot", send.KindRefused},
	"CHAT_WRITE_FORBIDDEN":      {"forbidden", send.KindRefused},
	"CHAT_ADMIN_REQUIRED":       {"forbidden", send.KindRefused},
	"CHAT_RESTRICTED":           {"forbidden", send.KindRefused},
	"USER_BANNED_IN_CHANNEL":    {"forbidden", send.KindRefused},
	"CHAT_SEND_MEDIA_FORBIDDEN": {"forbidden", send.KindRefused},
	"MESSAGE_TOO_LONG":          {"message_too_long", send.KindRefused},
	"MESSAGE_EMPTY":             {"message_empty", send.KindRefused},
	"MEDIA_CAPTION_TOO_LONG":    {"caption_too_long", send.KindRefused},
	"ENTITY_BOUNDS_INVALID":     {"bad_entities", send.KindRefused},
	"BUTTON_URL_INVALID":        {"bad_buttons", send.KindRefused},
	"BUTTON_DATA_INVALID":       {"bad_buttons", send.KindRefused},
	"REPLY_MARKUP_INVALID":      {"bad_buttons", send.KindRefused},
	"FILE_PARTS_INVALID":        {"upload_failed", send.KindRefused},
	"FILE_REFERENCE_EXPIRED":    {"file_reference_expired", send.KindRefused},
}

// classify turns an RPC error into a *send.Error. Telegram's own error text
// (its type, e.g. USER_IS_BLOCKED) becomes the message.
func classify(err error) *send.Error {
	if err == nil {
		return nil
	}
	var se *send.Error
	if errors.As(err, &se) {
		return se
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &send.Error{Kind: send.KindTooLarge, Code: "too_large", Message: "request body too large"}
	}
	if errors.Is(err, ratelimit.ErrDeadline) {
		return &send.Error{Kind: send.KindFlood, Code: "rate_limited", RetryAfter: time.Second, Err: err,
			Message: "the rate limits would hold this send past the request's time limit: retry later, or send it as a job (async)"}
	}
	if d, ok := tgerr.AsFloodWait(err); ok {
		return &send.Error{Kind: send.KindFlood, Code: "flood_wait", RetryAfter: d,
			Message: "Telegram asks to wait before sending again", Err: err}
	}
	if rpcErr, ok := tgerr.As(err); ok {
		if r, ok := refusals[rpcErr.Type]; ok {
			return &send.Error{Kind: r.kind, Code: r.code, Message: rpcErr.Message, Err: err}
		}
		switch {
		case rpcErr.Code == 400 || rpcErr.Code == 403 || rpcErr.Code == 406:
			return &send.Error{Kind: send.KindRefused, Code: "telegram_refused", Message: rpcErr.Message, Err: err}
		default: // 401 (session), 5xx: the request may work later
			return send.Unavailable("Telegram error "+rpcErr.Message, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return send.Unavailable("timed out waiting for Telegram", err)
	}
	return send.Unavailable("Telegram unreachable", err)
}
