package tgemu

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/gotd/td/tg"
)

// Entity is a message entity in the Bot API's shape.
type Entity struct {
	Type     string `json:"type"` // bold, italic, code, pre, text_link, mention, url, ...
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	URL      string `json:"url,omitempty"`
	UserID   int64  `json:"user_id,omitempty"`
	Language string `json:"language,omitempty"`
	// CustomEmojiID is a custom_emoji's document ID, a string as in the Bot API.
	CustomEmojiID string `json:"custom_emoji_id,omitempty"`
}

// ReplyMarkup is a message's keyboard in the Bot API's shape.
type ReplyMarkup struct {
	InlineKeyboard [][]Button `json:"inline_keyboard,omitempty"`
	Keyboard       [][]Button `json:"keyboard,omitempty"`
	RemoveKeyboard bool       `json:"remove_keyboard,omitempty"`
	ForceReply     bool       `json:"force_reply,omitempty"`
}

// Button is one keyboard button.
type Button struct {
	Text string `json:"text"`
	// CallbackData is the inline button's data (as a string, as in the Bot API).
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// entityTypes maps gotd's names to the Bot API's where they differ.
var entityTypes = map[string]string{
	"textUrl":          "text_link",
	"mentionName":      "text_mention",
	"strike":           "strikethrough",
	"botCommand":       "bot_command",
	"bankCard":         "bank_card",
	"customEmoji":      "custom_emoji",
	"phone":            "phone_number",
	"inputMentionName": "text_mention",
}

func entityType(e tg.MessageEntityClass) string {
	name := strings.TrimPrefix(e.TypeName(), "messageEntity")
	// The map's keys start lower case, as in the TL schema ("textUrl").
	if t, ok := entityTypes[strings.ToLower(name[:1])+name[1:]]; ok {
		return t
	}
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func entitiesView(ents []tg.MessageEntityClass) []Entity {
	if len(ents) == 0 {
		return nil
	}
	out := make([]Entity, 0, len(ents))
	for _, e := range ents {
		v := Entity{Type: entityType(e), Offset: e.GetOffset(), Length: e.GetLength()}
		switch e := e.(type) {
		case *tg.MessageEntityTextURL:
			v.URL = e.URL
		case *tg.MessageEntityMentionName:
			v.UserID = e.UserID
		case *tg.MessageEntityPre:
			v.Language = e.Language
		case *tg.MessageEntityCustomEmoji:
			v.CustomEmojiID = strconv.FormatInt(e.DocumentID, 10)
		case *tg.MessageEntityBlockquote:
			if e.Collapsed {
				v.Type = "expandable_blockquote"
			}
		}
		out = append(out, v)
	}
	return out
}

func markupView(m tg.ReplyMarkupClass) *ReplyMarkup {
	switch m := m.(type) {
	case *tg.ReplyInlineMarkup:
		return &ReplyMarkup{InlineKeyboard: inlineRowsView(m.Rows)}
	case *tg.ReplyKeyboardMarkup:
		return &ReplyMarkup{Keyboard: rowsView(m.Rows)}
	case *tg.ReplyKeyboardHide:
		return &ReplyMarkup{RemoveKeyboard: true}
	case *tg.ReplyKeyboardForceReply:
		return &ReplyMarkup{ForceReply: true}
	default:
		return nil
	}
}

func inlineRowsView(rows []tg.KeyboardInlineButtonRow) [][]Button {
	out := make([][]Button, 0, len(rows))
	for _, row := range rows {
		r := make([]Button, 0, len(row.Buttons))
		for _, b := range row.Buttons {
			v := Button{Text: b.Text}
			switch t := b.Type.(type) {
			case *tg.InlineButtonTypeCallback:
				v.CallbackData = string(t.Data)
			case *tg.InlineButtonTypeURL:
				v.URL = t.URL
			}
			r = append(r, v)
		}
		out = append(out, r)
	}
	return out
}

func rowsView(rows []tg.KeyboardButtonRow) [][]Button {
	out := make([][]Button, 0, len(rows))
	for _, row := range rows {
		r := make([]Button, 0, len(row.Buttons))
		for _, b := range row.Buttons {
			r = append(r, Button{Text: b.Text})
		}
		out = append(out, r)
	}
	return out
}
