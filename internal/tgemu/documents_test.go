package tgemu_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotd/td/telegram/downloader"
	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// sentDocument returns the document of the message a send created.
func sentDocument(t *testing.T, res tg.UpdatesClass) (int, *tg.Document) {
	t.Helper()
	upd, ok := res.(*tg.Updates)
	require.True(t, ok, "%T", res)
	for _, u := range upd.Updates {
		if u, ok := u.(*tg.UpdateNewMessage); ok {
			m := u.Message.(*tg.Message)
			media, ok := m.Media.(*tg.MessageMediaDocument)
			require.True(t, ok, "%T", m.Media)
			return m.ID, media.Document.(*tg.Document)
		}
	}
	t.Fatal("no updateNewMessage")
	return 0, nil
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func TestSendDocuments(t *testing.T) {
	const ttl = time.Hour
	var skew atomic.Int64 // how far the emulator's clock is ahead
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) {
		c.FileReferenceTTL = ttl
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}))
	user, err := env.Server.CreateUser("Gil", "")
	require.NoError(t, err)
	peer := &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash}

	small := randomBytes(t, 100_000)
	big := randomBytes(t, 10*1024*1024+300_000)

	botSession(t, env, func(ctx context.Context, api *tg.Client) {
		up := uploader.NewUploader(api)
		sendFile := func(name string, data []byte, caption string) (tg.UpdatesClass, error) {
			f, err := up.FromBytes(ctx, name, data)
			require.NoError(t, err)
			return api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
				Peer:     peer,
				Media:    &tg.InputMediaUploadedDocument{File: f, MimeType: "application/pdf", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: name}}},
				Message:  caption,
				RandomID: randomID.Add(1),
			})
		}

		res, err := sendFile("small.pdf", small, "a small one")
		require.NoError(t, err)
		_, doc := sentDocument(t, res)
		require.Equal(t, int64(len(small)), doc.Size)

		res, err = sendFile("big.bin", big, "")
		require.NoError(t, err)
		bigMsgID, bigDoc := sentDocument(t, res)
		require.Equal(t, int64(len(big)), bigDoc.Size)

		var out bytes.Buffer
		_, err = downloader.NewDownloader().Download(api, &tg.InputDocumentFileLocation{
			ID: bigDoc.ID, AccessHash: bigDoc.AccessHash, FileReference: bigDoc.FileReference,
		}).Stream(ctx, &out)
		require.NoError(t, err)
		require.True(t, bytes.Equal(big, out.Bytes()), "downloaded bytes differ")

		_, err = sendFile("c.txt", []byte("x"), strings.Repeat("c", 1025))
		requireRPCError(t, err, 400, "MEDIA_CAPTION_TOO_LONG")

		// Parts missing: the client claims 3 parts, one was saved.
		ok, err := api.UploadSaveFilePart(ctx, &tg.UploadSaveFilePartRequest{FileID: 77, FilePart: 0, Bytes: make([]byte, 1024)})
		require.NoError(t, err)
		require.True(t, ok)
		_, err = api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
			Peer: peer, RandomID: randomID.Add(1),
			Media: &tg.InputMediaUploadedDocument{File: &tg.InputFile{ID: 77, Parts: 3, Name: "x"}, MimeType: "text/plain"},
		})
		requireRPCError(t, err, 400, "FILE_PARTS_INVALID")
		_, err = api.UploadSaveFilePart(ctx, &tg.UploadSaveFilePartRequest{FileID: 78, FilePart: 0, Bytes: make([]byte, 512*1024+1)})
		requireRPCError(t, err, 400, "FILE_PART_TOO_BIG")

		// Re-sending an existing document; its reference expires.
		resend := func(ref []byte) error {
			_, err := api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
				Peer: peer, RandomID: randomID.Add(1),
				Media: &tg.InputMediaDocument{ID: &tg.InputDocument{ID: bigDoc.ID, AccessHash: bigDoc.AccessHash, FileReference: ref}},
			})
			return err
		}
		require.NoError(t, resend(bigDoc.FileReference))
		skew.Store(int64(ttl + time.Minute))
		err = resend(bigDoc.FileReference)
		require.True(t, tgerr.Is(err, "FILE_REFERENCE_EXPIRED"), "%v", err)

		// The sender refreshes the reference from its own message.
		got, err := api.MessagesGetMessages(ctx, []tg.InputMessageClass{&tg.InputMessageID{ID: bigMsgID}, &tg.InputMessageID{ID: 99999}})
		require.NoError(t, err)
		msgs := got.(*tg.MessagesMessages).Messages
		require.Len(t, msgs, 2)
		require.IsType(t, &tg.MessageEmpty{}, msgs[1])
		fresh := msgs[0].(*tg.Message).Media.(*tg.MessageMediaDocument).Document.(*tg.Document)
		require.NotEqual(t, bigDoc.FileReference, fresh.FileReference)
		require.NoError(t, resend(fresh.FileReference))

		// uploadMedia gives a document to send later.
		f, err := up.FromBytes(ctx, "later.txt", []byte("later"))
		require.NoError(t, err)
		media, err := api.MessagesUploadMedia(ctx, &tg.MessagesUploadMediaRequest{
			Peer: peer, Media: &tg.InputMediaUploadedDocument{File: f, MimeType: "text/plain"},
		})
		require.NoError(t, err)
		later := media.(*tg.MessageMediaDocument).Document.(*tg.Document)
		_, err = api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
			Peer: peer, RandomID: randomID.Add(1),
			Media: &tg.InputMediaDocument{ID: &tg.InputDocument{ID: later.ID, AccessHash: later.AccessHash, FileReference: later.FileReference}},
		})
		require.NoError(t, err)
	})

	st := env.Server.Stats()
	require.Positive(t, st.RPC["upload.saveBigFilePart"])
	require.Positive(t, st.RPC["upload.saveFilePart"])
	msgs, err := env.Server.Messages(user.ID, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 5)
	smallSum := sha256.Sum256(small)
	require.Equal(t, &tgemu.DocumentInfo{ID: msgs[0].Document.ID, Name: "small.pdf", Size: int64(len(small)), MimeType: "application/pdf", SHA256: hex.EncodeToString(smallSum[:])}, msgs[0].Document)
	require.Equal(t, "a small one", msgs[0].Text)
	bigSum := sha256.Sum256(big)
	require.Equal(t, hex.EncodeToString(bigSum[:]), msgs[1].Document.SHA256)
	require.Equal(t, msgs[1].Document.ID, msgs[2].Document.ID)
	require.Equal(t, "later.txt", msgs[4].Document.Name)
}

