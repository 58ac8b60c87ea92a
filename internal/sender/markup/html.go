package markup

import (
	"strings"
	"unicode/utf8"
)

var htmlTags = map[string]bool{
	"a": true, "b": true, "strong": true, "i": true, "em": true, "s": true, "strike": true, "del": true,
	"u": true, "ins": true, "tg-spoiler": true, "tg-emoji": true, "span": true, "pre": true, "code": true,
	"blockquote": true,
}

// decodeHTMLEntity decodes the character reference at s[pos] == '&': &lt;
// &gt; &amp; &quot; and numeric ones (&#123; &#x1F600;), the ';' optional.
// code is 0 when there is none to decode.
func decodeHTMLEntity(s src, pos int) (code uint32, next int) {
	end := pos + 1
	if s.at(pos+1) == '#' {
		end++
		if s.at(pos+2) == 'x' {
			end++
			for {
				c := s.at(end)
				var d byte
				switch {
				case isDigit(c):
					d = c - '0'
				case 'a' <= c|0x20 && c|0x20 <= 'f':
					d = c | 0x20 - 'a' + 10
				default:
					d = 0xFF
				}
				if d == 0xFF {
					break
				}
				code = code*16 + uint32(d)
				end++
			}
		} else {
			for isDigit(s.at(end)) {
				code = code*10 + uint32(s.at(end)-'0')
				end++
			}
		}
		if code == 0 || code >= 0x10ffff || end-pos >= 10 {
			return 0, pos
		}
	} else {
		for isAlpha(s.at(end)) {
			end++
		}
		switch s[pos+1 : end] {
		case "lt":
			code = '<'
		case "gt":
			code = '>'
		case "amp":
			code = '&'
		case "quot":
			code = '"'
		default:
			return 0, pos
		}
	}
	if s.at(end) == ';' {
		end++
	}
	return code, end
}

type htmlOpen struct {
	tag      string
	arg      string
	offset   int // UTF-16 offset in the output
	outPos   int // byte offset in the output
	beginPos int // byte offset of '<' in the input
}

// parseHTML is TDLib's parse_html.
func parseHTML(text string) (string, []ent, error) {
	s := src(text)
	out := make([]byte, 0, len(text))
	var ents []ent
	var open []htmlOpen
	off := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '&' {
			if code, next := decodeHTMLEntity(s, i); code != 0 {
				if code >= 0xd800 && code <= 0xdfff {
					return "", nil, errAt(i, "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units")
				}
				i = next - 1
				off++
				if code > 0xffff {
					off++
				}
				out = utf8.AppendRune(out, rune(code))
				continue
			}
		}
		if c != '<' {
			off += units(c)
			out = append(out, c)
			continue
		}
		begin := i
		i++
		if s.at(i) != '/' {
			o, next, err := htmlStartTag(s, begin)
			if err != nil {
				return "", nil, err
			}
			i = next
			o.offset, o.outPos = off, len(out)
			open = append(open, o)
			continue
		}
		top, next, err := htmlEndTag(s, begin, open)
		if err != nil {
			return "", nil, err
		}
		i = next
		open = open[:len(open)-1]
		if off > top.offset {
			if ents, err = closeHTMLTag(ents, top, off, out); err != nil {
				return "", nil, err
			}
		}
	}
	if len(open) > 0 {
		top := open[len(open)-1]
		return "", nil, errAt(top.beginPos, "Can't find end tag corresponding to start tag \"%s\"", top.tag)
	}
	for k := range ents {
		if ents[k].kind == kCode {
			ents[k].arg = ""
		}
	}
	return string(out), ents, nil
}

// htmlEndTag reads the end tag at s[begin] == '<' up to its '>', which next
// is the index of, and returns the tag it closes.
func htmlEndTag(s src, begin int, open []htmlOpen) (_ htmlOpen, next int, _ error) {
	if len(open) == 0 {
		return htmlOpen{}, 0, errIn(begin, "Unexpected end tag at byte offset %d", begin)
	}
	i := begin + 1
	for !isSpace(s.at(i)) && s.at(i) != '>' {
		i++
	}
	endTag := strings.ToLower(string(s[begin+2 : i]))
	for isSpace(s.at(i)) && s.at(i) != 0 {
		i++
	}
	if s.at(i) != '>' {
		return htmlOpen{}, 0, errIn(begin, "Unclosed end tag at byte offset %d", begin)
	}
	top := open[len(open)-1]
	if endTag != "" && endTag != top.tag {
		return htmlOpen{}, 0, errIn(begin, "Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", begin, top.tag, endTag)
	}
	return top, i, nil
}

// htmlStartTag reads the start tag at s[begin] == '<' up to its '>', which
// next is the index of.
func htmlStartTag(s src, begin int) (_ htmlOpen, next int, _ error) {
	i := begin + 1
	for !isSpace(s.at(i)) && s.at(i) != '>' {
		i++
	}
	if s.at(i) == 0 {
		return htmlOpen{}, 0, errIn(begin, "Unclosed start tag at byte offset %d", begin)
	}
	tag := strings.ToLower(string(s[begin+1 : i]))
	if !htmlTags[tag] {
		return htmlOpen{}, 0, errIn(begin, "Unsupported start tag \"%s\" at byte offset %d", tag, begin)
	}
	o := htmlOpen{tag: tag, beginPos: begin}
	for s.at(i) != '>' {
		i = skipSpaces(s, i)
		if s.at(i) == '>' {
			break
		}
		var err error
		if i, err = htmlAttribute(s, i, &o); err != nil {
			return htmlOpen{}, 0, err
		}
	}
	if tag == "span" && o.arg != "spoiler" {
		return htmlOpen{}, 0, errIn(begin, "Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", begin)
	}
	return o, i, nil
}

