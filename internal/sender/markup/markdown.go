package markup

// parseMarkdown is TDLib's parse_markdown, the Bot API's legacy "Markdown":
// *bold*, _italic_, `code`, ```pre```, [text](url); no nesting, and only
// _ * ` [ can be escaped.
func parseMarkdown(text string) (string, []ent, error) {
	s := src(text)
	size := len(s)
	out := make([]byte, 0, len(text))
	var ents []ent
	off := 0
	for i := 0; i < size; i++ {
		c := s[i]
		if n := s.at(i + 1); c == '\\' && isLegacyMarkup(n) {
			i++
			out = append(out, n)
			off++
			continue
		}
		if !isLegacyMarkup(c) {
			off += units(c)
			out = append(out, c)
			continue
		}
		begin := i
		end := c
		if c == '[' {
			end = ']'
		}
		i++
		var isPre bool
		var lang string
		isPre, lang, i = legacyPre(s, i)
		entOff := off
		for i < size && (s[i] != end || (isPre && !(s.at(i+1) == '`' && s.at(i+2) == '`'))) {
			off += units(s[i])
			out = append(out, s[i])
			i++
		}
		if i >= size {
			return "", nil, errIn(begin, "Can't find end of the entity starting at byte offset %d", begin)
		}
		if entOff != off {
			var e ent
			var ok bool
			e, ok, i = legacyEntity(s, begin, i, ent{offset: entOff, length: off - entOff}, isPre, lang)
			if ok {
				ents = append(ents, e)
			}
		}
		if isPre {
			i += 2
		}
	}
	return string(out), ents, nil
}

// legacyPre reads the start of a ``` block whose first backquote is at i-1:
// isPre, the language, and the index of the block's first byte.
func legacyPre(s src, i int) (isPre bool, lang string, next int) {
	if s.at(i-1) != '`' || s.at(i) != '`' || s.at(i+1) != '`' {
		return false, "", i
	}
	lang, i = preLanguage(s, i+2)
	return true, lang, skipPreNewline(s, i)
}

// legacyEntity completes e, the entity opened at begin and closed at end;
// for a link it reads the (url) after end and returns the index of its ')'.
func legacyEntity(s src, begin, end int, e ent, isPre bool, lang string) (_ ent, ok bool, next int) {
	switch s[begin] {
	case '_':
		e.kind = kItalic
	case '*':
		e.kind = kBold
	case '[':
		var url string
		if s.at(end+1) != '(' {
			url = string(s[begin+1 : end])
		} else {
			end += 2
			urlBegin := end
			for end < len(s) && s[end] != ')' {
				end++
			}
			url = string(s[urlBegin:end])
		}
		e, ok = linkEntity(e.offset, e.length, url)
		return e, ok, end
	case '`':
		e.kind = kCode
		if isPre {
			e.kind = kPre
			if lang != "" {
				e.kind, e.arg = kPreCode, lang
			}
		}
	}
	return e, true, end
}

func isLegacyMarkup(c byte) bool { return c == '_' || c == '*' || c == '`' || c == '[' }
