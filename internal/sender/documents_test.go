package sender_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

type documentView struct {
	DocumentID string `json:"document_id"`
	FileName   string `json:"file_name"`
	Size       int64  `json:"size"`
	MimeType   string `json:"mime_type"`
	SHA256     string `json:"sha256"`
}

func (s *running) createDocument(t *testing.T, name, mimeType string, data io.Reader) documentView {
	t.Helper()
	resp := s.upload(t, name, mimeType, data)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var d documentView
	require.NoError(t, json.Unmarshal(resp.Body, &d))
	return d
}

// pseudoRandom is n reproducible bytes, streamed (never all in memory).
func pseudoRandom(n int64, seed uint64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed)}), n)
}

func sha(r io.Reader) string {
	h := sha256.New()
	_, _ = io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

func lastDocument(t *testing.T, env *emutest.Env, userID int64) tgemu.Message {
	t.Helper()
	msgs := botMessages(t, env, userID)
	require.NotEmpty(t, msgs)
	last := msgs[len(msgs)-1]
	require.NotNil(t, last.Document, "last message has no document")
	return last
}

func TestDocuments(t *testing.T) {
	const ttl = 700 * time.Millisecond
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.FileReferenceTTL = ttl }))
	dataDir := t.TempDir()
	s := startSender(t, env, dataDir, map[string]string{"SENDER_MAX_DOCUMENT_MB": "13"})
	alice := newUser(t, env, "Alice")
	bob := newUser(t, env, "Bob")

	small := s.createDocument(t, "report.txt", "", strings.NewReader("quarterly numbers\n"))
	require.Equal(t, "report.txt", small.FileName)
	require.Equal(t, int64(18), small.Size)
	require.True(t, strings.HasPrefix(small.MimeType, "text/plain"), small.MimeType)
	require.Equal(t, sha(strings.NewReader("quarterly numbers\n")), small.SHA256)

	t.Run("send", func(t *testing.T) {
		resp := s.postJSON(t, "/api_v1/send_document", map[string]any{
			"chat_id": alice.ID, "document_id": small.DocumentID, "caption": "<b>Q3</b>", "parse_mode": "html",
		}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		m := lastDocument(t, env, alice.ID)
		require.EqualValues(t, resp.JSON(t)["message_id"], m.ID)
		require.Equal(t, "Q3", m.Text)
		require.Len(t, m.Entities, 1)
		require.Equal(t, "report.txt", m.Document.Name)
		require.Equal(t, small.SHA256, m.Document.SHA256)
	})

	t.Run("file_name and mime_type before or after the file", func(t *testing.T) {
		fields := map[string]string{"file_name": "renamed.csv", "mime_type": "text/csv"}
		for _, order := range []string{"before", "after"} {
			var resp response
			if order == "before" {
				resp = s.uploadFields(t, "original.txt", strings.NewReader("a,b\n"), fields, nil)
			} else {
				resp = s.uploadFields(t, "original.txt", strings.NewReader("a,b\n"), nil, fields)
			}
			require.Equal(t, http.StatusCreated, resp.Status, "%s: %s", order, resp.Body)
			body := resp.JSON(t)
			require.Equal(t, "renamed.csv", body["file_name"], order)
			require.Equal(t, "text/csv", body["mime_type"], order)
			send := s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": body["document_id"]}, nil)
			require.Equal(t, http.StatusOK, send.Status, string(send.Body))
			require.Equal(t, "renamed.csv", lastDocument(t, env, bob.ID).Document.Name, order)
		}
	})

	t.Run("a refused form leaves no file behind", func(t *testing.T) {
		resp := s.uploadFields(t, "x.txt", strings.NewReader("spooled"), nil, map[string]string{"colour": "red"})
		require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
		left, err := filepath.Glob(filepath.Join(dataDir, "documents", "*.part"))
		require.NoError(t, err)
		require.Empty(t, left)
	})

	t.Run("bigger than 10 MiB", func(t *testing.T) {
		const size = 12<<20 + 12345
		big := s.createDocument(t, "big.bin", "application/x-test", pseudoRandom(size, 1))
		require.Equal(t, int64(size), big.Size)
		require.Equal(t, "application/x-test", big.MimeType)
		require.Equal(t, sha(pseudoRandom(size, 1)), big.SHA256)
		require.Positive(t, env.Server.Stats().RPC["upload.saveBigFilePart"], "big files go up as big file parts")
		resp := s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": big.DocumentID}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		m := lastDocument(t, env, bob.ID)
		require.Equal(t, int64(size), m.Document.Size)
		require.Equal(t, big.SHA256, m.Document.SHA256)

		tooBig := s.upload(t, "huge.bin", "", pseudoRandom(14<<20, 2))
		require.Equal(t, http.StatusRequestEntityTooLarge, tooBig.Status, string(tooBig.Body))
		require.Equal(t, "too_large", tooBig.errorCode(t))
	})

	t.Run("reuse after the file reference expired", func(t *testing.T) {
		// small was sent once: its reference comes back from that message.
		time.Sleep(ttl + 200*time.Millisecond)
		before := env.Server.Stats().RPC
		resp := s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": small.DocumentID}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.Equal(t, small.SHA256, lastDocument(t, env, bob.ID).Document.SHA256)
		after := env.Server.Stats().RPC
		require.Greater(t, after["messages.getMessages"], before["messages.getMessages"], "refreshed from the sent message")

		// A document never sent has no message to refresh from: it goes up
		// again from the copy kept in DATA_DIR, under the same document_id.
		unsent := s.createDocument(t, "later.txt", "text/plain", strings.NewReader("sent later"))
		time.Sleep(ttl + 200*time.Millisecond)
		uploads := env.Server.Stats().RPC["messages.uploadMedia"]
		resp = s.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": alice.ID, "document_id": unsent.DocumentID}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.Equal(t, uploads+1, env.Server.Stats().RPC["messages.uploadMedia"])
		require.Equal(t, unsent.SHA256, lastDocument(t, env, alice.ID).Document.SHA256)
	})

	t.Run("bulk", func(t *testing.T) {
		carol := newUser(t, env, "Carol")
		resp := s.postJSON(t, "/api_v1/send_multiple_documents", map[string]any{
			"chat_ids": []int64{alice.ID, carol.ID, 999999}, "document_id": small.DocumentID, "caption": "for all",
		}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		var out struct {
			Results []struct {
				OK    bool `json:"ok"`
				Error *struct {
					Code string `json:"code"`
				} `json:"error"`
			} `json:"results"`
		}
		require.NoError(t, json.Unmarshal(resp.Body, &out))
		require.True(t, out.Results[0].OK)
		require.True(t, out.Results[1].OK)
		require.Equal(t, "chat_not_found", out.Results[2].Error.Code)
		require.Equal(t, "for all", lastDocument(t, env, carol.ID).Text)

		list := s.postJSON(t, "/api_v1/send_multiple_documents", []map[string]any{
			{"chat_id": carol.ID, "document_id": small.DocumentID, "caption": "list form"},
		}, nil)
		require.Equal(t, http.StatusOK, list.Status, string(list.Body))
		require.Equal(t, "list form", lastDocument(t, env, carol.ID).Text)
	})

	t.Run("upload errors", func(t *testing.T) {
		empty := s.upload(t, "empty.txt", "", bytes.NewReader(nil))
		require.Equal(t, http.StatusBadRequest, empty.Status)
		require.Equal(t, "invalid_argument", empty.errorCode(t))

		noFile := s.do(t, http.MethodPost, "/api_v1/create_document", "multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"file_name\"\r\n\r\na.txt\r\n--xyz--\r\n"), nil)
		require.Equal(t, http.StatusBadRequest, noFile.Status, string(noFile.Body))
		require.Equal(t, "document", noFile.JSON(t)["error"].(map[string]any)["field"])

		broken := s.do(t, http.MethodPost, "/api_v1/create_document", "multipart/form-data; boundary=xyz", []byte("garbage"), nil)
		require.Equal(t, http.StatusBadRequest, broken.Status, string(broken.Body))
	})

	t.Run("idempotent upload", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "upload-1"}
		first := s.do(t, http.MethodPost, "/api_v1/create_document", "multipart/form-data; boundary=b1",
			[]byte("--b1\r\nContent-Disposition: form-data; name=\"document\"; filename=\"x.txt\"\r\n\r\nabc\r\n--b1--\r\n"), key)
		require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
		second := s.do(t, http.MethodPost, "/api_v1/create_document", "multipart/form-data; boundary=b2",
			[]byte("--b2\r\nContent-Disposition: form-data; name=\"document\"; filename=\"x.txt\"\r\n\r\nabc\r\n--b2--\r\n"), key)
		require.Equal(t, http.StatusCreated, second.Status)
		require.Equal(t, first.Body, second.Body)
	})

	t.Run("idempotent upload: the fingerprint is the file and the fields", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "upload-2"}
		fields := map[string]string{"file_name": "a.csv", "mime_type": "text/csv"}
		upload := func(data string, before, after map[string]string) response {
			return s.uploadFieldsWith(t, "orig.txt", strings.NewReader(data), before, after, key)
		}
		first := upload("1,2\n", fields, nil)
		require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
		reordered := upload("1,2\n", nil, fields)
		require.Equal(t, http.StatusCreated, reordered.Status, string(reordered.Body))
		require.Equal(t, first.Body, reordered.Body, "the same form in another order is the same request")
		require.Equal(t, "true", reordered.Header.Get("Idempotent-Replayed"))

		otherFile := upload("3,4\n", fields, nil)
		require.Equal(t, http.StatusConflict, otherFile.Status, string(otherFile.Body))
		require.Equal(t, "idempotency_conflict", otherFile.errorCode(t))
		otherName := upload("1,2\n", map[string]string{"file_name": "b.csv", "mime_type": "text/csv"}, nil)
		require.Equal(t, http.StatusConflict, otherName.Status, string(otherName.Body))
	})
}
