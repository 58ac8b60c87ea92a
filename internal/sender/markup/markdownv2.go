package markup

import "strings"

type mdOpen struct {
	kind     kind
	arg      string
	offset   int // UTF-16 offset in the output
	bytePos  int // byte offset of the markup in the input
	outBegin int // byte offset in the output
}

// mdV2 is the state of parseMarkdownV2, TDLib's parse_markdown_v2.
type mdV2 struct {
	s          src
	out        []byte
	ents       []ent
	open       []mdOpen
	off        int
	inQuote    bool // a block quote is open
	quoteStart bool // a '>' here would start a block quote line
}

const reservedV2 = "_*[]()~`>#+-=|{}.!\n"

func reservedErr(s src, i int) *Error {
	return errAt(i, "Character '%c' is reserved and must be escaped with the preceding '\\'", s.at(i))
}

func (p *mdV2) top() *mdOpen { return &p.open[len(p.open)-1] }

func (p *mdV2) cantFindEnd() *Error {
	t := p.top()
	return errIn(t.bytePos, "Can't find end of %s entity at byte offset %d", t.kind, t.bytePos)
}

func parseMarkdownV2(text string) (string, []ent, error) {
	p := &mdV2{s: src(text), out: make([]byte, 0, len(text)), quoteStart: true}
	s := p.s
	for i := 0; i < len(s); i++ {
		c := s[i]
		if n := s.at(i + 1); c == '\\' && n > 0 && n <= 126 {
			i++
			p.off++
			p.out = append(p.out, n)
			if n != '\r' {
				p.quoteStart = n == '\n'
			}
			continue
		}
		reserved := reservedV2
		if len(p.open) > 0 {
			switch p.top().kind {
			case kCode, kPre, kPreCode:
				reserved = "`"
			}
		}
		if !strings.ContainsRune(reserved, rune(c)) || c >= 0x80 {
			if u := units(c); u > 0 {
				p.off += u
				if c != '\r' {
					p.quoteStart = false
				}
			}
			p.out = append(p.out, c)
			continue
		}
		var err error
		if p.endsEntity(i) {
			i, err = p.closeEntity(i)
		} else {
			i, err = p.openEntity(i)
		}
		if err != nil {
			return "", nil, err
		}
	}
	p.closeQuoteAtEnd()
	if len(p.open) > 0 {
		return "", nil, p.cantFindEnd()
	}
	return string(p.out), p.ents, nil
}

// closeQuoteAtEnd closes a block quote left open by the end of the text,
// expandable if the text ends with "||".
func (p *mdV2) closeQuoteAtEnd() {
	if !p.inQuote || len(p.open) == 0 {
		return
	}
	k := kBlockQuote
	if t := p.top(); t.kind == kSpoiler && t.bytePos == len(p.s)-2 {
		p.open = p.open[:len(p.open)-1]
		k = kExpandableBlockQuote
	}
	if len(p.open) > 0 && p.top().kind == kBlockQuote {
		p.inQuote = false
		if l := p.off - p.top().offset; l != 0 {
			p.ents = append(p.ents, ent{kind: k, offset: p.top().offset, length: l})
		}
		p.open = p.open[:len(p.open)-1]
	}
}

// endsEntity reports whether the reserved character at i closes the
// innermost open entity (or, a line break not followed by '>', the quote).
func (p *mdV2) endsEntity(i int) bool {
	if len(p.open) == 0 {
		return false
	}
	s := p.s
	c, n := s[i], s.at(i+1)
	if p.inQuote && c == '\n' && (i+1 == len(s) || n != '>') {
		return true
	}
	switch p.top().kind {
	case kBold:
		return c == '*'
	case kItalic:
		return c == '_' && n != '_'
	case kCode:
		return c == '`'
	case kPre, kPreCode:
		return c == '`' && n == '`' && s.at(i+2) == '`'
	case kTextURL, kCustomEmoji:
		return c == ']'
	case kUnderline:
		return c == '_' && n == '_'
	case kStrikethrough:
		return c == '~'
	case kSpoiler:
		return c == '|' && n == '|'
	}
	return false
}