// TestStreamedUpload sends a big file whose size the client learns only at
// its end: file_total_parts is -1 until the last part, as Telegram allows.
// (gotd's own streaming mode, uploader.FromReader, races under -race in
// v0.162.0, so the parts are saved by hand.)
func TestStreamedUpload(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Sam", "")
	require.NoError(t, err)
	// Small parts keep each request short on a loaded machine.
	const part = 64 * 1024
	data := randomBytes(t, 3*part+1000)
	const fileID = 4242

	botSession(t, env, func(ctx context.Context, api *tg.Client) {
		parts := (len(data) + part - 1) / part
		for i := 0; i < parts; i++ {
			total := -1
			if i == parts-1 {
				total = parts
			}
			chunk := data[i*part : min((i+1)*part, len(data))]
			ok, err := api.UploadSaveBigFilePart(ctx, &tg.UploadSaveBigFilePartRequest{
				FileID: fileID, FilePart: i, FileTotalParts: total, Bytes: chunk,
			})
			require.NoError(t, err, "part %d", i)
			require.True(t, ok)
		}
		res, err := api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
			Peer:     &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash},
			Media:    &tg.InputMediaUploadedDocument{File: &tg.InputFileBig{ID: fileID, Parts: parts, Name: "stream.bin"}, MimeType: "application/octet-stream"},
			RandomID: randomID.Add(1),
		})
		require.NoError(t, err)
		_, doc := sentDocument(t, res)
		require.Equal(t, int64(len(data)), doc.Size)

		// A real total that contradicts the parts already counted is refused.
		_, err = api.UploadSaveBigFilePart(ctx, &tg.UploadSaveBigFilePartRequest{FileID: fileID + 1, FilePart: 0, FileTotalParts: 2, Bytes: data[:part]})
		require.NoError(t, err)
		_, err = api.UploadSaveBigFilePart(ctx, &tg.UploadSaveBigFilePartRequest{FileID: fileID + 1, FilePart: 1, FileTotalParts: 3, Bytes: data[part : 2*part]})
		requireRPCError(t, err, 400, "FILE_PARTS_INVALID")
	})
	msgs, err := env.Server.Messages(user.ID, env.BotID)
	require.NoError(t, err)
	require.NotEmpty(t, msgs)
	sum := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(sum[:]), msgs[len(msgs)-1].Document.SHA256)
}
