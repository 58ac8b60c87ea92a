package event

import (
	"github.com/gotd/td/constant"
	"github.com/gotd/td/fileid"
	"github.com/gotd/td/telegram/message/peer"
	"github.com/gotd/td/tg"
)

// Entities are the users and chats that came with an update, by ID (gotd's
// peer.Entities, with a fallback for peers it does not know).
type Entities struct {
	peer.Entities
}

// NewEntities indexes the users and chats of an updates container.
func NewEntities(users []tg.UserClass, chats []tg.ChatClass) Entities {
	cs := tg.ChatClassArray(chats)
	return Entities{peer.NewEntities(tg.UserClassArray(users).UserToMap(), cs.ChatToMap(), cs.ChannelToMap())}
}

// InputPeer returns the input peer to answer in peer p, using the access
// hashes of the entities. A user or channel that did not come with the
// update gets access hash 0, which Telegram accepts from a bot for users who
// wrote to it (peer.Entities.ExtractPeer would fail instead).
func (e Entities) InputPeer(p tg.PeerClass) tg.InputPeerClass {
	if in, err := e.ExtractPeer(p); err == nil {
		return in
	}
	switch p := p.(type) {
	case *tg.PeerUser:
		return &tg.InputPeerUser{UserID: p.UserID}
	case *tg.PeerChat:
		return &tg.InputPeerChat{ChatID: p.ChatID}
	case *tg.PeerChannel:
		return &tg.InputPeerChannel{ChannelID: p.ChannelID}
	}
	return &tg.InputPeerEmpty{}
}

// FromUpdate converts one update to an event. ok is false for update kinds
// that are not forwarded (and for outgoing messages: the bot's own).
func FromUpdate(botID int64, u tg.UpdateClass, ents Entities) (ev Event, ok bool) {
	switch u := u.(type) {
	case *tg.UpdateNewMessage:
		return fromMessage(botID, u.Message, ents, false)
	case *tg.UpdateNewChannelMessage:
		return fromMessage(botID, u.Message, ents, false)
	case *tg.UpdateEditMessage:
		return fromMessage(botID, u.Message, ents, true)
	case *tg.UpdateEditChannelMessage:
		return fromMessage(botID, u.Message, ents, true)
	case *tg.UpdateBotCallbackQuery:
		ev = Event{
			ID:    CallbackID(botID, u.QueryID),
			Type:  TypeCallbackQuery,
			BotID: botID,
			Chat:  chatOf(u.Peer, ents),
			From:  userOf(u.UserID, ents),
			Callback: &Callback{
				ID:              formatInt(u.QueryID),
				CallbackQueryID: formatInt(u.QueryID),
				Data:            string(u.Data),
				MessageID:       u.MsgID,
			},
		}
		return ev, true
	case *tg.UpdateBotStopped:
		return fromBotStopped(botID, u, ents), true
	}
	return Event{}, false
}

// fromBotStopped is a user blocking (Stopped) or unblocking the bot, as the
// Bot API's my_chat_member: the bot's status in the private chat.
func fromBotStopped(botID int64, u *tg.UpdateBotStopped, ents Entities) Event {
	chat := chatOf(&tg.PeerUser{UserID: u.UserID}, ents)
	from := userOf(u.UserID, ents)
	bot := userOf(botID, ents)
	bot.IsBot = true
	old, now := StatusKicked, StatusMember
	if u.Stopped {
		old, now = now, old
	}
	return Event{
		ID: StopID(botID, u.Qts), Type: TypeMyChatMember, Date: int64(u.Date), BotID: botID,
		Chat: chat, From: from,
		MyChatMember: &ChatMemberUpdated{
			Chat: chat, From: from, Date: int64(u.Date),
			OldChatMember: ChatMember{Status: old, User: bot},
			NewChatMember: ChatMember{Status: now, User: bot},
		},
	}
}

func fromMessage(botID int64, m tg.MessageClass, ents Entities, edit bool) (Event, bool) {
	msg, ok := m.(*tg.Message)
	if !ok || msg.Out {
		return Event{}, false
	}
	var channelID int64
	if p, ok := msg.PeerID.(*tg.PeerChannel); ok {
		channelID = p.ChannelID
	}
	ev := Event{
		ID:    MessageID(botID, channelID, msg.ID),
		Type:  TypeMessage,
		Date:  int64(msg.Date),
		BotID: botID,
		Chat:  chatOf(msg.PeerID, ents),
		Message: &Message{
			ID:           msg.ID,
			Text:         msg.Message,
			Entities:     convertEntities(msg.Entities),
			Document:     documentOf(msg.Media),
			Photo:        photoOf(msg.Media),
			MediaGroupID: groupedID(msg),
		},
	}
	// Fields are read directly, not through the flag-checking getters, so
	// that messages built in code (without flags) convert the same way.
	if msg.FromID != nil {
		if pu, ok := msg.FromID.(*tg.PeerUser); ok {
			ev.From = userOf(pu.UserID, ents)
		}
	} else if pu, ok := msg.PeerID.(*tg.PeerUser); ok {
		// Private chats: the sender is the peer.
		ev.From = userOf(pu.UserID, ents)
	}
	if r, ok := msg.ReplyTo.(*tg.MessageReplyHeader); ok {
		ev.Message.ReplyToMessageID = r.ReplyToMsgID
	}
	if _, known := ents.Channel(channelID); channelID != 0 && !known && !msg.Post {
		ev.Chat.Type = ChatSupergroup // without the entity: only broadcast posts carry the post flag
	}
	post := channelID != 0 && ev.Chat.Type == ChatChannel
	if post {
		ev.Type = TypeChannelPost
	}
	if edit {
		editDate := msg.EditDate
		ev.ID = EditID(botID, channelID, msg.ID, editDate)
		ev.Type = TypeEditedMessage
		if post {
			ev.Type = TypeEditedChannelPost
		}
		ev.Message.EditDate = int64(editDate)
	}
	return ev, true
}

