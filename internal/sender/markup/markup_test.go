package markup

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"
)

var rangeNames = map[string]string{"messageEntityBold": "bold", "messageEntityItalic": "italic",
	"messageEntityUnderline": "underline", "messageEntityStrike": "strikethrough", "messageEntitySpoiler": "spoiler",
	"messageEntityCode": "code"}

// describe renders entities as "type(argument):covered text", which checks
// the UTF-16 offsets and lengths through the text they cover.
func describe(t testing.TB, text string, ents []tg.MessageEntityClass) []string {
	t.Helper()
	u := utf16.Encode([]rune(text))
	out := []string{}
	for _, e := range ents {
		o, l := e.GetOffset(), e.GetLength()
		require.True(t, o >= 0 && l > 0 && o+l <= len(u), "entity %v outside %d code units", e, len(u))
		covered := string(utf16.Decode(u[o : o+l]))
		name := rangeNames[e.TypeName()]
		switch e := e.(type) {
		case *tg.MessageEntityPre:
			name = "pre"
			if e.Language != "" {
				name += "(" + e.Language + ")"
			}
		case *tg.MessageEntityTextURL:
			name = "text_link(" + e.URL + ")"
		case *tg.InputMessageEntityMentionName:
			name = fmt.Sprintf("text_mention(%d)", e.UserID.(*tg.InputUser).UserID)
		case *tg.MessageEntityMentionName:
			name = fmt.Sprintf("text_mention(%d)", e.UserID)
		case *tg.MessageEntityCustomEmoji:
			name = fmt.Sprintf("custom_emoji(%d)", e.DocumentID)
		case *tg.MessageEntityBlockquote:
			name = "blockquote"
			if e.Collapsed {
				name = "expandable_blockquote"
			}
		}
		if name == "" {
			name = e.TypeName()
		}
		out = append(out, name+":"+covered)
	}
	return out
}

type parseCase struct {
	name string
	in   string
	text string   // plain text expected
	ents []string // describe() of the entities expected
	err  string   // or the error expected (its Reason)
}

func runCases(t *testing.T, mode Mode, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, ents, err := Parse(string(mode), tc.in)
			if tc.err != "" {
				var pe *Error
				require.ErrorAs(t, err, &pe)
				require.Equal(t, tc.err, pe.Reason)
				require.Equal(t, "can't parse entities: "+tc.err, err.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.text, text)
			want := tc.ents
			if want == nil {
				want = []string{}
			}
			require.Equal(t, want, describe(t, text, ents))
		})
	}
}

const docMarkdownV2 = "*bold \\*text*\n" +
	"_italic \\*text_\n" +
	"__underline__\n" +
	"~strikethrough~\n" +
	"||spoiler||\n" +
	"*bold _italic bold ~italic bold strikethrough ||italic bold strikethrough spoiler||~ __underline italic bold___ bold*\n" +
	"[inline URL](http://www.example.com/)\n" +
	"[inline mention of a user](tg://user?id=123456789)\n" +
	"![👍](tg://emoji?id=5368324170671202286)\n" +
	"`inline fixed-width code`\n" +
	"```\npre-formatted fixed-width code block\n```\n" +
	"```python\npre-formatted fixed-width code block written in the Python programming language\n```\n" +
	">Block quotation started\n" +
	">Block quotation continued\n" +
	">The last line of the block quotation\n" +
	"**>The expandable block quotation started right after the previous block quotation\n" +
	">It is separated from the previous block quotation by an empty bold entity\n" +
	">The last line of the expandable block quotation with the expandability mark||"

