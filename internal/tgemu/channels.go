package tgemu

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// This file holds channels and supergroups. Unlike a basic group, whose
// members each keep a copy of every message, a channel has one message box
// and one pts sequence shared by all its members, as on Telegram: message
// IDs are the channel's, updates carry the channel's pts
// (updateNewChannelMessage, updateEditChannelMessage,
// updateDeleteChannelMessages, updatePinnedChannelMessages), and a client
// that missed some asks updates.getChannelDifference.

// firstChannelID is where channel IDs start. Telegram's are about 10 digits,
// so the Bot API form -100<id> looks familiar (-1001000000001).
const firstChannelID = 1_000_000_001

// channel is a broadcast channel or a supergroup (Megagroup).
type channel struct {
	ID         int64   `json:"id"`
	AccessHash int64   `json:"access_hash"`
	Title      string  `json:"title"`
	Megagroup  bool    `json:"megagroup,omitempty"`
	Members    []int64 `json:"members"`
	// Admins may post in a broadcast channel, and delete and pin anyone's
	// messages.
	Admins []int64 `json:"admins"`
	Date   int     `json:"date"`
	// Box holds the channel's messages and pts log; its ID is the channel's.
	Box *account `json:"box"`
}

func (st *state) reindexChannels() {
	for _, ch := range st.Channels {
		if ch.Box == nil {
			ch.Box = newAccount(ch.ID, 0)
		}
		ch.Box.reindex()
	}
}

func (ch *channel) peer() peerKey { return peerKey{Channel: true, ID: ch.ID} }

func (ch *channel) member(id int64) bool { return slices.Contains(ch.Members, id) }

func (ch *channel) admin(id int64) bool { return slices.Contains(ch.Admins, id) }

// tl renders the channel; a fresh object every call (see account.tl).
func (ch *channel) tl() *tg.Channel {
	c := &tg.Channel{
		ID:                ch.ID,
		AccessHash:        ch.AccessHash,
		Title:             ch.Title,
		Photo:             &tg.ChatPhotoEmpty{},
		Date:              ch.Date,
		Megagroup:         ch.Megagroup,
		Broadcast:         !ch.Megagroup,
		ParticipantsCount: len(ch.Members),
	}
	return c
}

// Channel is a channel or supergroup as the control API shows it. Its Bot
// API chat ID is -100<id>.
type Channel struct {
	ID         int64   `json:"id"`
	AccessHash int64   `json:"access_hash"`
	Title      string  `json:"title"`
	Megagroup  bool    `json:"megagroup"`
	Members    []int64 `json:"members"`
	Admins     []int64 `json:"admins"`
}

func (ch *channel) view() Channel {
	return Channel{ID: ch.ID, AccessHash: ch.AccessHash, Title: ch.Title, Megagroup: ch.Megagroup,
		Members: slices.Clone(ch.Members), Admins: slices.Clone(ch.Admins)}
}