func chatOf(p tg.PeerClass, ents Entities) *Chat {
	var id constant.TDLibPeerID
	switch p := p.(type) {
	case *tg.PeerUser:
		id.User(p.UserID)
		c := &Chat{ID: int64(id), Type: ChatPrivate}
		if u, ok := ents.User(p.UserID); ok {
			c.Username = u.Username
		}
		return c
	case *tg.PeerChat:
		id.Chat(p.ChatID)
		c := &Chat{ID: int64(id), Type: ChatGroup}
		if ch, ok := ents.Chat(p.ChatID); ok {
			c.Title = ch.Title
		}
		return c
	case *tg.PeerChannel:
		id.Channel(p.ChannelID)
		c := &Chat{ID: int64(id), Type: ChatChannel}
		if ch, ok := ents.Channel(p.ChannelID); ok {
			c.Title = ch.Title
			c.Username = ch.Username
			if ch.Megagroup {
				c.Type = ChatSupergroup
			}
		}
		return c
	}
	return nil
}

func userOf(id int64, ents Entities) *User {
	u := &User{ID: id}
	if tu, ok := ents.User(id); ok {
		u.IsBot = tu.Bot
		u.FirstName = tu.FirstName
		u.LastName = tu.LastName
		u.Username = tu.Username
	}
	return u
}

func documentOf(media tg.MessageMediaClass) *Document {
	md, ok := media.(*tg.MessageMediaDocument)
	if !ok {
		return nil
	}
	doc, ok := md.Document.(*tg.Document)
	if !ok {
		return nil
	}
	d := &Document{MimeType: doc.MimeType, Size: doc.Size}
	if id, err := fileid.EncodeFileID(fileid.FromDocument(doc)); err == nil {
		d.DocumentID = id
	}
	for _, a := range doc.Attributes {
		if fn, ok := a.(*tg.DocumentAttributeFilename); ok {
			d.FileName = fn.FileName
		}
	}
	return d
}

// entityOf maps a gotd entity to its Bot API name and fields.
func entityOf(e tg.MessageEntityClass) (Entity, bool) {
	out := Entity{Offset: e.GetOffset(), Length: e.GetLength()}
	switch e := e.(type) {
	case *tg.MessageEntityMention:
		out.Type = "mention"
	case *tg.MessageEntityHashtag:
		out.Type = "hashtag"
	case *tg.MessageEntityCashtag:
		out.Type = "cashtag"
	case *tg.MessageEntityBotCommand:
		out.Type = "bot_command"
	case *tg.MessageEntityURL:
		out.Type = "url"
	case *tg.MessageEntityEmail:
		out.Type = "email"
	case *tg.MessageEntityPhone:
		out.Type = "phone_number"
	case *tg.MessageEntityBold:
		out.Type = "bold"
	case *tg.MessageEntityItalic:
		out.Type = "italic"
	case *tg.MessageEntityUnderline:
		out.Type = "underline"
	case *tg.MessageEntityStrike:
		out.Type = "strikethrough"
	case *tg.MessageEntitySpoiler:
		out.Type = "spoiler"
	case *tg.MessageEntityBlockquote:
		out.Type = "blockquote"
	case *tg.MessageEntityCode:
		out.Type = "code"
	case *tg.MessageEntityPre:
		out.Type = "pre"
		out.Language = e.Language
	case *tg.MessageEntityTextURL:
		out.Type = "text_link"
		out.URL = e.URL
	case *tg.MessageEntityMentionName:
		out.Type = "text_mention"
		out.UserID = e.UserID
	case *tg.MessageEntityCustomEmoji:
		out.Type = "custom_emoji"
	default:
		return Entity{}, false
	}
	return out, true
}

func convertEntities(in []tg.MessageEntityClass) []Entity {
	if len(in) == 0 {
		return nil
	}
	out := make([]Entity, 0, len(in))
	for _, e := range in {
		if c, ok := entityOf(e); ok {
			out = append(out, c)
		}
	}
	return out
}