// docNested is what the documentation's MarkdownV2 and HTML examples share:
// the nested entities, links, the custom emoji and code.
var docNested = []string{
	"bold:bold italic bold italic bold strikethrough italic bold strikethrough spoiler underline italic bold bold",
	"italic:italic bold italic bold strikethrough italic bold strikethrough spoiler underline italic bold",
	"strikethrough:italic bold strikethrough italic bold strikethrough spoiler",
	"spoiler:italic bold strikethrough spoiler",
	"underline:underline italic bold",
	"text_link(http://www.example.com/):inline URL",
	"text_mention(123456789):inline mention of a user",
	"custom_emoji(5368324170671202286):👍",
	"code:inline fixed-width code",
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestMarkdownV2(t *testing.T) {
	docText := "bold *text\nitalic *text\nunderline\nstrikethrough\nspoiler\n" +
		"bold italic bold italic bold strikethrough italic bold strikethrough spoiler underline italic bold bold\n" +
		"inline URL\ninline mention of a user\n👍\ninline fixed-width code\n" +
		"pre-formatted fixed-width code block\n\n" +
		"pre-formatted fixed-width code block written in the Python programming language\n\n" +
		"Block quotation started\nBlock quotation continued\nThe last line of the block quotation\n" +
		"The expandable block quotation started right after the previous block quotation\n" +
		"It is separated from the previous block quotation by an empty bold entity\n" +
		"The last line of the expandable block quotation with the expandability mark"
	runCases(t, MarkdownV2, []parseCase{
		{name: "documentation example", in: docMarkdownV2, text: docText, ents: concat([]string{
			"bold:bold *text",
			"italic:italic *text",
			"underline:underline",
			"strikethrough:strikethrough",
			"spoiler:spoiler"}, docNested, []string{
			"pre:pre-formatted fixed-width code block\n",
			"pre(python):pre-formatted fixed-width code block written in the Python programming language\n",
			"blockquote:Block quotation started\nBlock quotation continued\nThe last line of the block quotation\n",
			"expandable_blockquote:The expandable block quotation started right after the previous block quotation\n" +
				"It is separated from the previous block quotation by an empty bold entity\n" +
				"The last line of the expandable block quotation with the expandability mark",
		})},
		{name: "plain", in: "hello world", text: "hello world"},
		{name: "escapes", in: `1\+1\=2\. \\o/ \_\*\[\]\(\)\~\` + "`" + `\>\#\-\|\{\}\!`, text: "1+1=2. \\o/ _*[]()~`>#-|{}!"},
		{name: "utf-16 offsets", in: "😀 *bold 😀* ok", text: "😀 bold 😀 ok", ents: []string{"bold:bold 😀"}},
		{name: "reserved inside code", in: "`a_b*c.d` x", text: "a_b*c.d x", ents: []string{"code:a_b*c.d"}},
		{name: "escaped backquote in pre", in: "```go\nfmt.Print(\"\\`\")\n```", text: "fmt.Print(\"`\")\n", ents: []string{"pre(go):fmt.Print(\"`\")\n"}},
		{name: "pre without newline", in: "```x```", text: "x", ents: []string{"pre:x"}},
		{name: "link escapes", in: `[a](http://x.com/\(1\))`, text: "a", ents: []string{"text_link(http://x.com/(1)):a"}},
		{name: "link without url uses text", in: `[http://x\.com]`, text: "http://x.com", ents: []string{"text_link(http://x.com/):http://x.com"}},
		{name: "invalid link dropped", in: `[click](javascript:alert\(1\))`, text: "click"},
		{name: "link without scheme", in: "[a](example.com/p)", text: "a", ents: []string{"text_link(http://example.com/p):a"}},
		{name: "tg link", in: "[a](tg://resolve?domain=durov)", text: "a", ents: []string{"text_link(tg://resolve?domain=durov):a"}},
		{name: "empty entity dropped", in: "**x", text: "x"},
		{name: "empty bold", in: "a**b", text: "ab"},
		{name: "italic and underline", in: "___a_ b__", text: "a b", ents: []string{"underline:a b", "italic:a"}},
		{name: "newline inside bold", in: "*a\nb*", text: "a\nb", ents: []string{"bold:a\nb"}},
		{name: "quote then text", in: ">q\nx", text: "q\nx", ents: []string{"blockquote:q\n"}},
		{name: "quote at end", in: "x\n>q", text: "x\nq", ents: []string{"blockquote:q"}},
		{name: "bold in quote", in: ">*b* q", text: "b q", ents: []string{"blockquote:b q", "bold:b"}},
		{name: "unescaped dot", in: "Hello.", err: `Character '.' is reserved and must be escaped with the preceding '\' at byte offset 5`},
		{name: "unescaped minus", in: "a - b", err: `Character '-' is reserved and must be escaped with the preceding '\' at byte offset 2`},
		{name: "gt mid line", in: "a > b", err: `Character '>' is reserved and must be escaped with the preceding '\' at byte offset 2`},
		{name: "single pipe", in: "a|b", err: `Character '|' is reserved and must be escaped with the preceding '\' at byte offset 1`},
		{name: "bang", in: "hi!", err: `Character '!' is reserved and must be escaped with the preceding '\' at byte offset 2`},
		{name: "unclosed bold", in: "*bold", err: "Can't find end of Bold entity at byte offset 0"},
		{name: "unclosed italic", in: "x _it", err: "Can't find end of Italic entity at byte offset 2"},
		{name: "unclosed code", in: "`code", err: "Can't find end of Code entity at byte offset 0"},
		{name: "unclosed pre", in: "```\ncode", err: "Can't find end of Pre entity at byte offset 0"},
		{name: "unclosed spoiler", in: "||s", err: "Can't find end of Spoiler entity at byte offset 0"},
		{name: "unclosed url", in: "[a](http://x.com", err: "Can't find end of a URL at byte offset 4"},
		{name: "bold across quote end", in: ">*b\nx*", err: "Can't find end of Bold entity at byte offset 1"},
		{name: "emoji without url", in: "![x]", err: "The entity must contain a tg://emoji URL at byte offset 3"},
		{name: "emoji bad id", in: "![x](tg://emoji?id=abc)", err: "Invalid custom emoji identifier specified at byte offset 5"},
		{name: "emoji other link", in: "![x](https://x.com)", err: "Invalid tg://emoji URL specified at byte offset 5"},
		{name: "unmatched close", in: "a]", err: `Character ']' is reserved and must be escaped with the preceding '\' at byte offset 1`},
		{name: "invalid utf-8", in: "ok \xff", err: "Strings must be encoded in UTF-8 at byte offset 3"},
	})
}

const docHTML = `<b>bold</b>, <strong>bold</strong>
<i>italic</i>, <em>italic</em>
<u>underline</u>, <ins>underline</ins>
<s>strikethrough</s>, <strike>strikethrough</strike>, <del>strikethrough</del>
<span class="tg-spoiler">spoiler</span>, <tg-spoiler>spoiler</tg-spoiler>
<b>bold <i>italic bold <s>italic bold strikethrough <span class="tg-spoiler">italic bold strikethrough spoiler</span></s> <u>underline italic bold</u></i> bold</b>
<a href="http://www.example.com/">inline URL</a>
<a href="tg://user?id=123456789">inline mention of a user</a>
<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>
<code>inline fixed-width code</code>
<pre>pre-formatted fixed-width code block</pre>
<pre><code class="language-python">pre-formatted fixed-width code block written in the Python programming language</code></pre>
<blockquote>Block quotation started
Block quotation continued</blockquote>
<blockquote expandable>Expandable block quotation started
Hidden by default part</blockquote>`

func TestHTML(t *testing.T) {
	docText := `bold, bold
italic, italic
underline, underline
strikethrough, strikethrough, strikethrough
spoiler, spoiler
bold italic bold italic bold strikethrough italic bold strikethrough spoiler underline italic bold bold
inline URL
inline mention of a user
👍
inline fixed-width code
pre-formatted fixed-width code block
pre-formatted fixed-width code block written in the Python programming language
Block quotation started
Block quotation continued
Expandable block quotation started
Hidden by default part`
	runCases(t, HTML, []parseCase{
		{name: "documentation example", in: docHTML, text: docText, ents: concat([]string{
			"bold:bold", "bold:bold", "italic:italic", "italic:italic", "underline:underline", "underline:underline",
			"strikethrough:strikethrough", "strikethrough:strikethrough", "strikethrough:strikethrough",
			"spoiler:spoiler", "spoiler:spoiler"}, docNested, []string{
			"pre:pre-formatted fixed-width code block",
			"pre(python):pre-formatted fixed-width code block written in the Python programming language",
			"blockquote:Block quotation started\nBlock quotation continued",
			"expandable_blockquote:Expandable block quotation started\nHidden by default part",
		})},
		{name: "character references", in: "&lt;b&gt; &amp; &quot;q&quot; &#65;&#x1F600; &nbsp; &amp", text: "<b> & \"q\" A😀 &nbsp; &", ents: nil},
		{name: "utf-16 offsets", in: "&#x1F600;<b>😀x</b>", text: "😀😀x", ents: []string{"bold:😀x"}},
		{name: "case and spaces", in: "<B >x</b ><I>y</>", text: "xy", ents: []string{"bold:x", "italic:y"}},
		{name: "unquoted and single-quoted attributes", in: "<a href='https://x.com/a?b=1&amp;c=2'>l</a><code class=language-go>c</code>", text: "lc",
			ents: []string{"text_link(https://x.com/a?b=1&c=2):l", "code:c"}},
		{name: "pre code reversed", in: `<code class="language-go"><pre>x</pre></code>`, text: "x", ents: []string{"pre(go):x"}},
		{name: "empty href uses text", in: "<a>https://x.com</a>", text: "https://x.com", ents: []string{"text_link(https://x.com/):https://x.com"}},
		{name: "invalid link dropped", in: `<a href="javascript:alert(1)">x</a>`, text: "x"},
		{name: "empty tags dropped", in: "<b></b>x<i></i>", text: "x"},
		{name: "unknown attributes ignored", in: `<b class="x" data-y>b</b>`, text: "b", ents: []string{"bold:b"}},
		{name: "unclosed tag", in: "<b>bold", err: `Can't find end tag corresponding to start tag "b" at byte offset 0`},
		{name: "unknown tag", in: "<p>x</p>", err: `Unsupported start tag "p" at byte offset 0`},
		{name: "bare less-than", in: "1 < 2", err: `Unsupported start tag "" at byte offset 2`},
		{name: "unmatched end tag", in: "<b>x</i>", err: `Unmatched end tag at byte offset 4, expected "</b>", found "</i>"`},
		{name: "unexpected end tag", in: "x</b>", err: "Unexpected end tag at byte offset 1"},
		{name: "unclosed start tag", in: "x <b", err: "Unclosed start tag at byte offset 2"},
		{name: "unclosed end tag", in: "<b>x</b", err: "Unclosed end tag at byte offset 4"},
		{name: "span without class", in: "<span>x</span>", err: `Tag "span" must have class "tg-spoiler" at byte offset 0`},
		{name: "bad name token", in: "<a href=http://x.com>x</a>", err: "Unexpected end of name token at byte offset 8"},
		{name: "empty attribute name", in: `<b ="x">y</b>`, err: `Empty attribute name in the tag "b" at byte offset 0`},
		{name: "bad emoji id", in: `<tg-emoji emoji-id="x">y</tg-emoji>`, err: "Invalid custom emoji identifier specified at byte offset 0"},
		{name: "surrogate reference", in: "a&#xD83D;", err: "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units at byte offset 1"},
	})
}

const docMarkdown = "*bold text*\n_italic text_\n[inline URL](http://www.example.com/)\n" +
	"[inline mention of a user](tg://user?id=123456789)\n`inline fixed-width code`\n" +
	"```\npre-formatted fixed-width code block\n```\n" +
	"```python\npre-formatted fixed-width code block written in the Python programming language\n```"

func TestMarkdown(t *testing.T) {
	runCases(t, Markdown, []parseCase{
		{name: "documentation example", in: docMarkdown,
			text: "bold text\nitalic text\ninline URL\ninline mention of a user\ninline fixed-width code\n" +
				"pre-formatted fixed-width code block\n\n" +
				"pre-formatted fixed-width code block written in the Python programming language\n",
			ents: []string{
				"bold:bold text", "italic:italic text", "text_link(http://www.example.com/):inline URL",
				"text_mention(123456789):inline mention of a user", "code:inline fixed-width code",
				"pre:pre-formatted fixed-width code block\n",
				"pre(python):pre-formatted fixed-width code block written in the Python programming language\n",
			}},
		{name: "reserved characters of MarkdownV2 are plain", in: "1+1=2. (ok) - > | !", text: "1+1=2. (ok) - > | !"},
		{name: "escapes", in: `\_a\* \[b\` + "`", text: "_a* [b`"},
		{name: "other backslashes kept", in: `a\b\.`, text: `a\b\.`},
		{name: "no nesting", in: "*a _b_ c*", text: "a _b_ c", ents: []string{"bold:a _b_ c"}},
		{name: "utf-16 offsets", in: "😀 _😀_", text: "😀 😀", ents: []string{"italic:😀"}},
		{name: "link text as url", in: "[https://x.com]", text: "https://x.com", ents: []string{"text_link(https://x.com/):https://x.com"}},
		{name: "unclosed bold", in: "*bold", err: "Can't find end of the entity starting at byte offset 0"},
		{name: "snake case needs escaping", in: "use snake_case", err: "Can't find end of the entity starting at byte offset 9"},
		{name: "unclosed pre", in: "```go\nx``", err: "Can't find end of the entity starting at byte offset 0"},
	})
}

func TestCommonMark(t *testing.T) {
	text, ents, err := Parse("commonmark", "**bold** and *italic*, [l](https://x.com)")
	require.NoError(t, err)
	require.Equal(t, "bold and italic, l", text)
	require.Equal(t, []string{"bold:bold", "italic:italic", "text_link(https://x.com):l"}, describe(t, text, ents))
	// Lenient: unmatched markup is text.
	text, _, err = Parse("CommonMark", "*a")
	require.NoError(t, err)
	require.Equal(t, "*a", text)
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{
		"": Plain, " ": Plain, "html": HTML, "HTML": HTML, "MarkdownV2": MarkdownV2, "markdownv2": MarkdownV2,
		"Markdown": Markdown, "MARKDOWN": Markdown, "commonmark": CommonMark, " CommonMark ": CommonMark,
	} {
		got, ok := ParseMode(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"md", "markdown2", "text", "plain"} {
		_, ok := ParseMode(in)
		require.False(t, ok, in)
		_, _, err := Parse(in, "x")
		require.True(t, errors.Is(err, ErrUnknownMode), in)
		require.Contains(t, err.Error(), `"MarkdownV2"`)
	}
	text, ents, err := Parse("", "<b>*raw*</b>")
	require.NoError(t, err)
	require.Equal(t, "<b>*raw*</b>", text)
	require.Empty(t, ents)
}

func TestLinks(t *testing.T) {
	for in, want := range map[string]string{
		"http://www.example.com/":     "http://www.example.com/",
		"HTTPS://Example.COM":         "https://example.com/",
		"example.com?q=1#f":           "http://example.com/?q=1#f",
		"https://user@x.com:8443/p":   "https://user@x.com:8443/p",
		"tg://resolve?domain=x":       "tg://resolve?domain=x",
		"TG:resolve/?domain=x":        "tg://resolve?domain=x",
		"tonsite://a.ton/x":           "tonsite://a.ton/x",
		"javascript:alert(1)":         "",
		"ftp://x.com/":                "",
		"localhost":                   "",
		"http://exa mple.com":         "",
		"tg://http://x.com":           "",
		"https://x.com:99999/":        "",
		"https://x.com/a b":           "",
		"tg://bad.host?x=1":           "",
		"https://xn--80ak6aa92e.com/": "https://xn--80ak6aa92e.com/",
	} {
		got, ok := checkedLink(in)
		require.Equal(t, want != "", ok, in)
		require.Equal(t, want, got, in)
	}
	for in, want := range map[string]int64{
		"tg://user?id=42": 42, "TG://USER?ID=42": 42, "tg:user?id=42": 42, "tg://user/?x=1&id=7#f": 7,
		"tg://user?id=0": 0, "tg://user?id=-1": 0, "tg://user?id=+1": 0, "tg://users?id=1": 0, "tg://user": 0,
	} {
		got, ok := linkUserID(in)
		require.Equal(t, want != 0, ok, in)
		require.Equal(t, want, got, in)
	}
}

func TestErrorOffsetsPointAtTheProblem(t *testing.T) {
	for _, tc := range []struct{ mode, in, at string }{
		{"MarkdownV2", "ok *x* then.", "."},
		{"MarkdownV2", "a *b _c", "_c"},
		{"HTML", "a <b>c</b> <x>", "<x>"},
		{"HTML", "a <b>c</i>", "</i>"},
		{"Markdown", "a *b", "*b"},
	} {
		_, _, err := Parse(tc.mode, tc.in)
		var pe *Error
		require.ErrorAs(t, err, &pe, tc.in)
		require.True(t, strings.HasPrefix(tc.in[pe.Offset:], tc.at), "%q: offset %d", tc.in, pe.Offset)
		require.Contains(t, pe.Reason, fmt.Sprintf("byte offset %d", pe.Offset))
	}
}
