package send

import (
	"fmt"
	"strings"
)

// Albums hold 2 to 10 items, as on Telegram.
const (
	MinAlbumItems = 2
	MaxAlbumItems = 10
)

// AlbumItem is one photo or document of an album.
type AlbumItem struct {
	DocumentID string `json:"document_id"`
	// Photo sends the document (an image) as a compressed photo.
	Photo   bool   `json:"photo,omitempty"`
	Caption string `json:"caption,omitempty"`
}

// Album is a send_media_group: items sent as one album (one grouped_id).
type Album struct {
	Recipient
	Items     []AlbumItem `json:"items"`
	ParseMode string      `json:"parse_mode,omitempty"`
	Silent    bool        `json:"silent,omitempty"`
}

// Normalize canonicalizes spellings in place, like Request.Normalize.
func (a *Album) Normalize() {
	a.Recipient = a.Recipient.Normalize()
	if pm, ok := NormalizeParseMode(a.ParseMode); ok {
		a.ParseMode = pm
	}
}

// Validate checks the album as far as it can without Telegram: 2-10 items,
// each with a document, photos not mixed with documents (Telegram groups
// documents only with documents), captions within the limit.
func (a *Album) Validate() error {
	if err := a.Recipient.Validate(""); err != nil {
		return err
	}
	if _, ok := NormalizeParseMode(a.ParseMode); !ok {
		return unknownParseMode("parse_mode", a.ParseMode)
	}
	if n := len(a.Items); n < MinAlbumItems || n > MaxAlbumItems {
		return Invalid("items", fmt.Sprintf("an album has %d to %d items, not %d", MinAlbumItems, MaxAlbumItems, n))
	}
	for i, it := range a.Items {
		field := fmt.Sprintf("items[%d].", i)
		switch {
		case strings.TrimSpace(it.DocumentID) == "":
			return Invalid(field+"document_id", "document_id is required")
		case len(it.DocumentID) > 128:
			return Invalid(field+"document_id", "too long")
		case it.Photo != a.Items[0].Photo:
			return Invalid(field+"type", "photos and documents cannot be mixed in one album")
		}
		if err := CheckText(field+"caption", "parse_mode", a.ParseMode, it.Caption, false, MaxCaptionLen); err != nil {
			return err
		}
	}
	return nil
}

// AlbumResult is what a sent album returns: one result per item, in order.
type AlbumResult struct {
	ChatID  int64             `json:"chat_id"`
	Date    int               `json:"date"`
	Results []AlbumItemResult `json:"results"`
}

// AlbumItemResult is the message one item of an album became.
type AlbumItemResult struct {
	Index     int  `json:"index"`
	OK        bool `json:"ok"`
	MessageID int  `json:"message_id,omitempty"`
	// Duplicate: Telegram already had this item (a retried request).
	Duplicate bool `json:"duplicate,omitempty"`
}
