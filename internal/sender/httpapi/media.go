package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

func (a *API) sendPhoto(w http.ResponseWriter, r *http.Request) {
	a.sendOne(w, r, decodeSendPhoto)
}

// decodeSendPhoto decodes a send_photo body: send_document's fields, the
// document sent as a compressed photo.
func decodeSendPhoto(data []byte) (send.Request, json.RawMessage, error) {
	req, bot, err := decodeSendDocument(data)
	req.Photo = true
	return req, bot, err
}

// SendMediaGroupBody is the body of send_media_group.
type SendMediaGroupBody struct {
	ChatID    int64            `json:"chat_id"`
	Username  string           `json:"username"`
	Items     []MediaGroupItem `json:"items"`
	ParseMode string           `json:"parse_mode"`
	Silent    bool             `json:"silent"`
	// Bot names the bot to send as (ID or username; see Bots.Pick).
	Bot json.RawMessage `json:"bot"`
}

// MediaGroupItem is one item of an album.
type MediaGroupItem struct {
	DocumentID string `json:"document_id"`
	// Type is "photo" (an image sent as a compressed photo) or "document".
	Type    string `json:"type"`
	Caption string `json:"caption"`
}

// DecodeSendMediaGroup decodes and validates a send_media_group body.
func DecodeSendMediaGroup(data []byte) (send.Album, json.RawMessage, error) {
	var b SendMediaGroupBody
	if err := decodeStrict(data, &b); err != nil {
		return send.Album{}, nil, err
	}
	al := send.Album{
		Recipient: send.Recipient{ChatID: b.ChatID, Username: b.Username},
		ParseMode: b.ParseMode, Silent: b.Silent, Items: make([]send.AlbumItem, len(b.Items)),
	}
	for i, it := range b.Items {
		switch it.Type {
		case "photo", "document":
		default:
			return al, b.Bot, send.Invalid(fmt.Sprintf("items[%d].type", i), `type must be "photo" or "document"`)
		}
		al.Items[i] = send.AlbumItem{DocumentID: it.DocumentID, Photo: it.Type == "photo", Caption: it.Caption}
	}
	al.Normalize()
	return al, b.Bot, al.Validate()
}

// sendMediaGroup answers POST /api_v1/send_media_group: one album, one
// result per item.
func (a *API) sendMediaGroup(w http.ResponseWriter, r *http.Request) {
	album, b, ok := decodeFor(a, w, r, DecodeSendMediaGroup)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.opts.RequestTimeout)
	defer cancel()
	ids := make([]int64, len(album.Items))
	for i, it := range album.Items {
		if err := a.document(ctx, b, it.DocumentID); err != nil {
			if se := send.As(err); se.Kind == send.KindNotFound && se.Field == "" {
				e := *se
				e.Field = fmt.Sprintf("items[%d].document_id", i)
				err = &e
			}
			a.fail(w, r, err)
			return
		}
		ids[i] = a.ids(r).id(i)
	}
	res, err := b.GW.SendAlbum(ctx, album, ids)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