// openEntity handles a reserved character that opens an entity, a line
// break or a quote line's '>'; it returns the index of the markup's last byte.
func (p *mdV2) openEntity(i int) (int, error) {
	s := p.s
	c, n := s[i], s.at(i+1)
	o := mdOpen{bytePos: i}
	switch c {
	case '_':
		o.kind = kItalic
		if n == '_' {
			o.kind = kUnderline
			i++
		}
	case '*':
		o.kind = kBold
	case '~':
		o.kind = kStrikethrough
	case '|', '!':
		// "||" opens a spoiler, "![" a custom emoji; alone they are reserved.
		second, k := byte('|'), kSpoiler
		if c == '!' {
			second, k = '[', kCustomEmoji
		}
		if n != second {
			return 0, reservedErr(s, i)
		}
		i++
		o.kind = k
	case '[':
		o.kind = kTextURL
	case '`':
		o.kind = kCode
		if n == '`' && s.at(i+2) == '`' {
			o.kind = kPre
			lang, next := preLanguage(s, i+3)
			if lang != "" {
				o.kind, o.arg = kPreCode, lang
			}
			i = skipPreNewline(s, next) - 1
		}
	case '\n':
		p.off++
		p.out = append(p.out, '\n')
		p.quoteStart = true
		return i, nil
	case '>':
		if !p.quoteStart {
			return 0, reservedErr(s, i)
		}
		if p.inQuote {
			return i, nil // the next line of the quote
		}
		o.kind = kBlockQuote
		p.inQuote = true
	default:
		return 0, reservedErr(s, i)
	}
	o.offset, o.outBegin = p.off, len(p.out)
	p.open = append(p.open, o)
	return i, nil
}

// closeEntity closes the innermost entity at i; it returns the index of the
// markup's last byte.
func (p *mdV2) closeEntity(i int) (int, error) {
	s := p.s
	t := p.top()
	k := t.kind
	if s[i] == '\n' && k != kBlockQuote {
		var err error
		if t, err = p.expandableQuoteEnd(i); err != nil {
			return 0, err
		}
		k = kExpandableBlockQuote
	}
	e := ent{kind: k, offset: t.offset, arg: t.arg}
	skip := p.off == t.offset
	var err error
	switch k {
	case kUnderline, kSpoiler:
		i++
	case kPre, kPreCode:
		i += 2
	case kTextURL:
		var ok bool
		if e, i, ok, err = p.closeLink(i, t); err != nil {
			return 0, err
		}
		skip = skip || !ok
	case kCustomEmoji:
		if i, e.id, err = customEmojiEnd(s, i); err != nil {
			return 0, err
		}
	case kBlockQuote, kExpandableBlockQuote:
		p.inQuote = false
		p.out = append(p.out, s[i])
		p.quoteStart = true
		p.off++
		skip = false
	}
	if !skip {
		e.length = p.off - e.offset
		p.ents = append(p.ents, e)
	}
	p.open = p.open[:len(p.open)-1]
	return i, nil
}

// expandableQuoteEnd handles a line break that ends a quote while an entity
// is open: allowed only for "||" right before it, which makes the quote
// expandable. It returns the quote.
func (p *mdV2) expandableQuoteEnd(i int) (*mdOpen, error) {
	t := p.top()
	if t.kind != kSpoiler || !(t.bytePos == i-2 || (t.bytePos == i-3 && len(p.out) != 0 && p.out[len(p.out)-1] == '\r')) {
		return nil, p.cantFindEnd()
	}
	p.open = p.open[:len(p.open)-1]
	if len(p.open) == 0 {
		return nil, errAt(i, "Can't find end of Spoiler entity")
	}
	if p.top().kind != kBlockQuote {
		return nil, p.cantFindEnd()
	}
	return p.top(), nil
}

// closeLink reads the (url) of the link t closed at i, if there is one;
// ok is false for a URL the Bot API drops.
func (p *mdV2) closeLink(i int, t *mdOpen) (_ ent, next int, ok bool, _ error) {
	url := string(p.out[t.outBegin:])
	if p.s.at(i+1) == '(' {
		var err error
		if url, i, err = mdURL(p.s, i+2); err != nil {
			return ent{}, 0, false, err
		}
	}
	e, ok := linkEntity(t.offset, 0, url)
	return e, i, ok, nil
}

// customEmojiEnd reads the (tg://emoji?id=N) after the ']' at i.
func customEmojiEnd(s src, i int) (next int, id int64, _ error) {
	if s.at(i+1) != '(' {
		return 0, 0, errAt(i, "The entity must contain a tg://emoji URL")
	}
	url, next, err := mdURL(s, i+2)
	if err != nil {
		return 0, 0, err
	}
	id, reason := customEmojiID(url)
	if reason != "" {
		return 0, 0, errAt(i+2, "%s", reason)
	}
	return next, id, nil
}

// mdURL reads the (...) part of a link from i, just after '(', unescaping
// it; next is the index of the closing ')'.
func mdURL(s src, i int) (url string, next int, _ error) {
	begin := i
	var b []byte
	for i < len(s) && s[i] != ')' {
		if n := s.at(i + 1); s[i] == '\\' && n > 0 && n <= 126 {
			b = append(b, n)
			i += 2
			continue
		}
		b = append(b, s[i])
		i++
	}
	if s.at(i) != ')' {
		return "", 0, errIn(begin, "Can't find end of a URL at byte offset %d", begin)
	}
	return string(b), i, nil
}