// htmlAttribute reads the attribute at i of the start tag o, keeping in o
// what it says about the entity, and returns the index after it.
func htmlAttribute(s src, i int, o *htmlOpen) (int, error) {
	begin, tag := o.beginPos, o.tag
	nameBegin := i
	for c := s.at(i); !isSpace(c) && c != '=' && c != '>' && c != '/' && c != '"' && c != '\''; c = s.at(i) {
		i++
	}
	name := string(s[nameBegin:i])
	if name == "" {
		return 0, errIn(begin, "Empty attribute name in the tag \"%s\" at byte offset %d", tag, begin)
	}
	i = skipSpaces(s, i)
	if s.at(i) != '=' {
		if s.at(i) == 0 {
			return 0, errIn(begin, "Unclosed start tag \"%s\" at byte offset %d", tag, begin)
		}
		o.set(name, "")
		return i, nil
	}
	i++
	i = skipSpaces(s, i)
	if s.at(i) == 0 {
		return 0, errIn(begin, "Unclosed start tag \"%s\" at byte offset %d", tag, begin)
	}
	value, i, err := htmlAttributeValue(s, i)
	if err != nil {
		return 0, err
	}
	if s.at(i) == 0 {
		return 0, errIn(begin, "Unclosed start tag at byte offset %d", begin)
	}
	o.set(name, value)
	return i, nil
}

// set keeps what the attribute name=value says about the entity.
func (o *htmlOpen) set(name, value string) {
	switch tag := o.tag; {
	case tag == "a" && name == "href":
		o.arg = value
	case tag == "code" && name == "class" && strings.HasPrefix(value, "language-"):
		o.arg = value[len("language-"):]
	case tag == "span" && name == "class" && strings.HasPrefix(value, "tg-"):
		o.arg = value[len("tg-"):]
	case tag == "tg-emoji" && name == "emoji-id":
		o.arg = value
	case tag == "blockquote" && name == "expandable":
		o.arg = "1"
	}
}

// htmlAttributeValue reads a quoted value (character references decoded) or
// a name token (lower-cased) at i.
func htmlAttributeValue(s src, i int) (value string, next int, _ error) {
	q := s.at(i)
	if q != '\'' && q != '"' {
		// A name token: letters, digits, periods, hyphens; case-insensitive.
		begin := i
		for c := s.at(i); isAlnum(c) || c == '.' || c == '-'; c = s.at(i) {
			i++
		}
		if !isSpace(s.at(i)) && s.at(i) != '>' {
			return "", 0, errIn(begin, "Unexpected end of name token at byte offset %d", begin)
		}
		return strings.ToLower(string(s[begin:i])), i, nil
	}
	i++
	var v []byte
	for s.at(i) != q && s.at(i) != 0 {
		if s.at(i) == '&' {
			if code, n := decodeHTMLEntity(s, i); code != 0 {
				v = utf8.AppendRune(v, rune(code))
				i = n
				continue
			}
		}
		v = append(v, s[i])
		i++
	}
	if s.at(i) == q {
		i++
	}
	return string(v), i, nil
}

// simpleTags are the tags whose entity needs nothing but a range.
var simpleTags = map[string]kind{
	"i": kItalic, "em": kItalic, "b": kBold, "strong": kBold, "s": kStrikethrough, "strike": kStrikethrough,
	"del": kStrikethrough, "u": kUnderline, "ins": kUnderline, "tg-spoiler": kSpoiler, "span": kSpoiler,
}

// closeHTMLTag adds the entity of a closed, non-empty tag.
func closeHTMLTag(ents []ent, top htmlOpen, off int, out []byte) ([]ent, error) {
	e := ent{offset: top.offset, length: off - top.offset}
	last := len(ents) - 1
	sameRange := last >= 0 && ents[last].offset == e.offset && ents[last].length == e.length
	if k, ok := simpleTags[top.tag]; ok {
		e.kind = k
		return append(ents, e), nil
	}
	switch top.tag {
	case "tg-emoji":
		id, ok := parseInt64(top.arg)
		if !ok || id == 0 {
			return nil, errAt(top.beginPos, "Invalid custom emoji identifier specified")
		}
		e.kind, e.id = kCustomEmoji, id
	case "a":
		url := top.arg
		if url == "" {
			url = string(out[top.outPos:])
		}
		l, ok := linkEntity(e.offset, e.length, url)
		if !ok {
			return ents, nil
		}
		e = l
	case "pre":
		if sameRange && ents[last].kind == kCode && ents[last].arg != "" {
			ents[last].kind = kPreCode
			return ents, nil
		}
		e.kind = kPre
	case "code":
		if sameRange && ents[last].kind == kPre && top.arg != "" {
			ents[last].kind, ents[last].arg = kPreCode, top.arg
			return ents, nil
		}
		e.kind, e.arg = kCode, top.arg
	case "blockquote":
		e.kind = kBlockQuote
		if top.arg != "" {
			e.kind = kExpandableBlockQuote
		}
	}
	return append(ents, e), nil
}

// parseInt64 parses as TDLib's to_integer_safe<int64>: optional '-', digits.
func parseInt64(s string) (int64, bool) {
	if s == "" || s[0] == '+' {
		return 0, false
	}
	var n int64
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		d := int64(s[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}

func skipSpaces(s src, i int) int {
	for s.at(i) != 0 && isSpace(s.at(i)) {
		i++
	}
	return i
}
