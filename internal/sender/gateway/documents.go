package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"time"

	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// uploadPartSize is Telegram's largest upload part; gotd's uploader switches
// to saveBigFilePart above 10 MiB by itself.
const uploadPartSize = 512 * 1024

// Spool streams r to a file in the documents directory (never holding the
// file in memory), hashing it as it goes, and keeps it there until
// CreateDocument sends it to Telegram. The file must be 1 to maxSize bytes
// long.
func (g *Gateway) Spool(r io.Reader, maxSize int64) (*send.Spool, error) {
	if err := os.MkdirAll(g.cfg.DocumentsDir, 0o700); err != nil {
		return nil, send.Internal(fmt.Errorf("documents dir: %w", err))
	}
	f, err := os.CreateTemp(g.cfg.DocumentsDir, "upload-*.part")
	if err != nil {
		return nil, send.Internal(fmt.Errorf("spool document: %w", err))
	}
	s := send.NewSpool(f)
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(r, maxSize+1))
	switch {
	case err != nil:
		_ = s.Close()
		if se := classify(err); se.Kind == send.KindTooLarge {
			return nil, se
		}
		return nil, send.Invalid("document", "reading the upload failed: "+err.Error())
	case n > maxSize:
		_ = s.Close()
		return nil, &send.Error{Kind: send.KindTooLarge, Code: "too_large",
			Message: fmt.Sprintf("document larger than %d bytes", maxSize), Field: "document"}
	case n == 0:
		_ = s.Close()
		return nil, send.Invalid("document", "the document is empty")
	}
	s.Size, s.SHA256 = n, hex.EncodeToString(sum.Sum(nil))
	return s, nil
}

// CreateDocument uploads a spooled file to Telegram once and stores it
// under a new opaque document ID. The copy on disk is kept when KeepCopies
// is set, so the document stays usable however its file reference ages.
func (g *Gateway) CreateDocument(ctx context.Context, nd send.NewDocument, sp *send.Spool) (store.Document, error) {
	api, err := g.client()
	if err != nil {
		return store.Document{}, err
	}
	if nd.FileName == "" {
		nd.FileName = "document"
	}
	if nd.MimeType == "" {
		nd.MimeType = mime.TypeByExtension(filepath.Ext(nd.FileName))
		if nd.MimeType == "" {
			nd.MimeType = "application/octet-stream"
		}
	}
	id := newDocumentID()
	doc := store.Document{
		ID: id, FileName: nd.FileName, Size: sp.Size, MimeType: nd.MimeType,
		SHA256: sp.SHA256, CreatedAt: time.Now().UTC(),
	}
	if _, err := sp.File().Seek(0, io.SeekStart); err != nil {
		return store.Document{}, send.Internal(err)
	}
	tgDoc, err := g.upload(ctx, api, doc, sp.File())
	if err != nil {
		return store.Document{}, err
	}
	doc.TG = tgDoc
	if g.cfg.KeepCopies {
		ref, err := g.copies.Keep(ctx, id, sp)
		if err != nil {
			return store.Document{}, send.Internal(err)
		}
		doc.CopyPath = ref
	}
	if err := g.store.PutDocument(doc); err != nil {
		return store.Document{}, send.Internal(err)
	}
	g.log.Info("document uploaded", zap.String("document_id", id), zap.Int64("size", sp.Size),
		zap.String("mime_type", doc.MimeType))
	return doc, nil
}

func newDocumentID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "doc_" + hex.EncodeToString(b[:])
}

// upload sends the file's parts and turns them into a Telegram document
// with messages.uploadMedia, so the first send does not upload anything.
func (g *Gateway) upload(ctx context.Context, api *tg.Client, doc store.Document, f io.Reader) (store.TGDocument, error) {
	up := uploader.NewUploader(api).WithPartSize(uploadPartSize).WithThreads(g.cfg.UploadThreads)
	file, err := up.Upload(ctx, uploader.NewUpload(doc.FileName, f, doc.Size))
	if err != nil {
		return store.TGDocument{}, classify(fmt.Errorf("upload: %w", err))
	}
	media, err := api.MessagesUploadMedia(ctx, &tg.MessagesUploadMediaRequest{
		Peer: &tg.InputPeerSelf{},
		Media: &tg.InputMediaUploadedDocument{
			File:       file,
			MimeType:   doc.MimeType,
			ForceFile:  true,
			Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: doc.FileName}},
		},
	})
	if err != nil {
		return store.TGDocument{}, classify(fmt.Errorf("upload media: %w", err))
	}
	d, ok := documentOf(media)
	if !ok {
		return store.TGDocument{}, send.Internal(fmt.Errorf("upload media: unexpected %T", media))
	}
	return d, nil
}

func documentOf(media tg.MessageMediaClass) (store.TGDocument, bool) {
	m, ok := media.(*tg.MessageMediaDocument)
	if !ok {
		return store.TGDocument{}, false
	}
	d, ok := m.Document.(*tg.Document)
	if !ok {
		return store.TGDocument{}, false
	}
	return store.TGDocument{ID: d.ID, AccessHash: d.AccessHash, FileReference: d.FileReference, DCID: d.DCID}, true
}

