package tgemu

import (
	"crypto/md5" //nolint:gosec // Telegram's upload checksum is MD5.
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// Telegram's upload rules (core.telegram.org/api/files).
const (
	maxPartSize    = 512 * 1024
	maxSmallFile   = 10 * 1024 * 1024 // above this, saveBigFilePart
	maxParts       = 8000
	maxGetFileSize = 1024 * 1024
)

// document is an uploaded file. Its bytes live in memory (and, with a data
// file, next to it).
type document struct {
	ID         int64  `json:"id"`
	AccessHash int64  `json:"access_hash"`
	Owner      int64  `json:"owner"`
	Name       string `json:"name"`
	MimeType   string `json:"mime_type"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Date       int    `json:"date"`
	// Photo is set for a compressed photo (media.go), with its size.
	Photo  bool `json:"photo,omitempty"`
	Width  int  `json:"width,omitempty"`
	Height int  `json:"height,omitempty"`
	data   []byte
}

type uploadKey struct {
	owner  int64
	fileID int64
}

// upload collects the parts of one file being uploaded. Once a message
// used it, doc is set and the parts are freed: sending the same input file
// again (a retry after FLOOD_WAIT) gives the same document, as Telegram
// keeps uploaded files for a while.
type upload struct {
	big   bool
	total int // saveBigFilePart's file_total_parts
	parts map[int][]byte
	doc   *document
}

// streamedTotal is saveBigFilePart's file_total_parts while the size of a
// streamed upload is not known yet; as with Telegram, the last part carries
// the real count.
const streamedTotal = -1

func (s *Server) savePart(c *call, fileID int64, part, total int, data []byte, big bool) (bin.Encoder, error) {
	switch {
	case len(data) == 0:
		return nil, tgerr.New(400, "FILE_PART_EMPTY")
	case len(data) > maxPartSize:
		return nil, tgerr.New(400, "FILE_PART_TOO_BIG")
	case part < 0 || part >= maxParts || (big && total != streamedTotal && part >= total):
		return nil, tgerr.New(400, "FILE_PART_INVALID")
	case big && total != streamedTotal && (total <= 0 || total > maxParts):
		return nil, tgerr.New(400, "FILE_PARTS_INVALID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := uploadKey{owner: c.acc.ID, fileID: fileID}
	u := s.st.uploads[k]
	if u == nil {
		u = &upload{big: big, total: total, parts: map[int][]byte{}}
		s.st.uploads[k] = u
	}
	if u.doc != nil {
		// The file ID was used already: a new upload under the same ID.
		u = &upload{big: big, total: total, parts: map[int][]byte{}}
		s.st.uploads[k] = u
	}
	if big && u.total == streamedTotal && total != streamedTotal {
		// A streamed upload learns its size with its last part.
		u.total = total
	}
	if u.big != big || (big && total != streamedTotal && u.total != total) {
		return nil, tgerr.New(400, "FILE_PARTS_INVALID")
	}
	u.parts[part] = append([]byte(nil), data...)
	return boolResult(true), nil
}

func (s *Server) uploadSaveFilePart(c *call, req *tg.UploadSaveFilePartRequest) (bin.Encoder, error) {
	return s.savePart(c, req.FileID, req.FilePart, 0, req.Bytes, false)
}

func (s *Server) uploadSaveBigFilePart(c *call, req *tg.UploadSaveBigFilePartRequest) (bin.Encoder, error) {
	return s.savePart(c, req.FileID, req.FilePart, req.FileTotalParts, req.Bytes, true)
}

// assembleLocked joins the parts of an uploaded file, checking them as
// Telegram does.
func (s *Server) assembleLocked(acc *account, in tg.InputFileClass) (*upload, []byte, string, error) {
	var (
		id, md5sum string
		fileID     int64
		parts      int
		big        bool
	)
	switch f := in.(type) {
	case *tg.InputFile:
		fileID, parts, id, md5sum = f.ID, f.Parts, f.Name, f.MD5Checksum
	case *tg.InputFileBig:
		fileID, parts, id, big = f.ID, f.Parts, f.Name, true
	default:
		return nil, nil, "", tgerr.New(400, "FILE_PARTS_INVALID")
	}
	k := uploadKey{owner: acc.ID, fileID: fileID}
	u := s.st.uploads[k]
	if u != nil && u.doc != nil {
		return u, nil, id, nil
	}
	if u == nil || parts <= 0 || len(u.parts) != parts || u.big != big || (big && u.total != parts) {
		return nil, nil, "", tgerr.New(400, "FILE_PARTS_INVALID")
	}
	partSize := len(u.parts[0])
	var size int
	for i := 0; i < parts; i++ {
		p, ok := u.parts[i]
		if !ok {
			return nil, nil, "", tgerr.New(400, "FILE_PARTS_INVALID")
		}
		// Every part but the last has the same size, a divisor of 512 KiB
		// that is a multiple of 1 KiB.
		if i < parts-1 && (len(p) != partSize || len(p)%1024 != 0 || maxPartSize%len(p) != 0) {
			return nil, nil, "", tgerr.New(400, "FILE_PART_SIZE_INVALID")
		}
		if i == parts-1 && len(p) > partSize {
			return nil, nil, "", tgerr.New(400, "FILE_PART_SIZE_INVALID")
		}
		size += len(p)
	}
	if !big && size > maxSmallFile {
		return nil, nil, "", tgerr.New(400, "FILE_PARTS_INVALID")
	}
	data := make([]byte, 0, size)
	for i := 0; i < parts; i++ {
		data = append(data, u.parts[i]...)
	}
	if md5sum != "" {
		sum := md5.Sum(data) //nolint:gosec // Telegram's checksum.
		if hex.EncodeToString(sum[:]) != md5sum {
			return nil, nil, "", tgerr.New(400, "MD5_CHECKSUM_INVALID")
		}
	}
	return u, data, id, nil
}

// newDocumentLocked stores an uploaded document.
func (s *Server) newDocumentLocked(acc *account, m *tg.InputMediaUploadedDocument) (*document, error) {
	u, data, name, err := s.assembleLocked(acc, m.File)
	if err != nil {
		return nil, err
	}
	if u.doc != nil {
		return u.doc, nil
	}
	for _, a := range m.Attributes {
		if fn, ok := a.(*tg.DocumentAttributeFilename); ok && fn.FileName != "" {
			name = fn.FileName
		}
	}
	mime := m.MimeType
	if mime == "" {
		mime = "application/octet-stream"
	}
	sum := sha256.Sum256(data)
	d := &document{
		AccessHash: s.randInt63(),
		Owner:      acc.ID,
		Name:       name,
		MimeType:   mime,
		Size:       int64(len(data)),
		SHA256:     hex.EncodeToString(sum[:]),
		Date:       int(s.now().Unix()),
		data:       data,
	}
	s.addDocumentLocked(d)
	u.doc, u.parts = d, nil
	return d, nil
}

// addDocumentLocked stores a new document (or photo) under the next ID.
func (s *Server) addDocumentLocked(d *document) {
	d.ID = s.st.NextDocID
	s.st.NextDocID++
	s.st.Documents[d.ID] = d
	s.dirty = true
	s.persistDocument(d)
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

// fileReference is opaque to clients: a version byte, the document ID and
// the time it was issued, so it can expire after FileReferenceTTL.
func (s *Server) fileReference(docID int64) []byte {
	ref := make([]byte, 17)
	ref[0] = 1
	binary.LittleEndian.PutUint64(ref[1:], uint64(docID))
	binary.LittleEndian.PutUint64(ref[9:], uint64(s.now().UnixNano()))
	return ref
}

// checkFileReference reports FILE_REFERENCE_EXPIRED for a reference that is
// expired, malformed or for another document: clients refetch the message
// (messages.getMessages) for any of these.
func (s *Server) checkFileReference(docID int64, ref []byte) error {
	errExpired := tgerr.New(400, "FILE_REFERENCE_EXPIRED")
	if len(ref) != 17 || ref[0] != 1 || int64(binary.LittleEndian.Uint64(ref[1:])) != docID {
		return errExpired
	}
	if ttl := s.cfg.FileReferenceTTL; ttl > 0 {
		issued := time.Unix(0, int64(binary.LittleEndian.Uint64(ref[9:])))
		if s.now().Sub(issued) > ttl {
			return errExpired
		}
	}
	return nil
}

// existingDocumentLocked resolves an inputDocument for sending.
func (s *Server) existingDocumentLocked(in tg.InputDocumentClass) (*document, error) {
	d, ok := in.(*tg.InputDocument)
	if !ok {
		return nil, tgerr.New(400, "MEDIA_EMPTY")
	}
	doc := s.st.Documents[d.ID]
	if doc == nil || doc.AccessHash != d.AccessHash {
		return nil, tgerr.New(400, "MEDIA_INVALID")
	}
	if err := s.checkFileReference(doc.ID, d.FileReference); err != nil {
		return nil, err
	}
	return doc, nil
}

// mediaDocumentLocked turns input media into a stored document.
func (s *Server) mediaDocumentLocked(acc *account, media tg.InputMediaClass) (*document, error) {
	switch m := media.(type) {
	case *tg.InputMediaUploadedDocument:
		return s.newDocumentLocked(acc, m)
	case *tg.InputMediaDocument:
		return s.existingDocumentLocked(m.ID)
	case *tg.InputMediaUploadedPhoto:
		return s.newPhotoLocked(acc, m.File)
	case *tg.InputMediaPhoto:
		return s.existingPhotoLocked(m.ID)
	case *tg.InputMediaEmpty, nil:
		return nil, tgerr.New(400, "MEDIA_EMPTY")
	default:
		// Photos, polls, geo, ... are not emulated.
		return nil, tgerr.New(400, "MEDIA_INVALID")
	}
}

func (s *Server) messagesUploadMedia(c *call, req *tg.MessagesUploadMediaRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := req.Peer.(*tg.InputPeerSelf); !ok {
		if _, err := s.resolvePeerLocked(c.acc, req.Peer); err != nil {
			return nil, err
		}
	}
	d, err := s.mediaDocumentLocked(c.acc, req.Media)
	if err != nil {
		return nil, err
	}
	return s.mediaTLLocked(d), nil
}

func (s *Server) messagesSendMedia(c *call, req *tg.MessagesSendMediaRequest) (bin.Encoder, error) {
	if utf16Len(req.Message) > maxCaptionLength {
		return nil, tgerr.New(400, "MEDIA_CAPTION_TOO_LONG")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, err := s.resolvePeerLocked(c.acc, req.Peer)
	if err != nil {
		return nil, err
	}
	m, _, err := s.sendLocked(c.acc, c.req.Session.ID, outgoing{
		peer: peer, text: req.Message, entities: req.Entities, markup: req.ReplyMarkup,
		media:   func() (*document, error) { return s.mediaDocumentLocked(c.acc, req.Media) },
		replyTo: replyToID(req.ReplyTo), silent: req.Silent, randomID: req.RandomID,
		noForwards: req.Noforwards,
	})
	if err != nil {
		return nil, err
	}
	return s.sentUpdatesLocked(c.acc, m), nil
}

func (s *Server) messagesGetMessages(c *call, req *tg.MessagesGetMessagesRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		out  []tg.MessageClass
		msgs []*message
	)
	for _, in := range req.ID {
		var id int
		switch in := in.(type) {
		case *tg.InputMessageID:
			id = in.ID
		case *tg.InputMessageReplyTo:
			if m := c.acc.byID[in.ID]; m != nil {
				id = m.ReplyTo
			}
		}
		m := c.acc.byID[id]
		if m == nil {
			out = append(out, &tg.MessageEmpty{ID: id})
			continue
		}
		out = append(out, s.messageTLLocked(m))
		msgs = append(msgs, m)
	}
	return &tg.MessagesMessages{Messages: out, Users: s.usersForLocked(c.acc.ID, msgs...), Chats: s.chatsForLocked(msgs...)}, nil
}

func (s *Server) uploadGetFile(c *call, req *tg.UploadGetFileRequest) (bin.Encoder, error) {
	loc, ok := req.Location.(*tg.InputDocumentFileLocation)
	if p, isPhoto := req.Location.(*tg.InputPhotoFileLocation); isPhoto {
		loc, ok = &tg.InputDocumentFileLocation{ID: p.ID, AccessHash: p.AccessHash, FileReference: p.FileReference}, true
	}
	if !ok {
		return nil, tgerr.New(400, "LOCATION_INVALID")
	}
	if req.Limit <= 0 || req.Limit > maxGetFileSize || req.Limit%1024 != 0 {
		return nil, tgerr.New(400, "LIMIT_INVALID")
	}
	if req.Offset < 0 || req.Offset%1024 != 0 {
		return nil, tgerr.New(400, "OFFSET_INVALID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.st.Documents[loc.ID]
	if d == nil || d.AccessHash != loc.AccessHash {
		return nil, tgerr.New(400, "FILE_ID_INVALID")
	}
	if err := s.checkFileReference(d.ID, loc.FileReference); err != nil {
		return nil, err
	}
	if d.data == nil {
		d.data = s.loadDocument(d)
		if d.data == nil {
			return nil, tgerr.New(400, "FILE_ID_INVALID")
		}
	}
	var chunk []byte
	if req.Offset < int64(len(d.data)) {
		end := req.Offset + int64(req.Limit)
		if end > int64(len(d.data)) {
			end = int64(len(d.data))
		}
		chunk = append([]byte(nil), d.data[req.Offset:end]...)
	}
	return &tg.UploadFile{Type: &tg.StorageFilePartial{}, Mtime: d.Date, Bytes: chunk}, nil
}
