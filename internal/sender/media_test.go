package sender_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// pngImage is a w x h PNG of one colour, and its SHA-256.
func pngImage(t testing.TB, w, h int, c color.RGBA) ([]byte, string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:])
}

// docID creates a document and returns its ID.
func (s *running) docID(t *testing.T, name, mimeType string, data []byte) string {
	t.Helper()
	return s.createDocument(t, name, mimeType, bytes.NewReader(data)).DocumentID
}

// TestSendPhoto: an image made with create_document goes out as a
// compressed photo with its size, uploaded as a photo once however often it
// is sent; a document that is not an image is refused naming document_id.
func TestSendPhoto(t *testing.T) {
	env := emutest.Start(t)
	s := startSender(t, env, t.TempDir(), nil)
	user := newUser(t, env, "Pia")
	data, sum := pngImage(t, 640, 480, color.RGBA{R: 200, A: 255})
	doc := s.docID(t, "sunset.png", "image/png", data)

	for i, caption := range []string{"<b>Sunset</b>", "again"} {
		resp := s.postJSON(t, "/api_v1/send_photo", map[string]any{
			"chat_id": user.ID, "document_id": doc, "caption": caption, "parse_mode": "html",
			"buttons": [][]map[string]string{{{"text": "Like", "callback_data": "like"}}},
		}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		msgs := botMessages(t, env, user.ID)
		require.Len(t, msgs, i+1)
		m := msgs[i]
		require.NotNil(t, m.Photo, "sent as a photo")
		require.Nil(t, m.Document)
		require.Equal(t, tgemu.PhotoInfo{ID: m.Photo.ID, Width: 640, Height: 480, Size: int64(len(data)), SHA256: sum}, *m.Photo)
		require.Equal(t, float64(m.ID), resp.JSON(t)["message_id"])
		require.NotNil(t, m.ReplyMarkup)
	}
	require.Equal(t, "Sunset", botMessages(t, env, user.ID)[0].Text)
	// create_document's upload plus one photo upload for both sends.
	require.Equal(t, 2, env.Server.Stats().RPC["messages.uploadMedia"])

	text := s.docID(t, "notes.txt", "text/plain", []byte("not an image"))
	resp := s.postJSON(t, "/api_v1/send_photo", map[string]any{"chat_id": user.ID, "document_id": text}, nil)
	require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
	require.Equal(t, "document_id", resp.JSON(t)["error"].(map[string]any)["field"])
	resp = s.postJSON(t, "/api_v1/send_photo", map[string]any{"chat_id": user.ID, "document_id": "doc_missing"}, nil)
	require.Equal(t, http.StatusNotFound, resp.Status, string(resp.Body))
	require.Len(t, botMessages(t, env, user.ID), 2)
}

// TestSendMediaGroup: photos, and documents, go out as one album each (one
// grouped_id, one sendMultiMedia, within Telegram's per-chat limit of one
// message a second), with a result per item; bad albums are refused naming
// the field before anything is sent.
func TestSendMediaGroup(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) {
		c.Limits = tgemu.Limits{PerChatPerSecond: 1}
	}))
	s := startSender(t, env, t.TempDir(), nil)
	user := newUser(t, env, "Quinn")
	var photos, sums []string
	for i := range 3 {
		data, sum := pngImage(t, 100+10*i, 80, color.RGBA{G: uint8(50 * i), A: 255})
		photos = append(photos, s.docID(t, fmt.Sprintf("p%d.png", i), "image/png", data))
		sums = append(sums, sum)
	}
	items := []map[string]any{
		{"document_id": photos[0], "type": "photo", "caption": "first"},
		{"document_id": photos[1], "type": "photo"},
		{"document_id": photos[2], "type": "photo", "caption": "third"},
	}
	resp := s.postJSON(t, "/api_v1/send_media_group", map[string]any{"chat_id": user.ID, "items": items}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	res := decodeAs[struct {
		ChatID  int64 `json:"chat_id"`
		Results []struct {
			Index     int  `json:"index"`
			OK        bool `json:"ok"`
			MessageID int  `json:"message_id"`
		} `json:"results"`
	}](t, resp)
	require.Equal(t, user.ID, res.ChatID)
	require.Len(t, res.Results, 3)
	msgs := botMessages(t, env, user.ID)
	require.Len(t, msgs, 3)
	for i, m := range msgs {
		require.True(t, res.Results[i].OK)
		require.Equal(t, m.ID, res.Results[i].MessageID)
		require.NotNil(t, m.Photo)
		require.Equal(t, sums[i], m.Photo.SHA256)
		require.NotZero(t, m.GroupedID)
		require.Equal(t, msgs[0].GroupedID, m.GroupedID, "one album")
	}
	require.Equal(t, []string{"first", "", "third"}, []string{msgs[0].Text, msgs[1].Text, msgs[2].Text})
	require.Equal(t, 1, env.Server.Stats().RPC["messages.sendMultiMedia"])
	require.Zero(t, env.Server.Stats().FloodWaits)

	a := s.docID(t, "a.txt", "text/plain", []byte(strings.Repeat("a", 3000)))
	b := s.docID(t, "b.txt", "text/plain", []byte("b"))
	env.Server.SetLimits(tgemu.Limits{})
	resp = s.postJSON(t, "/api_v1/send_media_group", map[string]any{"chat_id": user.ID, "items": []map[string]any{
		{"document_id": a, "type": "document"}, {"document_id": b, "type": "document", "caption": "b"},
	}}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	msgs = botMessages(t, env, user.ID)
	require.Len(t, msgs, 5)
	require.Equal(t, "a.txt", msgs[3].Document.Name)
	require.Equal(t, "b.txt", msgs[4].Document.Name)
	require.Equal(t, msgs[3].GroupedID, msgs[4].GroupedID)
	require.NotEqual(t, msgs[0].GroupedID, msgs[3].GroupedID)

	for _, tc := range []struct {
		name   string
		items  []map[string]any
		status int
		field  string
	}{
		{"one item", items[:1], http.StatusBadRequest, "items"},
		{"eleven items", append(append(append(append([]map[string]any{}, items...), items...), items...), items...)[:11], http.StatusBadRequest, "items"},
		{"mixed", []map[string]any{items[0], {"document_id": a, "type": "document"}}, http.StatusBadRequest, "items[1].type"},
		{"bad type", []map[string]any{items[0], {"document_id": a, "type": "video"}}, http.StatusBadRequest, "items[1].type"},
		{"no document", []map[string]any{items[0], {"type": "photo"}}, http.StatusBadRequest, "items[1].document_id"},
		{"unknown document", []map[string]any{items[0], {"document_id": "doc_nope", "type": "photo"}}, http.StatusNotFound, "items[1].document_id"},
		{"not an image", []map[string]any{items[0], {"document_id": a, "type": "photo"}}, http.StatusBadRequest, "items[1].document_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.postJSON(t, "/api_v1/send_media_group", map[string]any{"chat_id": user.ID, "items": tc.items}, nil)
			require.Equal(t, tc.status, resp.Status, string(resp.Body))
			require.Equal(t, tc.field, resp.JSON(t)["error"].(map[string]any)["field"])
		})
	}
	require.Len(t, botMessages(t, env, user.ID), 5, "nothing of a refused album was sent")

	require.NoError(t, env.Server.Block(user.ID, env.BotID))
	resp = s.postJSON(t, "/api_v1/send_media_group", map[string]any{"chat_id": user.ID, "items": items}, nil)
	require.Equal(t, http.StatusUnprocessableEntity, resp.Status, string(resp.Body))
	require.Equal(t, "blocked_by_user", resp.errorCode(t))
}
