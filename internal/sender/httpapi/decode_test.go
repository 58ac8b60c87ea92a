package httpapi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

func TestDecodeBulk(t *testing.T) {
	b, err := DecodeBulkMessages([]byte(` [{"chat_id":1,"text":"a"},{"username":"@some_user","text":"b","parse_mode":"HTML"}]`), 10)
	require.NoError(t, err)
	require.Equal(t, 2, b.Len())
	require.Equal(t, "some_user", b.Request(1).Username)
	require.Equal(t, send.ParseHTML, b.Request(1).ParseMode)
	require.False(t, b.Async)

	b, err = DecodeBulkMessages([]byte(`{"chat_ids":[1,-100123],"usernames":["some_user"],"text":"x","async":true}`), 10)
	require.NoError(t, err)
	require.Equal(t, 3, b.Len())
	require.True(t, b.Async)
	require.Equal(t, int64(-100123), b.Request(1).ChatID)
	require.Equal(t, "x", b.Request(2).Text)

	_, err = DecodeBulkMessages([]byte(`{"chat_ids":[1,2,3],"text":"x"}`), 2)
	require.Equal(t, send.KindInvalid, send.As(err).Kind)

	d, err := DecodeBulkDocuments([]byte(`{"chat_ids":[1],"document_id":"doc_1","caption":"c"}`), 10)
	require.NoError(t, err)
	require.True(t, d.Request(0).IsDocument())
	require.Equal(t, "c", d.Request(0).Text)
	_, err = DecodeBulkDocuments([]byte(`[{"chat_id":1}]`), 10)
	require.Equal(t, "[0].document_id", send.As(err).Field)
	_, err = DecodeBulkDocuments([]byte(`[{"chat_id":1,"document_id":"d","text":"x"}]`), 10)
	require.Equal(t, "[0].text", send.As(err).Field, "send_document has caption, not text")
	require.Contains(t, send.As(err).Message, "caption", "the valid fields are listed")
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		`{"chat_id":1,"text":5}`:                             "text",
		`{"chat_id":1.5,"text":"x"}`:                         "chat_id",
		`{"chat_id":1,"text":"x","buttons":[[{"text":1}]]}`:  "buttons.text",
		`{"chat_id":1,"text":"x","buttons":[[{"txt":"a"}]]}`: "buttons[0][0].txt",
		`{"chat_id":1,"text":"x","silent":"yes"}`:            "silent",
		`{"chat_id":99999999999999999999999,"text":"x"}`:     "chat_id",
	}
	for body, field := range cases {
		_, err := DecodeSendMessage([]byte(body))
		e := send.As(err)
		require.Equal(t, send.KindInvalid, e.Kind, body)
		require.Equal(t, field, e.Field, body)
	}
}

// decodeSeeds are the fuzz corpus: valid bodies of every form and the
// classic breakers.
var decodeSeeds = []string{
	`{"chat_id":1,"text":"hi"}`,
	`{"username":"@some_user","text":"<b>x</b>","parse_mode":"html","silent":true,"reply_to_message_id":3}`,
	`{"chat_id":-1001234567890,"text":"*x*","parse_mode":"markdown","buttons":[[{"text":"a","callback_data":"b"},{"text":"u","url":"https://x.y"}]]}`,
	`[{"chat_id":1,"text":"a"},{"chat_id":2,"text":"b"}]`,
	`{"chat_ids":[1,2,3],"usernames":["some_user"],"text":"x","async":true}`,
	`{"chat_ids":[1],"document_id":"doc_1","caption":"c"}`,
	`[{"chat_id":1,"document_id":"doc_1"}]`,
	`{"chat_id":1,"text":"` + strings.Repeat("😀", 2049) + `"}`,
	``, `null`, `[]`, `{}`, `[null]`, `{"chat_id":null}`, `"x"`, `{"a":1}`, `[1,2]`, `{"chat_id":1e400}`, "\xff\xfe",
}

// FuzzDecodeRequests feeds arbitrary bytes to every decoder: they may
// refuse them, but only with a validation error, and never panic.
func FuzzDecodeRequests(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(err error) {
			if err != nil && send.As(err).Kind != send.KindInvalid {
				t.Fatalf("decode error of kind %v: %v", send.As(err).Kind, err)
			}
		}
		req, err := DecodeSendMessage(data)
		check(err)
		if err == nil {
			require.NoError(t, req.Validate(""))
		}
		_, err = DecodeSendDocument(data)
		check(err)
		b, err := DecodeBulkMessages(data, 1000)
		check(err)
		if err == nil {
			for i := range b.Len() {
				r := b.Request(i)
				require.NoError(t, r.Validate(""))
			}
		}
		_, err = DecodeBulkDocuments(data, 1000)
		check(err)
	})
}
