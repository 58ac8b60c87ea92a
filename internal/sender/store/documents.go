package store

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tgbotsvc/tgbot/internal/storage"
)

// TGDocument is a document as Telegram knows it.
type TGDocument struct {
	ID            int64  `json:"id"`
	AccessHash    int64  `json:"access_hash"`
	FileReference []byte `json:"file_reference"`
	DCID          int    `json:"dc_id,omitempty"`
}

// MessageRef is a message a document was sent in, to refresh its file
// reference with messages.getMessages.
type MessageRef struct {
	ChatID    int64 `json:"chat_id"`
	MessageID int   `json:"message_id"`
}

// Document is an uploaded document, reusable by its opaque ID.
type Document struct {
	ID       string      `json:"document_id"`
	FileName string      `json:"file_name"`
	Size     int64       `json:"size"`
	MimeType string      `json:"mime_type"`
	SHA256   string      `json:"sha256"`
	TG       TGDocument  `json:"tg"`
	CopyPath string      `json:"copy_path,omitempty"`
	SentIn   *MessageRef `json:"sent_in,omitempty"`
	// Photo is the document uploaded again as a compressed photo, once it
	// was first sent as one (send_photo, albums).
	Photo     *TGDocument `json:"photo,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
}

// PutDocument stores d.
func (s *Store) PutDocument(d Document) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return storage.Put(tx, bucketDocuments, []byte(d.ID), d)
	})
}

// Document returns the document with id or ErrNotFound.
func (s *Store) Document(id string) (Document, error) {
	var d Document
	err := s.db.View(func(tx *bolt.Tx) error {
		return storage.Get(tx, bucketDocuments, []byte(id), &d)
	})
	return d, err
}

// UpdateDocument applies fn to the stored document in one transaction.
func (s *Store) UpdateDocument(id string, fn func(*Document)) (Document, error) {
	var d Document
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := storage.Get(tx, bucketDocuments, []byte(id), &d); err != nil {
			return err
		}
		fn(&d)
		return storage.Put(tx, bucketDocuments, []byte(id), d)
	})
	return d, err
}
