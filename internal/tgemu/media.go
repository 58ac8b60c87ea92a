package tgemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // photo dimensions of GIF uploads
	_ "image/jpeg" // and of JPEG uploads
	"image/png"
	"net/http"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// Albums hold 2 to 10 items, as on Telegram.
const (
	minAlbum = 2
	maxAlbum = 10
)

// PhotoInfo describes a message's photo: the size of the uploaded image
// (the largest of its sizes) and the SHA-256 of its bytes.
type PhotoInfo struct {
	ID     int64  `json:"id"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// mediaView renders a message's file as the control API shows it.
func mediaView(d *document) (*DocumentInfo, *PhotoInfo) {
	if d.Photo {
		return nil, &PhotoInfo{ID: d.ID, Width: d.Width, Height: d.Height, Size: d.Size, SHA256: d.SHA256}
	}
	return &DocumentInfo{ID: d.ID, Name: d.Name, Size: d.Size, MimeType: d.MimeType, SHA256: d.SHA256}, nil
}

// newPhotoLocked stores an uploaded image as a compressed photo. The image
// must be a JPEG, PNG or GIF (the decoders the emulator has); its bytes are
// kept as they are, not re-encoded.
func (s *Server) newPhotoLocked(acc *account, file tg.InputFileClass) (*document, error) {
	u, data, _, err := s.assembleLocked(acc, file)
	if err != nil {
		return nil, err
	}
	if u.doc != nil {
		return u.doc, nil
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, tgerr.New(400, "IMAGE_PROCESS_FAILED")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width+cfg.Height > 10000 || cfg.Width > 20*cfg.Height || cfg.Height > 20*cfg.Width {
		return nil, tgerr.New(400, "PHOTO_INVALID_DIMENSIONS")
	}
	sum := sha256.Sum256(data)
	d := &document{
		AccessHash: s.randInt63(), Owner: acc.ID, Name: "photo." + format,
		MimeType: "image/" + format, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		Date: int(s.now().Unix()), Photo: true, Width: cfg.Width, Height: cfg.Height, data: data,
	}
	s.addDocumentLocked(d)
	u.doc, u.parts = d, nil
	return d, nil
}

// existingPhotoLocked resolves an inputPhoto for sending.
func (s *Server) existingPhotoLocked(in tg.InputPhotoClass) (*document, error) {
	p, ok := in.(*tg.InputPhoto)
	if !ok {
		return nil, tgerr.New(400, "MEDIA_EMPTY")
	}
	d := s.st.Documents[p.ID]
	if d == nil || !d.Photo || d.AccessHash != p.AccessHash {
		return nil, tgerr.New(400, "PHOTO_INVALID")
	}
	if err := s.checkFileReference(d.ID, p.FileReference); err != nil {
		return nil, err
	}
	return d, nil
}

// mediaTLLocked renders a stored file as a message's media.
func (s *Server) mediaTLLocked(d *document) tg.MessageMediaClass {
	if !d.Photo {
		return &tg.MessageMediaDocument{Document: s.documentTLLocked(d)}
	}
	return &tg.MessageMediaPhoto{Photo: s.photoTLLocked(d)}
}

// photoSizes are Telegram's size letters with the longest side of each.
var photoSizes = []struct {
	typ  string
	side int
}{{"s", 100}, {"m", 320}, {"x", 800}, {"y", 1280}, {"w", 2560}}

// photoTLLocked renders d as a photo with Telegram's sizes: every box
// smaller than the image, then the image itself. The emulator does not
// resample: every size downloads the original bytes.
func (s *Server) photoTLLocked(d *document) *tg.Photo {
	p := &tg.Photo{ID: d.ID, AccessHash: d.AccessHash, FileReference: s.fileReference(d.ID), Date: d.Date, DCID: DCID}
	long := max(d.Width, d.Height)
	for _, ps := range photoSizes {
		if ps.side >= long {
			p.Sizes = append(p.Sizes, &tg.PhotoSize{Type: ps.typ, W: d.Width, H: d.Height, Size: int(d.Size)})
			return p
		}
		p.Sizes = append(p.Sizes, &tg.PhotoSize{Type: ps.typ, W: d.Width * ps.side / long, H: d.Height * ps.side / long, Size: int(d.Size)})
	}
	return p
}

// album is what a sendMultiMedia checked before sending anything.
type albumItem struct {
	doc      *document
	text     string
	entities []tg.MessageEntityClass
	randomID int64
}

// messagesSendMultiMedia sends an album: 2-10 photos, or 2-10 documents,
// uploaded beforehand (messages.uploadMedia), all with one grouped_id. It
// sends all or nothing; the album counts once against the flood limits.
func (s *Server) messagesSendMultiMedia(c *call, req *tg.MessagesSendMultiMediaRequest) (bin.Encoder, error) {
	if len(req.MultiMedia) == 0 {
		return nil, tgerr.New(400, "MEDIA_EMPTY")
	}
	if len(req.MultiMedia) > maxAlbum {
		return nil, tgerr.New(400, "MULTI_MEDIA_TOO_LONG")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, err := s.resolvePeerLocked(c.acc, req.Peer)
	if err != nil {
		return nil, err
	}
	items, err := s.albumItemsLocked(c.acc, req.MultiMedia)
	if err != nil {
		return nil, err
	}
	return s.sendAlbumLocked(c.acc, c.req.Session.ID, peer, items, req.Silent)
}

func (s *Server) albumItemsLocked(acc *account, in []tg.InputSingleMedia) ([]albumItem, error) {
	items := make([]albumItem, 0, len(in))
	seen := map[int64]bool{}
	for i, m := range in {
		if utf16Len(m.Message) > maxCaptionLength {
			return nil, tgerr.New(400, "MEDIA_CAPTION_TOO_LONG")
		}
		if m.RandomID == 0 || seen[m.RandomID] {
			return nil, tgerr.New(400, "RANDOM_ID_INVALID")
		}
		seen[m.RandomID] = true
		if _, dup := acc.RandomIDs[m.RandomID]; dup {
			return nil, tgerr.New(500, "RANDOM_ID_DUPLICATE")
		}
		var d *document
		var err error
		switch media := m.Media.(type) {
		case *tg.InputMediaPhoto:
			d, err = s.existingPhotoLocked(media.ID)
		case *tg.InputMediaDocument:
			d, err = s.existingDocumentLocked(media.ID)
		default: // albums take only media uploaded with messages.uploadMedia
			err = tgerr.New(400, "MEDIA_INVALID")
		}
		if err != nil {
			return nil, err
		}
		if i > 0 && d.Photo != items[0].doc.Photo {
			return nil, tgerr.New(400, "MEDIA_INVALID") // documents group only with documents
		}
		items = append(items, albumItem{doc: d, text: m.Message, entities: m.Entities, randomID: m.RandomID})
	}
	return items, nil
}

// sendAlbumLocked sends checked items as one album and answers as Telegram
// does: an updateMessageID and an updateNewMessage per item.
func (s *Server) sendAlbumLocked(acc *account, session int64, peer peerKey, items []albumItem, silent bool) (*tg.Updates, error) {
	grouped := s.randInt63()
	out := &tg.Updates{Date: int(s.now().Unix())}
	var mine []*message
	for i, it := range items {
		d := it.doc
		m, _, err := s.sendLocked(acc, session, outgoing{
			peer: peer, text: it.text, entities: it.entities, silent: silent, randomID: it.randomID,
			media: func() (*document, error) { return d, nil }, groupedID: grouped, unlimited: i > 0,
		})
		if err != nil {
			return nil, err // only the first can fail: blocked, flood
		}
		mine = append(mine, m)
		out.Updates = append(out.Updates, &tg.UpdateMessageID{ID: m.ID, RandomID: m.RandomID})
	}
	for _, m := range mine {
		out.Updates = append(out.Updates, &tg.UpdateNewMessage{Message: s.messageTLLocked(m), Pts: m.Pts, PtsCount: 1})
	}
	out.Users = s.usersForLocked(acc.ID, mine...)
	out.Chats = s.chatsForLocked(mine...)
	return out, nil
}

// UserSendAlbum makes the user send the bot (botID 0 = the only bot) an
// album of count generated PNG photos (2-10, each of another size and
// colour), caption on the first. It returns the bot's message IDs and the
// album's grouped_id.
func (s *Server) UserSendAlbum(userID, botID int64, count int, caption string) ([]int, int64, error) {
	if count < minAlbum || count > maxAlbum {
		return nil, 0, fmt.Errorf("%w: count must be from %d to %d", ErrInvalid, minAlbum, maxAlbum)
	}
	if utf16Len(caption) > maxCaptionLength {
		return nil, 0, fmt.Errorf("%w: caption longer than %d", ErrInvalid, maxCaptionLength)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bot, err := s.userAndBotLocked(userID, botID)
	if err != nil {
		return nil, 0, err
	}
	items := make([]albumItem, count)
	for i := range items {
		d, err := s.generatedPhotoLocked(u, i)
		if err != nil {
			return nil, 0, err
		}
		items[i] = albumItem{doc: d, randomID: s.randInt63()}
	}
	items[0].text = caption
	if _, err := s.sendAlbumLocked(u, 0, peerKey{ID: bot.ID}, items, false); err != nil {
		return nil, 0, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	var ids []int
	var grouped int64
	hist := bot.history[peerKey{ID: u.ID}]
	for _, m := range hist[len(hist)-count:] {
		ids, grouped = append(ids, m.ID), m.GroupedID
	}
	return ids, grouped, nil
}

// generatedPhotoLocked makes the i-th photo of a generated album: a PNG of
// its own size and colour.
func (s *Server) generatedPhotoLocked(owner *account, i int) (*document, error) {
	w, h := 320+40*i, 240+20*i
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := color.RGBA{R: uint8(40 * i), G: uint8(255 - 20*i), B: uint8(s.randInt63()), A: 255}
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	d := &document{
		AccessHash: s.randInt63(), Owner: owner.ID, Name: "photo.png", MimeType: "image/png",
		Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:]), Date: int(s.now().Unix()),
		Photo: true, Width: w, Height: h, data: buf.Bytes(),
	}
	s.addDocumentLocked(d)
	return d, nil
}

type albumIn struct {
	Count   int    `json:"count"`
	Caption string `json:"caption"`
	BotID   int64  `json:"bot_id"`
}

func (s *Server) httpUserSendAlbum(r *http.Request, id int64, in albumIn) (any, error) {
	if in.BotID == 0 {
		var err error
		if in.BotID, err = queryBotID(r); err != nil {
			return nil, err
		}
	}
	ids, grouped, err := s.UserSendAlbum(id, in.BotID, in.Count, in.Caption)
	if err != nil {
		return nil, err
	}
	return map[string]any{"message_ids": ids, "grouped_id": grouped}, nil
}
