package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// photoTypes are the image types Telegram takes as compressed photos.
var photoTypes = []string{"image/jpeg", "image/png", "image/webp", "image/gif"}

func isPhotoType(mimeType string) bool {
	for _, t := range photoTypes {
		if strings.EqualFold(mimeType, t) {
			return true
		}
	}
	return false
}

// sendPhoto sends a stored image as a compressed photo; on
// FILE_REFERENCE_EXPIRED it uploads the photo again and retries once.
func (g *Gateway) sendPhoto(ctx context.Context, api *tg.Client, peer tg.InputPeerClass,
	req send.Request, caption string, entities []tg.MessageEntityClass, randomID int64,
) (tg.UpdatesClass, error) {
	sendOnce := func(fresh bool) (tg.UpdatesClass, error) {
		media, err := g.photoMedia(ctx, api, req.DocumentID, "document_id", fresh)
		if err != nil {
			return nil, err
		}
		return api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
			Peer: peer, Media: media, Message: caption, Entities: entities,
			ReplyMarkup: markup(req.Buttons), Silent: req.Silent, ReplyTo: replyTo(req.ReplyTo), RandomID: randomID,
		})
	}
	updates, err := sendOnce(false)
	if tgerr.Is(err, "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_INVALID") {
		updates, err = sendOnce(true)
	}
	return updates, err
}

// photoMedia is the document id as an uploaded photo: uploaded once from the
// kept copy (messages.uploadMedia with inputMediaUploadedPhoto) and reused
// by ID after that; fresh uploads it again (an expired file reference).
func (g *Gateway) photoMedia(ctx context.Context, api *tg.Client, id, field string, fresh bool) (tg.InputMediaClass, error) {
	doc, err := g.Document(id)
	if err != nil {
		return nil, err
	}
	if !isPhotoType(doc.MimeType) {
		return nil, send.Invalid(field, fmt.Sprintf("document %s is %s: a photo must be a JPEG, PNG, WebP or GIF image (send it as a document instead)", id, doc.MimeType))
	}
	if doc.Photo == nil || fresh {
		if doc, err = g.uploadPhoto(ctx, api, doc, fresh); err != nil {
			return nil, err
		}
	}
	p := doc.Photo
	return &tg.InputMediaPhoto{ID: &tg.InputPhoto{ID: p.ID, AccessHash: p.AccessHash, FileReference: p.FileReference}}, nil
}

// uploadPhoto uploads a document's kept copy as a photo, once for all the
// sends that need it at the same time.
func (g *Gateway) uploadPhoto(ctx context.Context, api *tg.Client, stale store.Document, fresh bool) (store.Document, error) {
	unlock := g.docLocks.lock(stale.ID)
	defer unlock()
	cur, err := g.Document(stale.ID)
	if err != nil {
		return cur, err
	}
	if cur.Photo != nil && (!fresh || !samePhoto(cur.Photo, stale.Photo)) {
		return cur, nil // another send uploaded it meanwhile
	}
	if cur.CopyPath == "" {
		return cur, &send.Error{Kind: send.KindRefused, Code: "photo_needs_copy",
			Message: "sending a document as a photo uploads it again from the kept copy, and none is kept (SENDER_KEEP_DOCUMENT_COPIES=false)"}
	}
	f, err := os.Open(cur.CopyPath)
	if err != nil {
		return cur, send.Internal(fmt.Errorf("open document copy: %w", err))
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return cur, send.Internal(err)
	}
	up := uploader.NewUploader(api).WithPartSize(uploadPartSize).WithThreads(g.cfg.UploadThreads)
	file, err := up.Upload(ctx, uploader.NewUpload(cur.FileName, f, cur.Size))
	if err != nil {
		return cur, classify(fmt.Errorf("upload photo: %w", err))
	}
	media, err := api.MessagesUploadMedia(ctx, &tg.MessagesUploadMediaRequest{
		Peer: &tg.InputPeerSelf{}, Media: &tg.InputMediaUploadedPhoto{File: file},
	})
	if err != nil {
		return cur, classify(fmt.Errorf("upload photo: %w", err))
	}
	mp, ok := media.(*tg.MessageMediaPhoto)
	var photo *tg.Photo
	if ok {
		photo, ok = mp.Photo.(*tg.Photo)
	}
	if !ok {
		return cur, send.Internal(fmt.Errorf("upload photo: unexpected %T", media))
	}
	g.log.Info("document uploaded as a photo", zap.String("document_id", cur.ID))
	return g.store.UpdateDocument(cur.ID, func(d *store.Document) {
		d.Photo = &store.TGDocument{ID: photo.ID, AccessHash: photo.AccessHash, FileReference: photo.FileReference, DCID: photo.DCID}
	})
}

