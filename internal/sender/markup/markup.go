package markup

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gotd/td/telegram/message/entity"
	"github.com/gotd/td/telegram/message/markdown"
	"github.com/gotd/td/tg"
)

// Mode is a parse mode, spelled as the Bot API spells it.
type Mode string

// Parse modes. Plain sends the text as it is.
const (
	Plain      Mode = ""
	HTML       Mode = "HTML"
	MarkdownV2 Mode = "MarkdownV2"
	Markdown   Mode = "Markdown"
	CommonMark Mode = "CommonMark"
)

// Modes lists every parse mode but Plain, for documentation and messages.
var Modes = []Mode{HTML, MarkdownV2, Markdown, CommonMark}

// ErrUnknownMode is returned (wrapped) by Parse for a parse mode that is not
// one of Modes.
var ErrUnknownMode = errors.New("unknown parse_mode")

// ParseMode returns the mode named s, ignoring case and surrounding spaces
// ("html", "MARKDOWNV2"); "" is Plain. ok is false for anything else.
func ParseMode(s string) (m Mode, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Plain, true
	}
	for _, m := range Modes {
		if strings.EqualFold(s, string(m)) {
			return m, true
		}
	}
	return "", false
}

// Error is markup that cannot be parsed. Its message reads like the Bot
// API's "can't parse entities: ..." answer.
type Error struct {
	// Offset is the byte offset in the input of what is wrong, -1 if the
	// problem has no one place.
	Offset int
	// Reason says what is wrong, in TDLib's words where TDLib has them.
	Reason string
}

func (e *Error) Error() string { return "can't parse entities: " + e.Reason }

// errAt is an error at a byte offset whose reason does not name it yet.
func errAt(off int, format string, args ...any) *Error {
	return &Error{Offset: off, Reason: fmt.Sprintf(format, args...) + fmt.Sprintf(" at byte offset %d", off)}
}

// errIn is an error whose reason already names its offset.
func errIn(off int, format string, args ...any) *Error {
	return &Error{Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// Parse converts text written in mode (any spelling ParseMode accepts) into
// the text Telegram shows and its entities. It returns an error wrapping
// ErrUnknownMode for an unknown mode and an *Error for markup it cannot
// parse; Plain returns text unchanged and no entities.
func Parse(mode, text string) (string, []tg.MessageEntityClass, error) {
	m, ok := ParseMode(mode)
	if !ok {
		return "", nil, fmt.Errorf("%w %q: use one of \"\", %s", ErrUnknownMode, mode, modeList())
	}
	if m == Plain || text == "" {
		return text, nil, nil
	}
	if !utf8.ValidString(text) {
		return "", nil, errAt(invalidUTF8At(text), "Strings must be encoded in UTF-8")
	}
	var (
		out  string
		ents []ent
		err  error
	)
	switch m {
	case HTML:
		out, ents, err = parseHTML(text)
	case MarkdownV2:
		out, ents, err = parseMarkdownV2(text)
	case Markdown:
		out, ents, err = parseMarkdown(text)
	case CommonMark:
		return parseCommonMark(text)
	}
	if err != nil {
		return "", nil, err
	}
	sortEntities(ents)
	return out, toTL(ents), nil
}

func modeList() string {
	q := make([]string, len(Modes))
	for i, m := range Modes {
		q[i] = fmt.Sprintf("%q", string(m))
	}
	return strings.Join(q, ", ")
}

func invalidUTF8At(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return i
			}
		}
	}
	return 0
}

