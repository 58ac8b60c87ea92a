package markup

import (
	"errors"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// FuzzParse checks, for every mode, that Parse never panics, that errors
// point inside the input and that entities are valid UTF-16 ranges of the
// text that do not split a surrogate pair.
func FuzzParse(f *testing.F) {
	for _, s := range []string{docMarkdownV2, docHTML, docMarkdown, "", "*", "<b>", "&#x1F600;", ">a\n>b||",
		"```go\nx```", "[a](tg://user?id=1)", "![x](tg://emoji?id=1)", "<pre><code class=\"language-x\">y</code></pre>",
		"😀*😀*", "\\", "<a href=\"", "**>x||"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, mode := range Modes {
			text, ents, err := Parse(string(mode), in)
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("%s: %v is not an *Error", mode, err)
				}
				if pe.Offset < -1 || pe.Offset > len(in) {
					t.Fatalf("%s: offset %d outside %d bytes", mode, pe.Offset, len(in))
				}
				continue
			}
			if utf8.ValidString(in) && !utf8.ValidString(text) {
				t.Fatalf("%s: invalid UTF-8 out of valid input: %q", mode, text)
			}
			u := utf16.Encode([]rune(text))
			for _, e := range ents {
				o, l := e.GetOffset(), e.GetLength()
				if o < 0 || l <= 0 || o+l > len(u) {
					t.Fatalf("%s: %s [%d,+%d) outside %d code units of %q", mode, e.TypeName(), o, l, len(u), text)
				}
				if utf16.IsSurrogate(rune(u[o])) && o > 0 && utf16.IsSurrogate(rune(u[o-1])) && isHigh(u[o-1]) {
					t.Fatalf("%s: %s starts inside a surrogate pair", mode, e.TypeName())
				}
				if end := o + l; end < len(u) && isHigh(u[end-1]) {
					t.Fatalf("%s: %s ends inside a surrogate pair", mode, e.TypeName())
				}
			}
		}
	})
}

func isHigh(u uint16) bool { return u >= 0xD800 && u < 0xDC00 }