// CreateChannel creates a supergroup (megagroup) or a broadcast channel
// with the given members (user or bot IDs; with no bot listed, the only
// bot is added). The first user listed is its creator and an admin; in a
// broadcast channel every member bot is an admin too, so it can post.
func (s *Server) CreateChannel(title string, megagroup bool, memberIDs []int64) (Channel, error) {
	if strings.TrimSpace(title) == "" {
		return Channel{}, fmt.Errorf("%w: title is required", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	members, err := s.membersLocked(memberIDs)
	if err != nil {
		return Channel{}, err
	}
	var admins []int64
	creator := false
	for _, id := range members {
		bot := s.st.Accounts[id].Bot
		if bot && !megagroup || !bot && !creator {
			admins = append(admins, id)
		}
		creator = creator || !bot
	}
	if s.st.NextChannelID < firstChannelID {
		s.st.NextChannelID = firstChannelID - 1
	}
	s.st.NextChannelID++
	ch := &channel{
		ID: s.st.NextChannelID, AccessHash: s.randInt63(), Title: title, Megagroup: megagroup,
		Members: members, Admins: admins, Date: int(s.now().Unix()),
	}
	ch.Box = newAccount(ch.ID, 0)
	s.st.Channels[ch.ID] = ch
	s.dirty = true
	return ch.view(), nil
}

// Channels lists every channel and supergroup by ID.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, 0, len(s.st.Channels))
	for _, ch := range s.st.Channels {
		out = append(out, ch.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// UserSendChannelMessage makes a member write text in a supergroup, or an
// admin post it in a broadcast channel; every member bot gets
// updateNewChannelMessage. It returns the message ID (the channel's, the
// same for every member).
func (s *Server) UserSendChannelMessage(userID, channelID int64, text string) (int, error) {
	return s.userWrites(userID, text, func(u *account) (int, error) {
		ch := s.st.Channels[channelID]
		if ch == nil {
			return 0, fmt.Errorf("%w: channel %d", ErrNotFound, channelID)
		}
		if !ch.member(u.ID) {
			return 0, fmt.Errorf("%w: user %d is not a member of channel %d", ErrInvalid, u.ID, channelID)
		}
		m, err := s.sendChannelLocked(u, 0, outgoing{peer: ch.peer(), text: text})
		if err != nil {
			return 0, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
		}
		return m.ID, nil
	})
}

// ChannelMessages returns a channel's messages as its bot (botID 0 = the
// only bot) sees them, oldest first: Out marks the bot's own.
func (s *Server) ChannelMessages(channelID, botID int64) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.st.Channels[channelID]
	if ch == nil {
		return nil, fmt.Errorf("%w: channel %d", ErrNotFound, channelID)
	}
	bot, err := s.botByIDLocked(botID)
	if err != nil {
		return nil, err
	}
	out := s.messagesViewLocked(ch.Box.Messages)
	for i, m := range ch.Box.Messages {
		out[i].Out = m.FromID == bot.ID
	}
	return out, nil
}

// channelForLocked finds the channel id for acc: CHANNEL_INVALID when it
// does not exist or the access hash is wrong, CHANNEL_PRIVATE when acc is
// not a member.
func (s *Server) channelForLocked(acc *account, id, accessHash int64) (*channel, error) {
	ch := s.st.Channels[id]
	if ch == nil || accessHash != ch.AccessHash {
		return nil, tgerr.New(400, "CHANNEL_INVALID")
	}
	if !ch.member(acc.ID) {
		return nil, tgerr.New(406, "CHANNEL_PRIVATE")
	}
	return ch, nil
}

// inputChannelLocked resolves an input channel. lookup allows access hash
// 0 from a member bot: bots may use it to look a channel up (as TDLib does
// for bots), then use the hash the answer carries.
func (s *Server) inputChannelLocked(acc *account, in tg.InputChannelClass, lookup bool) (*channel, error) {
	c, ok := in.(*tg.InputChannel)
	if !ok {
		return nil, tgerr.New(400, "CHANNEL_INVALID")
	}
	hash := c.AccessHash
	if ch := s.st.Channels[c.ChannelID]; lookup && hash == 0 && acc.Bot && ch != nil && ch.member(acc.ID) {
		hash = ch.AccessHash
	}
	return s.channelForLocked(acc, c.ChannelID, hash)
}

// appendChannelLocked adds channel id to chats once (seen holds -id).
func (s *Server) appendChannelLocked(chats []tg.ChatClass, seen map[int64]bool, id int64) []tg.ChatClass {
	if seen[-id] {
		return chats
	}
	seen[-id] = true
	if ch := s.st.Channels[id]; ch != nil {
		chats = append(chats, ch.tl())
	}
	return chats
}

// channelMessageTLLocked renders the channel message m for viewer: out when
// viewer wrote it; a broadcast channel's posts carry no sender.
func (s *Server) channelMessageTLLocked(ch *channel, m *message, viewer int64) *tg.Message {
	out := s.messageTLLocked(m)
	out.Out = m.FromID == viewer
	if !ch.Megagroup {
		out.Post = true
		out.FromID = nil
	}
	return out
}

// sendChannelLocked posts o from acc in the channel o.peer: one message in
// the channel's box on its pts sequence, pushed to every member's sessions
// (acc's except callerSession).
func (s *Server) sendChannelLocked(acc *account, callerSession int64, o outgoing) (*message, error) {
	ch := s.st.Channels[o.peer.ID]
	if ch == nil || !ch.member(acc.ID) {
		return nil, tgerr.New(406, "CHANNEL_PRIVATE")
	}
	if !ch.Megagroup && !ch.admin(acc.ID) {
		return nil, tgerr.New(403, "CHAT_WRITE_FORBIDDEN")
	}
	if o.randomID != 0 {
		if _, dup := ch.Box.RandomIDs[o.randomID]; dup {
			return nil, tgerr.New(500, "RANDOM_ID_DUPLICATE")
		}
	}
	if acc.Bot && !o.unlimited {
		if err := s.limiter.allow(s.now(), acc.ID, o.peer); err != nil {
			return nil, err
		}
	}
	var docID int64
	if o.media != nil {
		d, err := o.media()
		if err != nil {
			return nil, err
		}
		docID = d.ID
	}
	m := &message{
		Peer: o.peer, FromID: acc.ID, Date: int(s.now().Unix()), Text: o.text,
		Entities: encodeEntities(o.entities), Markup: encodeMarkup(o.markup),
		DocID: docID, ReplyTo: o.replyTo, Silent: o.silent, RandomID: o.randomID,
		NoForwards: o.noForwards, NoWebpage: o.noWebpage, GroupedID: o.groupedID,
	}
	ch.Box.addMessage(m)
	s.pushChannelLocked(ch, ch.Box.Log[len(ch.Box.Log)-1], acc.ID, callerSession)
	s.publishChannelLocked(ch, Event{Type: "message", FromID: acc.ID})
	s.dirty = true
	return m, nil
}

// publishChannelLocked announces e in ch to every member bot.
func (s *Server) publishChannelLocked(ch *channel, e Event) {
	for _, id := range ch.Members {
		if a := s.st.Accounts[id]; a != nil {
			s.publishToBotLocked(a, ch.peer(), e)
		}
	}
}

// feedEvent is the page's event for a logged change of a channel.
func feedEvent(e *logEntry) Event {
	switch {
	case e.Deleted != nil:
		return Event{Type: "delete", MsgIDs: slices.Clone(e.Deleted)}
	case e.Pin != nil:
		return Event{Type: "pin", MsgID: e.Pin.MsgID, Pinned: e.Pin.Pinned}
	}
	return Event{Type: "edit", MsgID: e.MsgID}
}

// logChannelLocked puts a change that is not a new message on the
// channel's pts sequence (count pts) and pushes it; it returns the new pts.
func (s *Server) logChannelLocked(ch *channel, count int, e *logEntry, actor, except int64) int {
	ch.Box.Pts += count
	e.Pts, e.PtsCount = ch.Box.Pts, count
	ch.Box.Log = append(ch.Box.Log, e)
	ch.Box.trim()
	s.dirty = true
	s.pushChannelLocked(ch, e, actor, except)
	s.publishChannelLocked(ch, feedEvent(e))
	return ch.Box.Pts
}

// pushChannelLocked pushes the log entry e to the sessions of every member
// (actor's except the session except), rendered for each.
func (s *Server) pushChannelLocked(ch *channel, e *logEntry, actor, except int64) {
	for _, id := range ch.Members {
		skip := int64(0)
		if id == actor {
			skip = except
		}
		s.pushLocked(id, skip, func() bin.Encoder {
			s.mu.Lock()
			defer s.mu.Unlock()
			u, msgs := s.channelUpdateLocked(ch, e, id)
			if u == nil {
				u = &tg.UpdateChannel{ChannelID: ch.ID} // the message is gone since
			}
			return s.channelUpdatesLocked(ch, id, msgs, u)
		})
	}
}

// channelUpdatesLocked wraps channel updates for viewer with their users
// and the channel.
func (s *Server) channelUpdatesLocked(ch *channel, viewer int64, msgs []*message, us ...tg.UpdateClass) *tg.Updates {
	return &tg.Updates{
		Updates: us,
		Users:   s.usersForLocked(viewer, msgs...),
		Chats:   []tg.ChatClass{ch.tl()},
		Date:    int(s.now().Unix()),
	}
}

// channelUpdateLocked renders the log entry e of ch for viewer, with the
// messages whose senders the client needs; nil when the message is gone.
func (s *Server) channelUpdateLocked(ch *channel, e *logEntry, viewer int64) (tg.UpdateClass, []*message) {
	switch {
	case e.Deleted != nil:
		return &tg.UpdateDeleteChannelMessages{ChannelID: ch.ID, Messages: slices.Clone(e.Deleted),
			Pts: e.Pts, PtsCount: e.PtsCount}, nil
	case e.Pin != nil:
		return &tg.UpdatePinnedChannelMessages{Pinned: e.Pin.Pinned, ChannelID: ch.ID, Messages: []int{e.Pin.MsgID},
			Pts: e.Pts, PtsCount: 1}, nil
	}
	m := ch.Box.byID[e.MsgID]
	if m == nil {
		return nil, nil
	}
	msg := s.channelMessageTLLocked(ch, m, viewer)
	if e.Edit {
		return &tg.UpdateEditChannelMessage{Message: msg, Pts: e.Pts, PtsCount: 1}, []*message{m}
	}
	return &tg.UpdateNewChannelMessage{Message: msg, Pts: e.Pts, PtsCount: 1}, []*message{m}
}

// sentChannelUpdatesLocked is the answer to a send in a channel.
func (s *Server) sentChannelUpdatesLocked(acc *account, m *message) *tg.Updates {
	ch := s.st.Channels[m.Peer.ID]
	return s.channelUpdatesLocked(ch, acc.ID, []*message{m},
		&tg.UpdateMessageID{ID: m.ID, RandomID: m.RandomID},
		&tg.UpdateNewChannelMessage{Message: s.channelMessageTLLocked(ch, m, acc.ID), Pts: m.Pts, PtsCount: 1})
}

// channelMessageLocked finds message id of ch that acc may change: its own,
// or anyone's when acc is an admin.
func channelMessageLocked(ch *channel, acc *account, id int) (*message, error) {
	m := ch.Box.byID[id]
	if m == nil {
		return nil, tgerr.New(400, "MESSAGE_ID_INVALID")
	}
	if m.FromID != acc.ID && !ch.admin(acc.ID) {
		return nil, tgerr.New(403, "MESSAGE_AUTHOR_REQUIRED")
	}
	return m, nil
}

func (s *Server) editChannelMessageLocked(c *call, channelID int64, req *tg.MessagesEditMessageRequest) (bin.Encoder, error) {
	ch := s.st.Channels[channelID]
	m, err := channelMessageLocked(ch, c.acc, req.ID)
	if err != nil {
		return nil, err
	}
	change, err := editChange(m, req)
	if err != nil {
		return nil, err
	}
	change(m)
	m.EditDate = s.editDate(m)
	e := &logEntry{MsgID: m.ID, Edit: true}
	s.logChannelLocked(ch, 1, e, c.acc.ID, c.req.Session.ID)
	u, msgs := s.channelUpdateLocked(ch, e, c.acc.ID)
	return s.channelUpdatesLocked(ch, c.acc.ID, msgs, u), nil
}

func (s *Server) pinChannelMessageLocked(c *call, channelID int64, id int, pinned bool) (bin.Encoder, error) {
	ch := s.st.Channels[channelID]
	m := ch.Box.byID[id]
	if m == nil {
		return nil, tgerr.New(400, "MESSAGE_ID_INVALID")
	}
	if !ch.Megagroup && !ch.admin(c.acc.ID) {
		return nil, tgerr.New(400, "CHAT_ADMIN_REQUIRED")
	}
	m.Pinned = pinned
	e := &logEntry{Pin: &pinEntry{Peer: ch.peer(), MsgID: id, Pinned: pinned}}
	s.logChannelLocked(ch, 1, e, c.acc.ID, c.req.Session.ID)
	u, _ := s.channelUpdateLocked(ch, e, c.acc.ID)
	return s.channelUpdatesLocked(ch, c.acc.ID, nil, u), nil
}

func (s *Server) channelsDeleteMessages(c *call, req *tg.ChannelsDeleteMessagesRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.inputChannelLocked(c.acc, req.Channel, false)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, id := range req.ID {
		if ch.Box.byID[id] == nil {
			continue // unknown IDs are ignored: pts_count tells
		}
		if _, err := channelMessageLocked(ch, c.acc, id); err != nil {
			return nil, tgerr.New(403, "MESSAGE_DELETE_FORBIDDEN")
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return &tg.MessagesAffectedMessages{Pts: ch.Box.Pts}, nil
	}
	ch.Box.removeMessages(ids)
	pts := s.logChannelLocked(ch, len(ids), &logEntry{Deleted: ids}, c.acc.ID, c.req.Session.ID)
	return &tg.MessagesAffectedMessages{Pts: pts, PtsCount: len(ids)}, nil
}

func (s *Server) channelsGetChannels(c *call, req *tg.ChannelsGetChannelsRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &tg.MessagesChats{}
	for _, in := range req.ID {
		ch, err := s.inputChannelLocked(c.acc, in, true)
		if err != nil {
			return nil, err
		}
		out.Chats = append(out.Chats, ch.tl())
	}
	return out, nil
}

func (s *Server) channelsGetFullChannel(c *call, req *tg.ChannelsGetFullChannelRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.inputChannelLocked(c.acc, req.Channel, true)
	if err != nil {
		return nil, err
	}
	full := &tg.ChannelFull{
		ID: ch.ID, ParticipantsCount: len(ch.Members), AdminsCount: len(ch.Admins),
		ReadInboxMaxID: ch.Box.NextMsgID - 1, ReadOutboxMaxID: ch.Box.NextMsgID - 1,
		ChatPhoto: &tg.PhotoEmpty{}, Pts: ch.Box.Pts,
	}
	return &tg.MessagesChatFull{FullChat: full, Chats: []tg.ChatClass{ch.tl()}, Users: []tg.UserClass{c.acc.tl(c.acc.ID)}}, nil
}

func (s *Server) channelsGetMessages(c *call, req *tg.ChannelsGetMessagesRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.inputChannelLocked(c.acc, req.Channel, false)
	if err != nil {
		return nil, err
	}
	out := &tg.MessagesChannelMessages{Pts: ch.Box.Pts}
	var msgs []*message
	for _, in := range req.ID {
		id, ok := in.(*tg.InputMessageID)
		if !ok {
			continue
		}
		if m := ch.Box.byID[id.ID]; m != nil {
			out.Messages = append(out.Messages, s.channelMessageTLLocked(ch, m, c.acc.ID))
			msgs = append(msgs, m)
		} else {
			out.Messages = append(out.Messages, &tg.MessageEmpty{ID: id.ID})
		}
	}
	out.Count = len(out.Messages)
	out.Users = s.usersForLocked(c.acc.ID, msgs...)
	out.Chats = []tg.ChatClass{ch.tl()}
	return out, nil
}

// updatesGetChannelDifference returns what happened in a channel after
// the client's pts: new messages, and edits, deletions and pins as other
// updates, at most req.Limit (and maxDifference) entries at a time.
func (s *Server) updatesGetChannelDifference(c *call, req *tg.UpdatesGetChannelDifferenceRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.inputChannelLocked(c.acc, req.Channel, false)
	if err != nil {
		return nil, err
	}
	box := ch.Box
	if req.Pts > box.Pts {
		// A client ahead of the channel (the emulator lost its state)
		// starts from now.
		return &tg.UpdatesChannelDifferenceEmpty{Final: true, Pts: box.Pts}, nil
	}
	entries := box.since(req.Pts)
	if len(entries) == 0 {
		return &tg.UpdatesChannelDifferenceEmpty{Final: true, Pts: box.Pts}, nil
	}
	limit := req.Limit
	if limit <= 0 || limit > maxDifference {
		limit = maxDifference
	}
	out := &tg.UpdatesChannelDifference{Final: len(entries) <= limit, Pts: box.Pts, Chats: []tg.ChatClass{ch.tl()}}
	if !out.Final {
		entries = entries[:limit]
		out.Pts = entries[len(entries)-1].Pts
	}
	var msgs []*message
	for _, e := range entries {
		u, ms := s.channelUpdateLocked(ch, e, c.acc.ID)
		msgs = append(msgs, ms...)
		switch u := u.(type) {
		case nil: // deleted since
		case *tg.UpdateNewChannelMessage:
			out.NewMessages = append(out.NewMessages, u.Message)
		default:
			out.OtherUpdates = append(out.OtherUpdates, u)
		}
	}
	out.Users = s.usersForLocked(c.acc.ID, msgs...)
	return out, nil
}

type channelIn struct {
	Title     string  `json:"title"`
	Megagroup bool    `json:"megagroup"`
	MemberIDs []int64 `json:"member_ids"`
}

func (s *Server) httpCreateChannel(_ *http.Request, _ int64, in channelIn) (any, error) {
	ch, err := s.CreateChannel(in.Title, in.Megagroup, in.MemberIDs)
	if err != nil {
		return nil, err
	}
	s.feed.publish(Event{Type: "accounts"})
	return ch, nil
}

func (s *Server) httpChannelSendMessage(_ *http.Request, id int64, in groupMessageIn) (any, error) {
	msgID, err := s.UserSendChannelMessage(in.UserID, id, in.Text)
	if err != nil {
		return nil, err
	}
	return map[string]int{"message_id": msgID}, nil
}

func (s *Server) httpChannelMessages(r *http.Request, id int64, _ struct{}) (any, error) {
	botID, err := queryBotID(r)
	if err != nil {
		return nil, err
	}
	msgs, err := s.ChannelMessages(id, botID)
	if err != nil {
		return nil, err
	}
	return userMessagesOut{Messages: msgs, ChatAction: s.ChannelChatAction(id, botID)}, nil
}

// ChannelChatAction is ChatAction for a channel or supergroup.
func (s *Server) ChannelChatAction(channelID, botID int64) string {
	return s.botChatAction(botID, peerKey{Channel: true, ID: channelID})
}
