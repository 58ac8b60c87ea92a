package send

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChatIDs(t *testing.T) {
	cases := []struct {
		chatID int64
		kind   PeerKind
		id     int64
	}{
		{123, PeerUser, 123},
		{-456, PeerChat, 456},
		{-1001234567890, PeerChannel, 1234567890},
		{-999999999999, PeerChat, 999999999999},
		{-1000000000001, PeerChannel, 1},
	}
	for _, tc := range cases {
		kind, id, ok := SplitChatID(tc.chatID)
		require.True(t, ok)
		require.Equal(t, tc.kind, kind, tc.chatID)
		require.Equal(t, tc.id, id, tc.chatID)
		require.Equal(t, tc.chatID, JoinChatID(kind, id))
	}
	for _, none := range []int64{0, -1000000000000, -2000000000005, 1 << 41} {
		_, _, ok := SplitChatID(none)
		require.False(t, ok, "%d names no user, group or channel", none)
	}
}

func TestUTF16Len(t *testing.T) {
	require.Equal(t, 0, UTF16Len(""))
	require.Equal(t, 5, UTF16Len("héllo"))
	require.Equal(t, 2, UTF16Len("😀"))
	require.Equal(t, 1, UTF16Len("\xff"))
}

func TestValidate(t *testing.T) {
	ok := Request{Recipient: Recipient{ChatID: 1}, Text: "hi"}
	cases := []struct {
		name  string
		edit  func(r *Request)
		field string
	}{
		{"valid", func(*Request) {}, ""},
		{"valid username", func(r *Request) { r.ChatID, r.Username = 0, "@some_user" }, ""},
		{"valid document without caption", func(r *Request) { r.Text, r.DocumentID = "", "doc_1" }, ""},
		{"max text", func(r *Request) { r.Text = strings.Repeat("a", MaxTextLen) }, ""},
		{"text too long", func(r *Request) { r.Text = strings.Repeat("a", MaxTextLen+1) }, "text"},
		{"empty text", func(r *Request) { r.Text = "" }, "text"},
		{"caption too long", func(r *Request) { r.DocumentID, r.Text = "d", strings.Repeat("é", MaxCaptionLen+1) }, "caption"},
		{"no recipient", func(r *Request) { r.ChatID = 0 }, "chat_id"},
		{"two recipients", func(r *Request) { r.Username = "some_user" }, "chat_id"},
		{"short username", func(r *Request) { r.ChatID, r.Username = 0, "abc" }, "username"},
		{"unknown parse mode", func(r *Request) { r.ParseMode = "markdownv3" }, "parse_mode"},
		{"markdownv2", func(r *Request) { r.ParseMode, r.Text = "markdownv2", `*hi\.*` }, ""},
		{"bad markdownv2", func(r *Request) { r.ParseMode, r.Text = "MarkdownV2", "hi." }, "text"},
		{"bad html caption", func(r *Request) { r.ParseMode, r.DocumentID, r.Text = "html", "d", "<b>x" }, "caption"},
		{"markup leaves nothing", func(r *Request) { r.ParseMode, r.Text = "HTML", "<b> </b>" }, "text"},
		{"long markup, short text", func(r *Request) { r.ParseMode, r.Text = "HTML", "<b>"+strings.Repeat("a", MaxTextLen)+"</b>" }, ""},
		{"long text after markup", func(r *Request) { r.ParseMode, r.Text = "HTML", strings.Repeat("&amp;", MaxTextLen/4)+"<b>a</b>" }, ""},
		{"empty row", func(r *Request) { r.Buttons = [][]Button{{}} }, "buttons[0]"},
		{"button without text", func(r *Request) { r.Buttons = [][]Button{{{CallbackData: "x"}}} }, "buttons[0][0].text"},
		{"button without action", func(r *Request) { r.Buttons = [][]Button{{{Text: "x"}}} }, "buttons[0][0]"},
		{"callback too long", func(r *Request) { r.Buttons = [][]Button{{{Text: "x", CallbackData: strings.Repeat("d", 65)}}} }, "buttons[0][0].callback_data"},
		{"ftp url", func(r *Request) { r.Buttons = [][]Button{{{Text: "x", URL: "ftp://a.b"}}} }, "buttons[0][0].url"},
		{"tg url", func(r *Request) { r.Buttons = [][]Button{{{Text: "x", URL: "tg://resolve?domain=a"}}} }, ""},
		{"too many buttons", func(r *Request) {
			row := make([]Button, 101)
			for i := range row {
				row[i] = Button{Text: "b", CallbackData: "c"}
			}
			r.Buttons = [][]Button{row}
		}, "buttons"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			r.Normalize()
			err := r.Validate("")
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			e := As(err)
			require.Equal(t, KindInvalid, e.Kind)
			require.Equal(t, tc.field, e.Field)
		})
	}
}

func TestCheckTextErrors(t *testing.T) {
	err := CheckText("[1].text", "[1].parse_mode", "MarkdownV2", "Hello.", true, MaxTextLen)
	e := As(err)
	require.Equal(t, "invalid_markup", e.Code)
	require.Equal(t, "[1].text", e.Field)
	require.Equal(t, `can't parse entities: Character '.' is reserved and must be escaped with the preceding '\' at byte offset 5`, e.Message)

	e = As(CheckText("text", "parse_mode", "md", "x", true, MaxTextLen))
	require.Equal(t, "invalid_argument", e.Code)
	require.Equal(t, "parse_mode", e.Field)

	e = As(CheckText("[0].text", "[0].parse_mode", "html", "<i></i>", true, MaxTextLen))
	require.Equal(t, "text is empty once HTML markup is removed", e.Message)
	require.Equal(t, "[0].text", e.Field)
}

func TestErrorPublic(t *testing.T) {
	e := &Error{Kind: KindFlood, Code: "flood_wait", RetryAfter: 1500e6}
	p := e.Public()
	require.Equal(t, 2, p.RetryAfter, "rounded up")
	require.Equal(t, "flood_wait", p.Message)
	require.Equal(t, KindInternal, As(errTest{}).Kind)
	require.Equal(t, "refused", KindRefused.String())
}

type errTest struct{}

func (errTest) Error() string { return "x" }

func TestSpoolRemovesUnlessKept(t *testing.T) {
	dir := t.TempDir()
	spooled := func() *Spool {
		f, err := os.CreateTemp(dir, "upload-*.part")
		require.NoError(t, err)
		_, err = f.WriteString("data")
		require.NoError(t, err)
		return NewSpool(f)
	}
	dropped := spooled()
	require.NoError(t, dropped.Close())
	_, err := os.Stat(dropped.File().Name())
	require.ErrorIs(t, err, os.ErrNotExist, "an unkept spool is removed")

	kept := spooled()
	path := filepath.Join(dir, "doc_1")
	require.NoError(t, kept.Keep(path))
	require.NoError(t, kept.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "data", string(b))

	require.NotZero(t, RandomID())
}