// Document returns a stored document (ErrDocumentNotFound if unknown).
func (g *Gateway) Document(id string) (store.Document, error) {
	d, err := g.store.Document(id)
	if errors.Is(err, store.ErrNotFound) {
		return d, send.ErrDocumentNotFound
	}
	if err != nil {
		return d, send.Internal(err)
	}
	return d, nil
}

// sendDocument sends a stored document; on FILE_REFERENCE_EXPIRED it
// refreshes the reference and retries once.
func (g *Gateway) sendDocument(ctx context.Context, api *tg.Client, peer tg.InputPeerClass, chatID int64,
	req send.Request, caption string, entities []tg.MessageEntityClass, randomID int64,
) (tg.UpdatesClass, error) {
	if req.Photo {
		return g.sendPhoto(ctx, api, peer, req, caption, entities, randomID)
	}
	doc, err := g.Document(req.DocumentID)
	if err != nil {
		return nil, err
	}
	sendOnce := func(d store.TGDocument) (tg.UpdatesClass, error) {
		return api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
			Peer: peer,
			Media: &tg.InputMediaDocument{ID: &tg.InputDocument{
				ID: d.ID, AccessHash: d.AccessHash, FileReference: d.FileReference,
			}},
			Message:     caption,
			Entities:    entities,
			ReplyMarkup: markup(req.Buttons),
			Silent:      req.Silent,
			ReplyTo:     replyTo(req.ReplyTo),
			RandomID:    randomID,
			Noforwards:  req.ProtectContent,
		})
	}
	updates, err := sendOnce(doc.TG)
	if tgerr.Is(err, "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_INVALID") {
		fresh, rerr := g.refresh(ctx, api, doc)
		if rerr != nil {
			return nil, rerr
		}
		updates, err = sendOnce(fresh.TG)
	}
	if _, seen := g.remembered.LoadOrStore(doc.ID, true); err == nil && doc.SentIn == nil && !seen {
		g.rememberMessage(doc.ID, chatID, updates, randomID)
	}
	return updates, err
}

// rememberMessage records the first message a document went out in, for
// refreshing its file reference later.
func (g *Gateway) rememberMessage(docID string, chatID int64, updates tg.UpdatesClass, randomID int64) {
	if kind, _, _ := send.SplitChatID(chatID); kind == send.PeerChannel {
		return // channel messages need channels.getMessages; the copy covers them
	}
	id, _, _ := sentMessage(updates, randomID)
	if id == 0 {
		return
	}
	_, err := g.store.UpdateDocument(docID, func(d *store.Document) {
		if d.SentIn == nil {
			d.SentIn = &store.MessageRef{ChatID: chatID, MessageID: id}
		}
	})
	if err != nil {
		g.log.Warn("remember document message", zap.String("document_id", docID), zap.Error(err))
	}
}

// refresh renews an expired file reference, once for all the sends that hit
// it at the same time: those that come later find it renewed already.
func (g *Gateway) refresh(ctx context.Context, api *tg.Client, stale store.Document) (store.Document, error) {
	unlock := g.docLocks.lock(stale.ID)
	defer unlock()
	cur, err := g.Document(stale.ID)
	if err != nil {
		return cur, err
	}
	if cur.TG.ID != stale.TG.ID || !bytes.Equal(cur.TG.FileReference, stale.TG.FileReference) {
		return cur, nil
	}
	log := g.log.With(zap.String("document_id", cur.ID))
	if cur.SentIn != nil {
		if d, err := g.refetch(ctx, api, cur); err == nil {
			log.Info("file reference refreshed from a sent message")
			return g.store.UpdateDocument(cur.ID, func(x *store.Document) { x.TG = d })
		} else {
			log.Warn("refresh file reference from message failed", zap.Error(err))
		}
	}
	if cur.CopyPath == "" {
		return cur, &send.Error{Kind: send.KindRefused, Code: "file_reference_expired", TelegramError: "FILE_REFERENCE_EXPIRED",
			Message: "the document's file reference expired, it is not in a message to renew it from, and no copy of it is kept: upload it again"}
	}
	f, err := g.copies.Open(ctx, cur.CopyPath)
	if err != nil {
		return cur, send.Internal(err)
	}
	defer f.Close()
	d, err := g.upload(ctx, api, cur, f)
	if err != nil {
		return cur, err
	}
	log.Info("file reference expired: document uploaded again from its copy")
	return g.store.UpdateDocument(cur.ID, func(x *store.Document) { x.TG = d; x.SentIn = nil })
}

// refetch reads the message the document was sent in, which carries a fresh
// file reference.
func (g *Gateway) refetch(ctx context.Context, api *tg.Client, doc store.Document) (store.TGDocument, error) {
	res, err := api.MessagesGetMessages(ctx, []tg.InputMessageClass{&tg.InputMessageID{ID: doc.SentIn.MessageID}})
	if err != nil {
		return store.TGDocument{}, err
	}
	var msgs []tg.MessageClass
	switch r := res.(type) {
	case *tg.MessagesMessages:
		msgs = r.Messages
	case *tg.MessagesMessagesSlice:
		msgs = r.Messages
	}
	for _, m := range msgs {
		if m, ok := m.(*tg.Message); ok {
			if d, ok := documentOf(m.Media); ok && d.ID == doc.TG.ID {
				return d, nil
			}
		}
	}
	return store.TGDocument{}, errors.New("message with the document not found")
}
