package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// Editor is what the API needs from a bot's client for the requests about
// messages already sent, chat actions and button presses;
// *gateway.Gateway has it.
type Editor interface {
	EditMessage(ctx context.Context, e send.Edit) (send.EditResult, error)
	// DeleteMessages returns one result per ID; the error is for the
	// request as a whole (the chat unknown, Telegram unreachable).
	DeleteMessages(ctx context.Context, r send.Recipient, ids []int) (chatID int64, _ []send.ItemResult, _ error)
	Pin(ctx context.Context, r send.Recipient, messageID int, silent, unpin bool) (chatID int64, _ error)
	SendChatAction(ctx context.Context, r send.Recipient, action string) (chatID int64, _ error)
	AnswerCallbackQuery(ctx context.Context, a send.CallbackAnswer) error
}

// chatFields are the recipient and bot members of every body here.
type chatFields struct {
	ChatID   ChatRef `json:"chat_id"`
	Username string  `json:"username"`
	// Bot names the bot to act as (ID or username; see Bots.Pick).
	Bot json.RawMessage `json:"bot"`
}

func (c chatFields) recipient() (send.Recipient, error) {
	r := c.ChatID.recipient(c.Username).Normalize()
	return r, r.Validate("")
}

func (c chatFields) bot() json.RawMessage { return c.Bot }

type editMessageBody struct {
	chatFields
	MessageID   int             `json:"message_id"`
	Text        *string         `json:"text"`
	ParseMode   string          `json:"parse_mode"`
	Buttons     [][]send.Button `json:"buttons"`
	LinkPreview *bool           `json:"link_preview"`
}

type editCaptionBody struct {
	chatFields
	MessageID int             `json:"message_id"`
	Caption   *string         `json:"caption"`
	ParseMode string          `json:"parse_mode"`
	Buttons   [][]send.Button `json:"buttons"`
}

type deleteMessagesBody struct {
	chatFields
	MessageIDs []int `json:"message_ids"`
}

type pinBody struct {
	chatFields
	MessageID int  `json:"message_id"`
	Silent    bool `json:"silent"`
}

type chatActionBody struct {
	chatFields
	Action string `json:"action"`
}

type answerCallbackBody struct {
	CallbackQueryID json.RawMessage `json:"callback_query_id"`
	Text            string          `json:"text"`
	ShowAlert       bool            `json:"show_alert"`
	URL             string          `json:"url"`
	CacheTime       int             `json:"cache_time"`
	Bot             json.RawMessage `json:"bot"`
}

func (b answerCallbackBody) bot() json.RawMessage { return b.Bot }

type deleteResponse struct {
	ChatID  int64             `json:"chat_id"`
	Results []send.ItemResult `json:"results"`
}

type chatDone struct {
	OK        bool  `json:"ok"`
	ChatID    int64 `json:"chat_id,omitempty"`
	MessageID int   `json:"message_id,omitempty"`
}

