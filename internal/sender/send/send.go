// Package send holds what the sender service is about, independent of HTTP
// and of MTProto: a recipient, a message or document to send to it, the
// result, and the error kinds every layer uses. The HTTP layer decodes into
// these types, the job runner persists them and the gateway sends them.
package send

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/gotd/td/constant"
)

// Telegram's limits on what a message may hold.
const (
	MaxTextLen       = 4096 // UTF-16 code units, like Telegram counts them
	MaxCaptionLen    = 1024 // UTF-16 code units
	MaxButtons       = 100
	MaxCallbackData  = 64 // bytes
	MaxButtonTextLen = 64 // characters; longer labels are cut by clients anyway
)

// PeerKind says which kind of chat a Bot-API-style chat ID names.
type PeerKind int

// Peer kinds.
const (
	PeerUser PeerKind = iota + 1
	PeerChat
	PeerChannel
)

// SplitChatID turns a Bot-API-style chat ID (TDLib's peer ID) into the kind
// and the MTProto ID: positive IDs are users, -<id> basic groups, -100<id>
// channels and supergroups. ok is false for 0 and for any other ID that
// names none of them (a secret chat, or out of every range).
func SplitChatID(chatID int64) (kind PeerKind, id int64, ok bool) {
	p := constant.TDLibPeerID(chatID)
	switch {
	case p.IsUser():
		return PeerUser, p.ToPlain(), true
	case p.IsChat():
		return PeerChat, p.ToPlain(), true
	case p.IsChannel():
		return PeerChannel, p.ToPlain(), true
	}
	return 0, 0, false
}

// JoinChatID is the inverse of SplitChatID.
func JoinChatID(kind PeerKind, id int64) int64 {
	var p constant.TDLibPeerID
	switch kind {
	case PeerChat:
		p.Chat(id)
	case PeerChannel:
		p.Channel(id)
	default:
		p.User(id)
	}
	return int64(p)
}

// Recipient is one chat to send to: a Bot-API-style chat ID or a public
// username, never both.
type Recipient struct {
	ChatID   int64  `json:"chat_id,omitempty"`
	Username string `json:"username,omitempty"`
}

// String is the recipient as a log field (a chat ID or @username).
func (r Recipient) String() string {
	if r.Username != "" {
		return "@" + r.Username
	}
	return fmt.Sprint(r.ChatID)
}

var usernameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{3,31}$`)

// Normalize strips a leading "@" from the username.
func (r Recipient) Normalize() Recipient {
	r.Username = strings.TrimPrefix(strings.TrimSpace(r.Username), "@")
	return r
}

// Validate checks that exactly one of chat ID and username is set and well formed.
func (r Recipient) Validate(prefix string) error {
	switch {
	case r.ChatID != 0 && r.Username != "":
		return Invalid(prefix+"chat_id", "set chat_id or username, not both")
	case r.ChatID == 0 && r.Username == "":
		return Invalid(prefix+"chat_id", "chat_id or username is required")
	case r.Username != "" && !usernameRe.MatchString(r.Username):
		return Invalid(prefix+"username", "not a Telegram username (5-32 letters, digits or _, starting with a letter)")
	}
	return nil
}

// Button is one inline keyboard button: a callback button or a URL button.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// Request is one send to one recipient: a text message, or a document
// (DocumentID set) with an optional caption in Text.
type Request struct {
	Recipient
	Text       string     `json:"text,omitempty"`
	ParseMode  string     `json:"parse_mode,omitempty"`
	Buttons    [][]Button `json:"buttons,omitempty"`
	Silent     bool       `json:"silent,omitempty"`
	ReplyTo    int        `json:"reply_to_message_id,omitempty"`
	DocumentID string     `json:"document_id,omitempty"`
	// Photo sends the document (an image) as a compressed photo.
	Photo bool `json:"photo,omitempty"`
	// LinkPreview false sends without a link preview (nil: Telegram's default).
	LinkPreview *bool `json:"link_preview,omitempty"`
	// ProtectContent forbids forwarding and saving the message.
	ProtectContent bool `json:"protect_content,omitempty"`
}

// NoLinkPreview reports whether the request asks for no link preview.
func (r Request) NoLinkPreview() bool { return r.LinkPreview != nil && !*r.LinkPreview }

// IsDocument reports whether the request sends a document.
func (r Request) IsDocument() bool { return r.DocumentID != "" }

// Normalize canonicalizes spellings (parse mode, username) in place. It
// leaves an unknown parse mode as is for Validate to reject.
func (r *Request) Normalize() {
	r.Recipient = r.Recipient.Normalize()
	if pm, ok := NormalizeParseMode(r.ParseMode); ok {
		r.ParseMode = pm
	}
}

// Validate checks everything that can be checked without Telegram. prefix is
// put before field names ("[3]." for the fourth item of a list).
func (r *Request) Validate(prefix string) error {
	if err := r.Recipient.Validate(prefix); err != nil {
		return err
	}
	return r.ValidateContent(prefix)
}

// ValidateContent is Validate without the recipient (a template shared by
// many recipients).
func (r *Request) ValidateContent(prefix string) error {
	if r.ReplyTo < 0 {
		return Invalid(prefix+"reply_to_message_id", "must not be negative")
	}
	field, limit := "text", MaxTextLen
	if r.IsDocument() {
		if len(r.DocumentID) > 128 {
			return Invalid(prefix+"document_id", "too long")
		}
		field, limit = "caption", MaxCaptionLen
	}
	if err := CheckText(prefix+field, prefix+"parse_mode", r.ParseMode, r.Text, !r.IsDocument(), limit); err != nil {
		return err
	}
	return validateButtons(prefix, r.Buttons)
}

func validateButtons(prefix string, rows [][]Button) error {
	total := 0
	for i, row := range rows {
		if len(row) == 0 {
			return Invalid(fmt.Sprintf("%sbuttons[%d]", prefix, i), "a row needs at least one button")
		}
		for j, b := range row {
			total++
			field := fmt.Sprintf("%sbuttons[%d][%d]", prefix, i, j)
			if err := validateButton(field, b); err != nil {
				return err
			}
		}
	}
	if total > MaxButtons {
		return Invalid(prefix+"buttons", fmt.Sprintf("%d buttons, at most %d allowed", total, MaxButtons))
	}
	return nil
}

func validateButton(field string, b Button) error {
	if strings.TrimSpace(b.Text) == "" {
		return Invalid(field+".text", "button text must not be empty")
	}
	if UTF16Len(b.Text) > MaxButtonTextLen {
		return Invalid(field+".text", fmt.Sprintf("button text longer than %d", MaxButtonTextLen))
	}
	switch {
	case (b.CallbackData == "") == (b.URL == ""):
		return Invalid(field, "set exactly one of callback_data and url")
	case b.CallbackData != "" && len(b.CallbackData) > MaxCallbackData:
		return Invalid(field+".callback_data", fmt.Sprintf("at most %d bytes", MaxCallbackData))
	case b.URL != "":
		u, err := url.Parse(b.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tg") || (u.Scheme != "tg" && u.Host == "") {
			return Invalid(field+".url", "not an http, https or tg URL")
		}
	}
	return nil
}

// UTF16Len counts s in UTF-16 code units, the unit of Telegram's limits.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++ // invalid UTF-8 becomes U+FFFD: one unit
		}
	}
	return n
}

// Result is what a successful send returns.
type Result struct {
	ChatID    int64 `json:"chat_id"`
	MessageID int   `json:"message_id"`
	Date      int   `json:"date"`
	// Duplicate is set when Telegram recognised the random_id of a send it
	// already had (a retry after a crash): delivered once, ID unknown.
	Duplicate bool `json:"duplicate,omitempty"`
}