func parseCommonMark(text string) (string, []tg.MessageEntityClass, error) {
	var b entity.Builder
	if err := markdown.Markdown(strings.NewReader(text), &b, markdown.Options{}); err != nil {
		return "", nil, &Error{Offset: -1, Reason: err.Error()}
	}
	out, ents := b.Complete()
	// goldmark can leave empty entities ("``"); Telegram rejects them.
	n := utf16Len(out)
	kept := ents[:0]
	for _, e := range ents {
		if e.GetLength() > 0 && e.GetOffset() >= 0 && e.GetOffset()+e.GetLength() <= n {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	return out, kept, nil
}

func utf16Len(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n += units(s[i])
	}
	return n
}

// kind is an entity type, named as TDLib names it in its error messages.
type kind int

const (
	kBold kind = iota
	kItalic
	kUnderline
	kStrikethrough
	kSpoiler
	kCode
	kPre
	kPreCode
	kTextURL
	kMentionName
	kCustomEmoji
	kBlockQuote
	kExpandableBlockQuote
)

var kindNames = [...]string{"Bold", "Italic", "Underline", "Strikethrough", "Spoiler", "Code", "Pre", "PreCode",
	"TextUrl", "MentionName", "CustomEmoji", "BlockQuote", "ExpandableBlockQuote"}

func (k kind) String() string { return kindNames[k] }

// priority orders entities that start and end together, outer first (TDLib's
// MessageEntity::get_type_priority).
func (k kind) priority() int {
	switch k {
	case kBold:
		return 90
	case kItalic:
		return 91
	case kUnderline:
		return 92
	case kStrikethrough:
		return 93
	case kSpoiler:
		return 94
	case kCode:
		return 20
	case kPre:
		return 11
	case kPreCode:
		return 10
	case kTextURL, kMentionName:
		return 49
	case kCustomEmoji:
		return 99
	default: // block quotes
		return 0
	}
}

// ent is a parsed entity; offset and length are in UTF-16 code units.
type ent struct {
	kind           kind
	offset, length int
	arg            string // URL, or the language of PreCode
	id             int64  // user of MentionName, document of CustomEmoji
}

func sortEntities(ents []ent) {
	sort.SliceStable(ents, func(i, j int) bool {
		a, b := ents[i], ents[j]
		if a.offset != b.offset {
			return a.offset < b.offset
		}
		if a.length != b.length {
			return a.length > b.length
		}
		return a.kind.priority() < b.kind.priority()
	})
}

// rangeOnly builds the entities that are nothing but a range.
var rangeOnly = map[kind]func(o, l int) tg.MessageEntityClass{
	kBold:          func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityBold{Offset: o, Length: l} },
	kItalic:        func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityItalic{Offset: o, Length: l} },
	kUnderline:     func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityUnderline{Offset: o, Length: l} },
	kStrikethrough: func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityStrike{Offset: o, Length: l} },
	kSpoiler:       func(o, l int) tg.MessageEntityClass { return &tg.MessageEntitySpoiler{Offset: o, Length: l} },
	kCode:          func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityCode{Offset: o, Length: l} },
}

func toTL(ents []ent) []tg.MessageEntityClass {
	if len(ents) == 0 {
		return nil
	}
	out := make([]tg.MessageEntityClass, 0, len(ents))
	for _, e := range ents {
		o, l := e.offset, e.length
		var c tg.MessageEntityClass
		switch e.kind {
		case kBold, kItalic, kUnderline, kStrikethrough, kSpoiler, kCode:
			c = rangeOnly[e.kind](o, l)
		case kPre, kPreCode:
			c = &tg.MessageEntityPre{Offset: o, Length: l, Language: e.arg}
		case kTextURL:
			c = &tg.MessageEntityTextURL{Offset: o, Length: l, URL: e.arg}
		case kMentionName:
			c = &tg.InputMessageEntityMentionName{Offset: o, Length: l, UserID: &tg.InputUser{UserID: e.id}}
		case kCustomEmoji:
			c = &tg.MessageEntityCustomEmoji{Offset: o, Length: l, DocumentID: e.id}
		case kBlockQuote:
			c = &tg.MessageEntityBlockquote{Offset: o, Length: l}
		case kExpandableBlockQuote:
			c = &tg.MessageEntityBlockquote{Offset: o, Length: l, Collapsed: true}
		}
		out = append(out, c)
	}
	return out
}

// src reads a text as TDLib reads its NUL-terminated strings: past the end
// every byte is 0. The parsers below keep TDLib's structure so that they
// accept and reject exactly what it does.
type src string

func (s src) at(i int) byte {
	if i >= 0 && i < len(s) {
		return s[i]
	}
	return 0
}

// units is how many UTF-16 code units the UTF-8 byte c starts: 0 for a
// continuation byte, 2 for the first byte of a 4-byte sequence.
func units(c byte) int {
	switch {
	case c&0xC0 == 0x80:
		return 0
	case c >= 0xF0:
		return 2
	default:
		return 1
	}
}

// isSpace is TDLib's is_space, which counts the terminating NUL as a space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 || c == '\v'
}

func isAlpha(c byte) bool {
	c |= 0x20
	return 'a' <= c && c <= 'z'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// skipPreNewline skips one line break (\n, \r, \r\n or \n\r) at the start of
// a pre block.
func skipPreNewline(s src, i int) int {
	if c := s.at(i); c == '\n' || c == '\r' {
		if n := s.at(i + 1); (n == '\n' || n == '\r') && c != n {
			return i + 2
		}
		return i + 1
	}
	return i
}

// preLanguage reads the language after the ``` at i: the word up to the first
// space or backquote, if a space (not the end, not a backquote) ends it.
func preLanguage(s src, i int) (lang string, next int) {
	end := i
	for !isSpace(s.at(end)) && s.at(end) != '`' {
		end++
	}
	if i != end && end < len(s) && s.at(end) != '`' {
		return string(s[i:end]), end
	}
	return "", i
}