func samePhoto(a, b *store.TGDocument) bool {
	return a != nil && b != nil && a.ID == b.ID && bytes.Equal(a.FileReference, b.FileReference)
}

// SendAlbum sends album as one album (messages.sendMultiMedia), randomIDs
// one per item; Telegram sends all items or none. A resend Telegram
// recognises (RANDOM_ID_DUPLICATE) reports every item as a duplicate.
func (g *Gateway) SendAlbum(ctx context.Context, album send.Album, randomIDs []int64) (send.AlbumResult, error) {
	var res send.AlbumResult
	err := g.whileConnected(ctx, func() error {
		api, err := g.client()
		if err != nil {
			return err
		}
		peer, chatID, _, err := g.resolve(ctx, api, album.Recipient, false)
		if err != nil {
			return err
		}
		res, err = g.sendAlbum(ctx, api, peer, chatID, album, randomIDs)
		return err
	})
	if g.metrics != nil {
		if err != nil {
			g.metrics.MessagesFailed.WithLabelValues(send.As(err).Code).Inc()
		} else {
			for range res.Results {
				g.metrics.Sent("album_item")
			}
		}
	}
	return res, err
}

func (g *Gateway) sendAlbum(ctx context.Context, api *tg.Client, peer tg.InputPeerClass, chatID int64, album send.Album, randomIDs []int64) (send.AlbumResult, error) {
	res := send.AlbumResult{ChatID: chatID}
	build := func(fresh bool) ([]tg.InputSingleMedia, error) {
		out := make([]tg.InputSingleMedia, len(album.Items))
		for i, it := range album.Items {
			field := fmt.Sprintf("items[%d].", i)
			text, entities, err := g.format(it.Caption, album.ParseMode, field+"caption", false)
			if err != nil {
				return nil, err
			}
			out[i] = tg.InputSingleMedia{RandomID: randomIDs[i], Message: text, Entities: entities}
			if out[i].Media, err = g.albumMedia(ctx, api, it, field+"document_id", fresh); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	sendOnce := func(fresh bool) (tg.UpdatesClass, error) {
		multi, err := build(fresh)
		if err != nil {
			return nil, err
		}
		return api.MessagesSendMultiMedia(ctx, &tg.MessagesSendMultiMediaRequest{Peer: peer, MultiMedia: multi, Silent: album.Silent})
	}
	updates, err := sendOnce(false)
	if tgerr.Is(err, "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_INVALID") {
		updates, err = sendOnce(true)
	}
	if tgerr.Is(err, "RANDOM_ID_DUPLICATE") {
		for i := range album.Items {
			res.Results = append(res.Results, send.AlbumItemResult{Index: i, OK: true, Duplicate: true})
		}
		return res, nil
	}
	var se *send.Error
	if errors.As(err, &se) {
		return res, se // found before sending: unknown document, not an image
	}
	if err != nil {
		return res, classify(err)
	}
	g.learner.observe(updates)
	for i, rid := range randomIDs {
		id, date, _ := sentMessage(updates, rid)
		res.Results = append(res.Results, send.AlbumItemResult{Index: i, OK: id != 0, MessageID: id})
		if res.Date == 0 {
			res.Date = date
		}
	}
	return res, nil
}

// albumMedia is one album item as uploaded media: a photo, or the stored
// document (its file reference renewed when fresh).
func (g *Gateway) albumMedia(ctx context.Context, api *tg.Client, it send.AlbumItem, field string, fresh bool) (tg.InputMediaClass, error) {
	if it.Photo {
		return g.photoMedia(ctx, api, it.DocumentID, field, fresh)
	}
	doc, err := g.Document(it.DocumentID)
	if err != nil {
		return nil, err
	}
	if fresh {
		if doc, err = g.refresh(ctx, api, doc); err != nil {
			return nil, err
		}
	}
	d := doc.TG
	return &tg.InputMediaDocument{ID: &tg.InputDocument{ID: d.ID, AccessHash: d.AccessHash, FileReference: d.FileReference}}, nil
}