// botRequest serves a JSON request of type In with the bot it names:
// decode strictly, pick the bot, run fn within the request's time limit,
// answer 200 with its result or the error.
func botRequest[In interface{ bot() json.RawMessage }](a *API, fn func(ctx context.Context, gw Gateway, in In) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := readJSON(w, r, a.opts.MaxJSONBytes)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		var in In
		if err := decodeStrict(data, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		b, err := a.pick(parseBotRef(in.bot(), "bot"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.opts.RequestTimeout)
		defer cancel()
		out, err := fn(ctx, b.GW, in)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (a *API) editMessage(w http.ResponseWriter, r *http.Request) {
	botRequest(a, func(ctx context.Context, gw Gateway, in editMessageBody) (any, error) {
		rcpt, err := in.recipient()
		if err != nil {
			return nil, err
		}
		e := send.Edit{Recipient: rcpt, MessageID: in.MessageID, Text: in.Text, ParseMode: in.ParseMode,
			Buttons: in.Buttons, LinkPreview: in.LinkPreview}
		if err := e.Validate(); err != nil {
			return nil, err
		}
		return gw.EditMessage(ctx, e)
	})(w, r)
}

func (a *API) editCaption(w http.ResponseWriter, r *http.Request) {
	botRequest(a, func(ctx context.Context, gw Gateway, in editCaptionBody) (any, error) {
		rcpt, err := in.recipient()
		if err != nil {
			return nil, err
		}
		e := send.Edit{Recipient: rcpt, MessageID: in.MessageID, Text: in.Caption, ParseMode: in.ParseMode,
			Buttons: in.Buttons, Caption: true}
		if err := e.Validate(); err != nil {
			return nil, err
		}
		return gw.EditMessage(ctx, e)
	})(w, r)
}

func (a *API) deleteMessages(w http.ResponseWriter, r *http.Request) {
	botRequest(a, func(ctx context.Context, gw Gateway, in deleteMessagesBody) (any, error) {
		rcpt, err := in.recipient()
		if err != nil {
			return nil, err
		}
		if n := len(in.MessageIDs); n == 0 || n > send.MaxDeleteIDs {
			return nil, send.Invalid("message_ids", fmt.Sprintf("list 1 to %d message IDs", send.MaxDeleteIDs))
		}
		for i, id := range in.MessageIDs {
			if id <= 0 {
				return nil, send.Invalid(fmt.Sprintf("message_ids[%d]", i), "a message ID is a positive integer")
			}
		}
		chatID, results, err := gw.DeleteMessages(ctx, rcpt, in.MessageIDs)
		if err != nil {
			return nil, err
		}
		return deleteResponse{ChatID: chatID, Results: results}, nil
	})(w, r)
}

func (a *API) pinMessage(unpin bool) http.HandlerFunc {
	return botRequest(a, func(ctx context.Context, gw Gateway, in pinBody) (any, error) {
		rcpt, err := in.recipient()
		if err != nil {
			return nil, err
		}
		if in.MessageID <= 0 {
			return nil, send.Invalid("message_id", "message_id must be a positive integer")
		}
		chatID, err := gw.Pin(ctx, rcpt, in.MessageID, in.Silent, unpin)
		if err != nil {
			return nil, err
		}
		return chatDone{OK: true, ChatID: chatID, MessageID: in.MessageID}, nil
	})
}

func (a *API) sendChatAction(w http.ResponseWriter, r *http.Request) {
	botRequest(a, func(ctx context.Context, gw Gateway, in chatActionBody) (any, error) {
		rcpt, err := in.recipient()
		if err != nil {
			return nil, err
		}
		if err := send.ValidateChatAction(in.Action); err != nil {
			return nil, err
		}
		chatID, err := gw.SendChatAction(ctx, rcpt, in.Action)
		if err != nil {
			return nil, err
		}
		return chatDone{OK: true, ChatID: chatID}, nil
	})(w, r)
}

func (a *API) answerCallbackQuery(w http.ResponseWriter, r *http.Request) {
	botRequest(a, func(ctx context.Context, gw Gateway, in answerCallbackBody) (any, error) {
		id, err := parseQueryID(in.CallbackQueryID)
		if err != nil {
			return nil, err
		}
		ans := send.CallbackAnswer{QueryID: id, Text: in.Text, ShowAlert: in.ShowAlert, URL: in.URL, CacheTime: in.CacheTime}
		if err := ans.Validate(); err != nil {
			return nil, err
		}
		if err := gw.AnswerCallbackQuery(ctx, ans); err != nil {
			return nil, err
		}
		return chatDone{OK: true}, nil
	})(w, r)
}

// parseQueryID reads a callback_query_id as the receiver's events carry it
// (a string of digits), or as a JSON integer.
func parseQueryID(raw json.RawMessage) (int64, error) {
	bad := send.Invalid("callback_query_id", "callback_query_id is required: the string from the callback_query event")
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, bad
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id == 0 {
		return 0, bad
	}
	return id, nil
}

// editRoutes adds this file's routes (behind auth and Idempotency-Key).
func (a *API) editRoutes(r chi.Router) {
	r.Post("/api_v1/edit_message", a.editMessage)
	r.Post("/api_v1/edit_caption", a.editCaption)
	r.Post("/api_v1/delete_messages", a.deleteMessages)
	r.Post("/api_v1/pin_message", a.pinMessage(false))
	r.Post("/api_v1/unpin_message", a.pinMessage(true))
	r.Post("/api_v1/send_chat_action", a.sendChatAction)
	r.Post("/api_v1/answer_callback_query", a.answerCallbackQuery)
}
