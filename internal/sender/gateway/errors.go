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

// refusal is how one of Telegram's error types reaches clients: a stable
// code and a message that says what went wrong and what to do about it.
type refusal struct {
	code    string
	kind    send.Kind
	message string
}

const (
	notWrittenYet = "chat not found: the user has not written to this bot yet, or the ID is wrong"
	notAMember    = "chat not found: the bot is not a member of this group or channel, or the ID is wrong"
)

// refusals maps Telegram's error types to stable codes. Types not listed
// here become "telegram_refused" (4xx) or "telegram_unavailable" (5xx).
// Telegram's own error text stays in the error's telegram_error field.
var refusals = map[string]refusal{
	"PEER_ID_INVALID":        {"chat_not_found", send.KindRefused, notWrittenYet},
	"CHAT_ID_INVALID":        {"chat_not_found", send.KindRefused, notAMember},
	"USER_ID_INVALID":        {"chat_not_found", send.KindRefused, notWrittenYet},
	"CHANNEL_INVALID":        {"chat_not_found", send.KindRefused, notAMember},
	"CHANNEL_PRIVATE":        {"chat_not_found", send.KindRefused, notAMember},
	"USERNAME_NOT_OCCUPIED":  {"chat_not_found", send.KindRefused, "chat not found: no one has this username"},
	"USERNAME_INVALID":       {"chat_not_found", send.KindRefused, "chat not found: this is not a valid Telegram username"},
	"INPUT_USER_DEACTIVATED": {"user_deactivated", send.KindRefused, "the user deleted their account"},
	"USER_DEACTIVATED":       {"user_deactivated", send.KindRefused, "the user deleted their account"},
	"USER_IS_BLOCKED":        {"blocked_by_user", send.KindRefused, "the user blocked this bot: nothing reaches them until they unblock it"},
	"USER_IS_BOT":            {"bot_to_bot", send.KindRefused, "bots cannot write to other bots"},
	"CHAT_WRITE_FORBIDDEN":   {"forbidden", send.KindRefused, "the bot may not write in this chat"},
	"CHAT_ADMIN_REQUIRED":    {"forbidden", send.KindRefused, "the bot must be an admin of this chat to do this"},
	"CHAT_RESTRICTED":        {"forbidden", send.KindRefused, "this chat is restricted: the bot may not write in it"},
	"USER_BANNED_IN_CHANNEL": {"forbidden", send.KindRefused, "the bot is banned from writing in this chat"},
	"CHAT_SEND_MEDIA_FORBIDDEN": {"forbidden", send.KindRefused,
		"the bot may not send files in this chat"},
	"MESSAGE_TOO_LONG": {"message_too_long", send.KindRefused,
		"the text is longer than Telegram allows (4096 characters once formatted): shorten it or split it"},
	"MESSAGE_EMPTY": {"message_empty", send.KindRefused, "the text is empty once formatted"},
	"MEDIA_CAPTION_TOO_LONG": {"caption_too_long", send.KindRefused,
		"the caption is longer than Telegram allows (1024 characters once formatted): shorten it"},
	"ENTITY_BOUNDS_INVALID": {"bad_entities", send.KindRefused,
		"the formatting falls outside the text: check the html or markdown markup"},
	"BUTTON_URL_INVALID":  {"bad_buttons", send.KindRefused, "a button's url is not one Telegram accepts"},
	"BUTTON_DATA_INVALID": {"bad_buttons", send.KindRefused, "a button's callback_data is not valid (1 to 64 bytes)"},
	"REPLY_MARKUP_INVALID": {"bad_buttons", send.KindRefused,
		"Telegram refused the buttons: check their text, url and callback_data"},
	"FILE_PARTS_INVALID": {"upload_failed", send.KindRefused, "the upload reached Telegram incomplete: upload the document again"},
	"FILE_REFERENCE_EXPIRED": {"file_reference_expired", send.KindRefused,
		"the document's file reference expired and could not be renewed: upload the document again"},
	"MESSAGE_ID_INVALID": {"message_not_found", send.KindRefused, "no message with this ID in this chat"},
	"MESSAGE_NOT_MODIFIED": {"message_not_modified", send.KindRefused,
		"the new text, caption and buttons are the same as the message's"},
	"MESSAGE_AUTHOR_REQUIRED":   {"forbidden", send.KindRefused, "the bot can only edit messages it sent"},
	"MESSAGE_EDIT_TIME_EXPIRED": {"forbidden", send.KindRefused, "the message is too old to be edited"},
	"MESSAGE_DELETE_FORBIDDEN": {"forbidden", send.KindRefused,
		"the bot may not delete this message (others' messages in groups need admin rights)"},
	"QUERY_ID_INVALID": {"callback_query_invalid", send.KindRefused,
		"the callback query is unknown: already answered, or too old"},
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
		e := &send.Error{Kind: send.KindFlood, Code: "flood_wait", RetryAfter: d,
			Message: "Telegram asks to wait before sending again", Err: err}
		if rpcErr, ok := tgerr.As(err); ok {
			e.TelegramError = rpcErr.Message
		}
		return e
	}
	if rpcErr, ok := tgerr.As(err); ok {
		e := &send.Error{Kind: send.KindRefused, Code: "telegram_refused", Message: rpcErr.Message,
			TelegramError: rpcErr.Message, Err: err}
		if r, ok := refusals[rpcErr.Type]; ok {
			e.Kind, e.Code, e.Message = r.kind, r.code, r.message
			return e
		}
		switch rpcErr.Code {
		case 400, 403, 406:
			e.Message = "Telegram refused the request with " + rpcErr.Message
		default: // 401 (session), 5xx: the request may work later
			e.Kind, e.Code, e.Message = send.KindUnavailable, "telegram_unavailable", "Telegram error "+rpcErr.Message
		}
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return send.Unavailable("timed out waiting for Telegram", err)
	}
	return send.Unavailable("Telegram unreachable", err)
}
