package tgemu

import (
	"github.com/gotd/td/tg"
)

// document is an uploaded file. Data is kept in memory only.
type document struct {
	ID         int64  `json:"id"`
	AccessHash int64  `json:"access_hash"`
	Owner      int64  `json:"owner"`
	Name       string `json:"name"`
	MimeType   string `json:"mime_type"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Date       int    `json:"date"`
	data       []byte
}

type uploadKey struct {
	owner  int64
	fileID int64
}

// upload collects the parts of one file being uploaded.
type upload struct {
	big   bool
	total int // saveBigFilePart's file_total_parts; 0 until known
	parts map[int][]byte
}

// documentTLLocked renders d with a fresh file reference.
func (s *Server) documentTLLocked(d *document) *tg.Document {
	return &tg.Document{
		ID:            d.ID,
		AccessHash:    d.AccessHash,
		FileReference: s.fileReference(d.ID),
		Date:          d.Date,
		MimeType:      d.MimeType,
		Size:          d.Size,
		DCID:          DCID,
		Attributes:    []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: d.Name}},
	}
}

func (s *Server) fileReference(docID int64) []byte {
	return nil
}
