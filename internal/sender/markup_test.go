package sender_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// controlMessages reads a private chat through the emulator's control API
// over HTTP, as a user of bin/tgemu would.
func controlMessages(t *testing.T, ctl *httptest.Server, env *emutest.Env, userID int64) []tgemu.Message {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/v1/users/%d/messages?bot_id=%d", ctl.URL, userID, env.BotID))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Messages []tgemu.Message `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.NotEmpty(t, out.Messages)
	return out.Messages
}

// TestParseModes sends with every parse mode through HTTP and MTProto and
// reads the entities back through the emulator's control API.
func TestParseModes(t *testing.T) {
	env := emutest.Start(t)
	ctl := httptest.NewServer(env.Server.Handler())
	t.Cleanup(ctl.Close)
	s := startSender(t, env, t.TempDir(), nil)
	alice := newUser(t, env, "Alice")
	bob := newUser(t, env, "Bob")

	e := func(typ string, offset, length int) tgemu.Entity {
		return tgemu.Entity{Type: typ, Offset: offset, Length: length}
	}
	cases := []struct {
		name, mode, text string
		want             string
		entities         []tgemu.Entity
	}{
		{"MarkdownV2", "MarkdownV2",
			"*b _i_* __u__ ~s~ ||sp|| `c` [l](https://example.com) [A](tg://user?id=" + fmt.Sprint(alice.ID) + ") " +
				"![👍](tg://emoji?id=5368324170671202286) 😀 \\. \n```go\nx := 1\n```\n>q1\n>q2\n**>e1\n>e2||",
			"b i u s sp c l A 👍 😀 . \nx := 1\n\nq1\nq2\ne1\ne2",
			[]tgemu.Entity{
				e("bold", 0, 3), e("italic", 2, 1), e("underline", 4, 1), e("strikethrough", 6, 1), e("spoiler", 8, 2),
				e("code", 11, 1), {Type: "text_link", Offset: 13, Length: 1, URL: "https://example.com/"},
				{Type: "text_mention", Offset: 15, Length: 1, UserID: alice.ID},
				{Type: "custom_emoji", Offset: 17, Length: 2, CustomEmojiID: "5368324170671202286"},
				{Type: "pre", Offset: 26, Length: 7, Language: "go"},
				e("blockquote", 34, 6), e("expandable_blockquote", 40, 5),
			}},
		{"HTML", "html",
			`<b>b <i>i</i></b> <u>u</u> <s>s</s> <tg-spoiler>sp</tg-spoiler> <a href="https://example.com/p">l</a> ` +
				`&lt;&amp;&gt; <pre><code class="language-go">x</code></pre><blockquote expandable>q</blockquote>`,
			"b i u s sp l <&> xq",
			[]tgemu.Entity{
				e("bold", 0, 3), e("italic", 2, 1), e("underline", 4, 1), e("strikethrough", 6, 1), e("spoiler", 8, 2),
				{Type: "text_link", Offset: 11, Length: 1, URL: "https://example.com/p"},
				{Type: "pre", Offset: 17, Length: 1, Language: "go"}, e("expandable_blockquote", 18, 1),
			}},
		{"legacy Markdown", "Markdown", "*b* _i_ `c` [l](https://example.com) 1.5 + (x)",
			"b i c l 1.5 + (x)",
			[]tgemu.Entity{e("bold", 0, 1), e("italic", 2, 1), e("code", 4, 1), {Type: "text_link", Offset: 6, Length: 1, URL: "https://example.com/"}}},
		{"CommonMark", "commonmark", "**b** and *i*", "b and i", []tgemu.Entity{e("bold", 0, 1), e("italic", 6, 1)}},
		{"plain", "", "*b* <i>x</i>", "*b* <i>x</i>", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": tc.text, "parse_mode": tc.mode}, nil)
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			msgs := controlMessages(t, ctl, env, bob.ID)
			last := msgs[len(msgs)-1]
			require.EqualValues(t, resp.JSON(t)["message_id"], last.ID)
			require.Equal(t, tc.want, last.Text)
			require.Equal(t, tc.entities, last.Entities)
		})
	}

	t.Run("caption", func(t *testing.T) {
		doc := s.upload(t, "report.txt", "text/plain", strings.NewReader("numbers"))
		require.Equal(t, http.StatusCreated, doc.Status, string(doc.Body))
		id := doc.JSON(t)["document_id"]
		resp := s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": id,
			"caption": "*Q3* report\\!", "parse_mode": "MarkdownV2"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		msgs := controlMessages(t, ctl, env, bob.ID)
		last := msgs[len(msgs)-1]
		require.Equal(t, "Q3 report!", last.Text)
		require.Equal(t, []tgemu.Entity{e("bold", 0, 2)}, last.Entities)
	})

	t.Run("malformed markup is refused before anything is sent", func(t *testing.T) {
		before := len(controlMessages(t, ctl, env, bob.ID))
		doc := s.upload(t, "r.txt", "text/plain", strings.NewReader("x")).JSON(t)["document_id"]
		cases := []struct {
			name, path string
			body       any
			field, msg string
		}{
			{"reserved character", "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": "Total: 1.5", "parse_mode": "MarkdownV2"},
				"text", `can't parse entities: Character '.' is reserved and must be escaped with the preceding '\' at byte offset 8`},
			{"unclosed tag", "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": "<b>bold", "parse_mode": "HTML"},
				"text", `can't parse entities: Can't find end tag corresponding to start tag "b" at byte offset 0`},
			{"unknown tag", "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": "<p>x</p>", "parse_mode": "html"},
				"text", `can't parse entities: Unsupported start tag "p" at byte offset 0`},
			{"legacy unmatched", "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": "snake_case", "parse_mode": "markdown"},
				"text", "can't parse entities: Can't find end of the entity starting at byte offset 5"},
			{"caption", "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": doc, "caption": "*x", "parse_mode": "MarkdownV2"},
				"caption", "can't parse entities: Can't find end of Bold entity at byte offset 0"},
			{"album caption", "/api_v1/send_media_group", map[string]any{"chat_id": bob.ID, "parse_mode": "MarkdownV2", "items": []map[string]any{
				{"document_id": doc, "type": "document"}, {"document_id": doc, "type": "document", "caption": "1+1"}}},
				"items[1].caption", `can't parse entities: Character '+' is reserved and must be escaped with the preceding '\' at byte offset 1`},
			{"edit", "/api_v1/edit_message", map[string]any{"chat_id": bob.ID, "message_id": 1, "text": "<tg-time>x</tg-time>", "parse_mode": "HTML"},
				"text", `can't parse entities: Unsupported start tag "tg-time" at byte offset 0`},
			{"list item", "/api_v1/send_multiple_message", []map[string]any{{"chat_id": bob.ID, "text": "ok"},
				{"chat_id": alice.ID, "text": "a_b", "parse_mode": "MarkdownV2"}},
				"[1].text", "can't parse entities: Can't find end of Italic entity at byte offset 1"},
			{"job template", "/api_v1/send_multiple_message", map[string]any{"chat_ids": []int64{bob.ID, alice.ID}, "async": true,
				"text": "<i>x</b>", "parse_mode": "HTML"},
				"text", `can't parse entities: Unmatched end tag at byte offset 4, expected "</i>", found "</b>"`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := s.postJSON(t, tc.path, tc.body, nil)
				require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
				e := resp.JSON(t)["error"].(map[string]any)
				require.Equal(t, "invalid_markup", e["code"])
				require.Equal(t, tc.field, e["field"])
				require.Equal(t, tc.msg, e["message"])
			})
		}
		require.Len(t, controlMessages(t, ctl, env, bob.ID), before, "nothing was sent")
	})
}
