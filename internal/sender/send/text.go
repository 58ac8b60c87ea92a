package send

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/sender/markup"
)

// Parse modes of texts and captions, as the Bot API spells them; requests
// may use any case. ParseMarkdown is Telegram's legacy Markdown, ParseCommonMark
// the CommonMark dialect "markdown" meant before.
const (
	ParsePlain      = string(markup.Plain)
	ParseHTML       = string(markup.HTML)
	ParseMarkdownV2 = string(markup.MarkdownV2)
	ParseMarkdown   = string(markup.Markdown)
	ParseCommonMark = string(markup.CommonMark)
)

// NormalizeParseMode maps any spelling of a parse mode ("html",
// "MARKDOWNV2") to its constant; ok is false for anything else.
func NormalizeParseMode(s string) (string, bool) {
	m, ok := markup.ParseMode(s)
	return string(m), ok
}

// unknownParseMode is the error about a parse mode that does not exist.
func unknownParseMode(field, mode string) *Error {
	return Invalid(field, fmt.Sprintf("unknown parse_mode %q: use one of \"\", %q, %q, %q or %q",
		mode, ParseHTML, ParseMarkdownV2, ParseMarkdown, ParseCommonMark))
}

// ParseText applies the parse mode to a text or caption. field names the
// request field the text came from ("text", "[2].caption"), parseModeField
// the one the mode came from; a mode that does not exist is an
// invalid_argument error, markup that does not parse an invalid_markup
// error carrying the Bot API's "can't parse entities: ..." message.
func ParseText(field, parseModeField, mode, text string) (string, []tg.MessageEntityClass, error) {
	out, ents, err := markup.Parse(mode, text)
	var me *markup.Error
	switch {
	case err == nil:
		return out, ents, nil
	case errors.As(err, &me):
		return "", nil, &Error{Kind: KindInvalid, Code: "invalid_markup", Field: field, Message: me.Error()}
	default:
		return "", nil, unknownParseMode(parseModeField, mode)
	}
}

// CheckText validates a text or caption as the Bot API does: its markup
// parses, and what is left once it is parsed is at most limit UTF-16 code
// units and, if required, not empty.
func CheckText(field, parseModeField, mode, text string, required bool, limit int) error {
	name := field[strings.LastIndexByte(field, '.')+1:] // "caption" of "[2].caption"
	if required && strings.TrimSpace(text) == "" {
		return Invalid(field, name+" must not be empty")
	}
	out, _, err := ParseText(field, parseModeField, mode, text)
	if err != nil {
		return err
	}
	if required && strings.TrimSpace(out) == "" {
		m, _ := NormalizeParseMode(mode)
		return Invalid(field, fmt.Sprintf("%s is empty once %s markup is removed", name, m))
	}
	if n := UTF16Len(out); n > limit {
		return Invalid(field, fmt.Sprintf("%s is %d UTF-16 code units, at most %d allowed", name, n, limit))
	}
	return nil
}
