package send

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Edit changes a message the bot sent: its text (or caption) and/or its
// inline keyboard.
type Edit struct {
	Recipient
	MessageID int
	// Text is the new text or caption; nil leaves it as it is.
	Text      *string
	ParseMode string
	// Buttons is the new inline keyboard; nil or empty removes it, as the
	// Bot API's editMessageText does.
	Buttons [][]Button
	// Caption says Text is a caption (a document's): it may be empty and
	// is limited to MaxCaptionLen.
	Caption     bool
	LinkPreview *bool
}

// Validate checks the edit without Telegram.
func (e *Edit) Validate() error {
	e.Recipient = e.Recipient.Normalize()
	if err := e.Recipient.Validate(""); err != nil {
		return err
	}
	if e.MessageID <= 0 {
		return Invalid("message_id", "message_id must be a positive integer")
	}
	pm, ok := NormalizeParseMode(e.ParseMode)
	if !ok {
		return unknownParseMode("parse_mode", e.ParseMode)
	}
	e.ParseMode = pm
	if e.Caption {
		if e.Text == nil {
			return Invalid("caption", "caption is required (an empty caption removes it)")
		}
		return CheckText("caption", "parse_mode", e.ParseMode, *e.Text, false, MaxCaptionLen)
	}
	if e.Text != nil {
		if err := CheckText("text", "parse_mode", e.ParseMode, *e.Text, true, MaxTextLen); err != nil {
			return err
		}
	}
	if e.Text == nil && e.Buttons == nil {
		return Invalid("text", "text or buttons is required")
	}
	return validateButtons("", e.Buttons)
}

// EditResult is what a successful edit returns.
type EditResult struct {
	ChatID    int64 `json:"chat_id"`
	MessageID int   `json:"message_id"`
	// EditDate is the edit's date, unix seconds.
	EditDate int `json:"edit_date"`
}

// MaxDeleteIDs bounds the message IDs of one delete_messages request (the
// Bot API's deleteMessages takes 1-100).
const MaxDeleteIDs = 100

// ItemResult is the outcome of one message of a request about several.
type ItemResult struct {
	MessageID int     `json:"message_id"`
	OK        bool    `json:"ok"`
	Error     *Public `json:"error,omitempty"`
}

// ErrMessageNotFound is a message ID that is not one of the chat's.
var ErrMessageNotFound = NotFound("message_not_found", "no message with this ID in this chat")

// CallbackAnswer answers a button press.
type CallbackAnswer struct {
	QueryID   int64
	Text      string
	ShowAlert bool
	URL       string
	CacheTime int
}

// MaxCallbackAnswerLen is the Bot API's limit on an answer's text.
const MaxCallbackAnswerLen = 200

// Validate checks the answer without Telegram.
func (a CallbackAnswer) Validate() error {
	if a.QueryID == 0 {
		return Invalid("callback_query_id", "callback_query_id is required")
	}
	if n := UTF16Len(a.Text); n > MaxCallbackAnswerLen {
		return Invalid("text", fmt.Sprintf("text is %d characters, at most %d allowed", n, MaxCallbackAnswerLen))
	}
	if a.CacheTime < 0 {
		return Invalid("cache_time", "cache_time must not be negative")
	}
	if a.URL != "" {
		if u, err := url.Parse(a.URL); err != nil || u.Scheme == "" {
			return Invalid("url", "not a URL")
		}
	}
	return nil
}

// ChatActions are the Bot API's chat action names.
var ChatActions = map[string]bool{
	"typing": true, "upload_photo": true, "record_video": true, "upload_video": true, "record_voice": true,
	"upload_voice": true, "upload_document": true, "choose_sticker": true, "find_location": true,
	"record_video_note": true, "upload_video_note": true,
}

// ValidateChatAction checks a chat action's name.
func ValidateChatAction(action string) error {
	if ChatActions[action] {
		return nil
	}
	names := make([]string, 0, len(ChatActions))
	for n := range ChatActions {
		names = append(names, n)
	}
	sort.Strings(names)
	return Invalid("action", fmt.Sprintf("unknown action %q: use one of %s", action, strings.Join(names, ", ")))
}
