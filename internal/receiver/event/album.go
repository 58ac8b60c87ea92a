package event

import (
	"strconv"

	"github.com/gotd/td/fileid"
	"github.com/gotd/td/tg"
)

// TypeMediaGroup is an album: the messages a user sent together (same
// grouped_id), delivered as one event once RECEIVER_ALBUM_WAIT has passed
// since the first of them arrived.
const TypeMediaGroup Type = "media_group"

// PhotoSize is one size of a photo, as in the Bot API's PhotoSize. FileID
// is a Bot API style file ID the bot's own sessions can use again.
type PhotoSize struct {
	FileID   string `json:"file_id"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	FileSize int    `json:"file_size,omitempty"`
}

// MediaGroup is the content of a media_group event: the album's messages
// in the order they were sent.
type MediaGroup struct {
	// ID is Telegram's grouped_id, as a string (the Bot API's
	// media_group_id).
	ID       string    `json:"id"`
	Messages []Message `json:"messages"`
}

// MediaGroupID is the ID of the event for an album whose first message
// (the first delivered together) is msgID.
func MediaGroupID(botID, channelID int64, msgID int) string {
	return MessageID(botID, channelID, msgID) + ":g"
}

// Album merges consecutive message events of one album into one
// media_group event, taking the chat, sender and date of the first. It
// returns false when evs are not all new messages of one album.
func Album(evs []Event) (Event, bool) {
	if len(evs) == 0 {
		return Event{}, false
	}
	first := evs[0]
	group := first.AlbumID()
	if group == "" {
		return Event{}, false
	}
	mg := &MediaGroup{ID: group, Messages: make([]Message, 0, len(evs))}
	for _, ev := range evs {
		if ev.AlbumID() != group || ev.BotID != first.BotID || ev.ChatID() != first.ChatID() {
			return Event{}, false
		}
		mg.Messages = append(mg.Messages, *ev.Message)
	}
	var channelID int64
	if first.Chat != nil && first.Chat.Type != ChatPrivate && first.Chat.Type != ChatGroup {
		channelID = first.Chat.ID
	}
	return Event{
		ID:          MediaGroupID(first.BotID, channelID, first.Message.ID),
		Type:        TypeMediaGroup,
		Date:        first.Date,
		BotID:       first.BotID,
		BotUsername: first.BotUsername,
		Chat:        first.Chat,
		From:        first.From,
		MediaGroup:  mg,
	}, true
}

// AlbumID is the media_group_id of a new message that is part of an
// album, or "".
func (e *Event) AlbumID() string {
	if e.Type != TypeMessage || e.Message == nil {
		return ""
	}
	return e.Message.MediaGroupID
}

func photoOf(media tg.MessageMediaClass) []PhotoSize {
	mp, ok := media.(*tg.MessageMediaPhoto)
	if !ok {
		return nil
	}
	photo, ok := mp.Photo.(*tg.Photo)
	if !ok {
		return nil
	}
	var out []PhotoSize
	for _, s := range photo.Sizes {
		ps, ok := s.(*tg.PhotoSize)
		if !ok || ps.Type == "" {
			continue
		}
		size := PhotoSize{Width: ps.W, Height: ps.H, FileSize: ps.Size}
		if id, err := fileid.EncodeFileID(fileid.FromPhoto(photo, rune(ps.Type[0]))); err == nil {
			size.FileID = id
		}
		out = append(out, size)
	}
	return out
}

func groupedID(msg *tg.Message) string {
	if msg.GroupedID == 0 {
		return ""
	}
	return strconv.FormatInt(msg.GroupedID, 10)
}
