package tgemu

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// This file holds what happens to messages after they were sent: edits,
// deletions, pins, and the chat actions ("typing…") around them. Each
// change reaches every copy of the message (the sender's and each
// recipient's), on each owner's pts sequence, as on Telegram.

// copyRef is one account's copy of a message.
type copyRef struct {
	acc *account
	msg *message
}

// originLocked finds the sender's copy of m, a message in acc's box.
func (s *Server) originLocked(acc *account, m *message) copyRef {
	if m.Out {
		return copyRef{acc, m}
	}
	from := s.st.Accounts[m.FromID]
	if from == nil {
		return copyRef{acc, m}
	}
	if o := from.byID[m.SrcID]; m.SrcID != 0 && o != nil && o.Out {
		return copyRef{from, o}
	}
	// A message stored before copies named their origin: match by content.
	peer := m.Peer
	if !peer.Chat {
		peer = peerKey{ID: acc.ID}
	}
	for _, o := range from.history[peer] {
		if o.Out && o.Date == m.Date && o.Text == m.Text && o.DocID == m.DocID {
			return copyRef{from, o}
		}
	}
	return copyRef{acc, m}
}

// copiesLocked lists every copy of the message m of acc: the sender's
// first, then the recipients'.
func (s *Server) copiesLocked(acc *account, m *message) []copyRef {
	origin := s.originLocked(acc, m)
	out := []copyRef{origin}
	if !origin.msg.Out {
		return out // an orphan: only this copy is known
	}
	var recipients []int64
	if origin.msg.Peer.Chat {
		if c := s.st.Chats[origin.msg.Peer.ID]; c != nil {
			recipients = c.Members
		}
	} else {
		recipients = []int64{origin.msg.Peer.ID}
	}
	for _, id := range recipients {
		r := s.st.Accounts[id]
		if r == nil || r.ID == origin.acc.ID {
			continue
		}
		peer := origin.msg.Peer
		if !peer.Chat {
			peer = peerKey{ID: origin.acc.ID}
		}
		if theirs := s.recipientCopyLocked(origin, r, peer); theirs != nil {
			out = append(out, copyRef{r, theirs})
		}
	}
	return out
}

func (s *Server) recipientCopyLocked(origin copyRef, r *account, peer peerKey) *message {
	for _, c := range r.history[peer] {
		if c.FromID == origin.acc.ID && c.SrcID == origin.msg.ID {
			return c
		}
	}
	if id := s.counterpartLocked(origin.acc, r, origin.msg.ID); id != 0 {
		if c := r.byID[id]; c != nil && c.SrcID == 0 {
			return c
		}
	}
	return nil
}

// logOtherLocked puts an update that is not a new message on acc's pts
// sequence (count pts) and pushes it to acc's sessions except the session
// except. The update is built fresh per session and for getDifference.
func (s *Server) logOtherLocked(acc *account, count int, e *logEntry, except int64) int {
	acc.Pts += count
	e.Pts, e.PtsCount = acc.Pts, count
	acc.Log = append(acc.Log, e)
	acc.trim()
	s.dirty = true
	s.pushLocked(acc.ID, except, func() bin.Encoder {
		s.mu.Lock()
		defer s.mu.Unlock()
		u, msgs, _ := s.otherUpdateLocked(acc, e)
		return &tg.Updates{
			Updates: []tg.UpdateClass{u},
			Users:   s.usersForLocked(acc.ID, msgs...),
			Chats:   s.chatsForLocked(msgs...),
			Date:    int(s.now().Unix()),
		}
	})
	return acc.Pts
}

// otherUpdateLocked renders a log entry that is an edit, a deletion or a
// pin (ok false for other entries), with the messages whose users and
// chats the client needs.
func (s *Server) otherUpdateLocked(acc *account, e *logEntry) (tg.UpdateClass, []*message, bool) {
	switch {
	case e.Edit:
		m := acc.byID[e.MsgID]
		if m == nil { // deleted since: an empty update keeps the pts sequence whole
			return &tg.UpdateReadMessagesContents{Messages: []int{}, Pts: e.Pts, PtsCount: 1}, nil, true
		}
		return &tg.UpdateEditMessage{Message: s.messageTLLocked(m), Pts: e.Pts, PtsCount: 1}, []*message{m}, true
	case e.Deleted != nil:
		return &tg.UpdateDeleteMessages{Messages: slices.Clone(e.Deleted), Pts: e.Pts, PtsCount: e.PtsCount}, nil, true
	case e.Pin != nil:
		ref := &message{Peer: e.Pin.Peer}
		return &tg.UpdatePinnedMessages{Pinned: e.Pin.Pinned, Peer: e.Pin.Peer.tl(), Messages: []int{e.Pin.MsgID},
			Pts: e.Pts, PtsCount: 1}, []*message{ref}, true
	}
	return nil, nil, false
}

// myMessageLocked finds acc's message id in the dialog peer.
func myMessageLocked(acc *account, peer peerKey, id int) (*message, error) {
	m := acc.byID[id]
	if m == nil || m.Peer != peer {
		return nil, tgerr.New(400, "MESSAGE_ID_INVALID")
	}
	return m, nil
}

func (s *Server) messagesEditMessage(c *call, req *tg.MessagesEditMessageRequest) (bin.Encoder, error) {
	if req.Media != nil {
		return nil, tgerr.New(400, "MEDIA_INVALID") // only texts, captions and keyboards change here
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, err := s.resolvePeerLocked(c.acc, req.Peer)
	if err != nil {
		return nil, err
	}
	if peer.Channel {
		return s.editChannelMessageLocked(c, peer.ID, req)
	}
	m, err := myMessageLocked(c.acc, peer, req.ID)
	if err != nil {
		return nil, err
	}
	if !m.Out {
		return nil, tgerr.New(403, "MESSAGE_AUTHOR_REQUIRED")
	}
	change, err := editChange(m, req)
	if err != nil {
		return nil, err
	}
	s.editLocked(c.acc, m, c.req.Session.ID, change)
	return &tg.Updates{
		Updates: []tg.UpdateClass{&tg.UpdateEditMessage{Message: s.messageTLLocked(m), Pts: c.acc.Pts, PtsCount: 1}},
		Users:   s.usersForLocked(c.acc.ID, m),
		Chats:   s.chatsForLocked(m),
		Date:    int(s.now().Unix()),
	}, nil
}

// editChange is what req does to the message m (every copy of it), or
// MESSAGE_NOT_MODIFIED when it changes nothing.
func editChange(m *message, req *tg.MessagesEditMessageRequest) (func(*message), error) {
	text, entities := m.Text, m.Entities
	if t, ok := req.GetMessage(); ok {
		if err := checkEditText(t, m.DocID != 0); err != nil {
			return nil, err
		}
		text, entities = t, encodeEntities(req.Entities)
	}
	markup := encodeMarkup(req.ReplyMarkup)
	if text == m.Text && string(entities) == string(m.Entities) && string(markup) == string(m.Markup) {
		return nil, tgerr.New(400, "MESSAGE_NOT_MODIFIED")
	}
	return func(x *message) {
		x.Text, x.Entities, x.Markup = text, entities, markup
		x.NoWebpage = req.NoWebpage
	}, nil
}

func checkEditText(text string, caption bool) error {
	if !caption {
		return checkText(text)
	}
	if utf16Len(text) > maxCaptionLength {
		return tgerr.New(400, "MEDIA_CAPTION_TOO_LONG")
	}
	return nil
}

// editLocked applies change to every copy of acc's message m, stamps the
// edit date (later than the last edit's, so each edit has its own) and
// logs and pushes updateEditMessage to each owner (not to the session
// except, which gets the update as its answer).
func (s *Server) editLocked(acc *account, m *message, except int64, change func(*message)) {
	date := s.editDate(m)
	for _, cp := range s.copiesLocked(acc, m) {
		change(cp.msg)
		cp.msg.EditDate = date
		skip := int64(0)
		if cp.acc == acc {
			skip = except
		}
		s.logOtherLocked(cp.acc, 1, &logEntry{MsgID: cp.msg.ID, Edit: true}, skip)
		s.publishToBotLocked(cp.acc, cp.msg.Peer, Event{Type: "edit", MsgID: cp.msg.ID})
	}
}

// editDate is the date of a new edit of m: now, but later than its last
// edit, so each edit has its own.
func (s *Server) editDate(m *message) int {
	date := int(s.now().Unix())
	if date <= m.EditDate {
		date = m.EditDate + 1
	}
	return date
}

func (s *Server) messagesDeleteMessages(c *call, req *tg.MessagesDeleteMessagesRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acc := c.acc
	var targets []*message
	for _, id := range req.ID {
		m := acc.byID[id]
		if m == nil {
			continue // Telegram ignores IDs it does not know: pts_count tells
		}
		// Bots delete their own messages anywhere and incoming ones in
		// private chats; others' messages in groups need admin rights,
		// which basic groups here do not have.
		if acc.Bot && !m.Out && m.Peer.Chat {
			return nil, tgerr.New(403, "MESSAGE_DELETE_FORBIDDEN")
		}
		targets = append(targets, m)
	}
	// Each owner's deleted copies, per dialog (for the feed; the pts
	// sequence takes them all at once).
	type dialog struct {
		acc  *account
		peer peerKey
	}
	byOwner := map[*account][]int{}
	byDialog := map[dialog][]int{}
	var owners []*account
	var dialogs []dialog
	for _, m := range targets {
		refs := []copyRef{{acc, m}}
		if req.Revoke || acc.Bot {
			refs = s.copiesLocked(acc, m)
			if !slices.ContainsFunc(refs, func(r copyRef) bool { return r.msg == m }) {
				refs = append(refs, copyRef{acc, m})
			}
		}
		for _, r := range refs {
			if _, seen := byOwner[r.acc]; !seen {
				owners = append(owners, r.acc)
			}
			byOwner[r.acc] = append(byOwner[r.acc], r.msg.ID)
			d := dialog{r.acc, r.msg.Peer}
			if _, seen := byDialog[d]; !seen {
				dialogs = append(dialogs, d)
			}
			byDialog[d] = append(byDialog[d], r.msg.ID)
		}
	}
	out := &tg.MessagesAffectedMessages{Pts: acc.Pts}
	for _, owner := range owners {
		ids := byOwner[owner]
		owner.removeMessages(ids)
		skip := int64(0)
		if owner == acc {
			skip = c.req.Session.ID
		}
		pts := s.logOtherLocked(owner, len(ids), &logEntry{Deleted: ids}, skip)
		if owner == acc {
			out.Pts, out.PtsCount = pts, len(ids)
		}
	}
	for _, d := range dialogs {
		s.publishToBotLocked(d.acc, d.peer, Event{Type: "delete", MsgIDs: byDialog[d]})
	}
	return out, nil
}

// removeMessages drops messages from the box.
func (a *account) removeMessages(ids []int) {
	gone := map[int]bool{}
	for _, id := range ids {
		if m := a.byID[id]; m != nil {
			gone[id] = true
			delete(a.byID, id)
			a.history[m.Peer] = slices.DeleteFunc(a.history[m.Peer], func(x *message) bool { return x.ID == id })
		}
	}
	a.Messages = slices.DeleteFunc(a.Messages, func(x *message) bool { return gone[x.ID] })
}

func (s *Server) messagesUpdatePinnedMessage(c *call, req *tg.MessagesUpdatePinnedMessageRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, err := s.resolvePeerLocked(c.acc, req.Peer)
	if err != nil {
		return nil, err
	}
	if peer.Channel {
		return s.pinChannelMessageLocked(c, peer.ID, req.ID, !req.Unpin)
	}
	m, err := myMessageLocked(c.acc, peer, req.ID)
	if err != nil {
		return nil, err
	}
	pinned := !req.Unpin
	var mine tg.UpdateClass
	for _, cp := range s.copiesLocked(c.acc, m) {
		cp.msg.Pinned = pinned
		e := &logEntry{Pin: &pinEntry{Peer: cp.msg.Peer, MsgID: cp.msg.ID, Pinned: pinned}}
		skip := int64(0)
		if cp.acc == c.acc {
			skip = c.req.Session.ID
		}
		s.logOtherLocked(cp.acc, 1, e, skip)
		if cp.acc == c.acc {
			mine, _, _ = s.otherUpdateLocked(cp.acc, e)
		}
		s.publishToBotLocked(cp.acc, cp.msg.Peer, Event{Type: "pin", MsgID: cp.msg.ID, Pinned: pinned})
	}
	if mine == nil { // the bot's copy was not among them: cannot happen, but answer well
		return nil, tgerr.New(400, "MESSAGE_ID_INVALID")
	}
	return &tg.Updates{
		Updates: []tg.UpdateClass{mine},
		Users:   s.usersForLocked(c.acc.ID, m),
		Chats:   s.chatsForLocked(m),
		Date:    int(s.now().Unix()),
	}, nil
}

// pinEntry is a pin or unpin on the pts sequence.
type pinEntry struct {
	Peer   peerKey `json:"peer"`
	MsgID  int     `json:"msg_id"`
	Pinned bool    `json:"pinned"`
}

// actionKey is the dialog of an account that a chat action was sent in.
type actionKey struct {
	from int64
	peer peerKey
}

// chatActions are the Bot API's names of MTProto's chat actions.
var chatActions = map[uint32]string{
	tg.SendMessageTypingActionTypeID:         "typing",
	tg.SendMessageUploadPhotoActionTypeID:    "upload_photo",
	tg.SendMessageRecordVideoActionTypeID:    "record_video",
	tg.SendMessageUploadVideoActionTypeID:    "upload_video",
	tg.SendMessageRecordAudioActionTypeID:    "record_voice",
	tg.SendMessageUploadAudioActionTypeID:    "upload_voice",
	tg.SendMessageUploadDocumentActionTypeID: "upload_document",
	tg.SendMessageChooseStickerActionTypeID:  "choose_sticker",
	tg.SendMessageGeoLocationActionTypeID:    "find_location",
	tg.SendMessageRecordRoundActionTypeID:    "record_video_note",
	tg.SendMessageUploadRoundActionTypeID:    "upload_video_note",
	tg.SendMessageCancelActionTypeID:         "cancel",
}

func (s *Server) messagesSetTyping(c *call, req *tg.MessagesSetTypingRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, err := s.resolvePeerLocked(c.acc, req.Peer)
	if err != nil {
		return nil, err
	}
	name, ok := chatActions[req.Action.TypeID()]
	if !ok {
		name = req.Action.TypeName()
	}
	s.st.actions[actionKey{from: c.acc.ID, peer: peer}] = name
	s.publishToBotLocked(c.acc, peer, Event{Type: "chat_action", Action: name})
	return boolResult(true), nil
}

// chatActionLocked is the last chat action acc sent in peer ("" for none).
func (s *Server) chatActionLocked(acc *account, peer peerKey) string {
	return s.st.actions[actionKey{from: acc.ID, peer: peer}]
}

// UserEditMessage makes the user edit the text of a message they sent to
// the bot; msgID is the message's ID in the bot's chat (as Messages and
// UserSendMessage give it). The bot's sessions get updateEditMessage. It
// returns the edit date.
func (s *Server) UserEditMessage(userID, botID int64, msgID int, text string) (int, error) {
	if err := checkText(text); err != nil {
		return 0, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bot, err := s.userAndBotLocked(userID, botID)
	if err != nil {
		return 0, err
	}
	m := bot.byID[msgID]
	if m == nil || m.Out || m.FromID != u.ID || m.Peer != (peerKey{ID: u.ID}) {
		return 0, fmt.Errorf("%w: message %d of user %d in the bot's chat", ErrNotFound, msgID, userID)
	}
	if m.Text == text {
		return 0, fmt.Errorf("%w: MESSAGE_NOT_MODIFIED", ErrInvalid)
	}
	s.editLocked(bot, m, 0, func(x *message) { x.Text, x.Entities = text, nil })
	return m.EditDate, nil
}

// ChatAction is the last chat action ("typing", "upload_photo", ...) the
// bot (botID 0 = the only bot) sent in its private chat with the user, ""
// if none.
func (s *Server) ChatAction(userID, botID int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bot, err := s.userAndBotLocked(userID, botID)
	if err != nil {
		return ""
	}
	return s.chatActionLocked(bot, peerKey{ID: u.ID})
}

// GroupChatAction is ChatAction for a basic group.
func (s *Server) GroupChatAction(chatID, botID int64) string {
	return s.botChatAction(botID, peerKey{Chat: true, ID: chatID})
}

// botChatAction is the last chat action the bot (0 = the only bot) sent in
// peer, "" if none.
func (s *Server) botChatAction(botID int64, peer peerKey) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	bot, err := s.botByIDLocked(botID)
	if err != nil {
		return ""
	}
	return s.chatActionLocked(bot, peer)
}

// userMessagesOut is the answer of GET /v1/users/{id}/messages.
type userMessagesOut struct {
	Messages   []Message `json:"messages"`
	ChatAction string    `json:"chat_action,omitempty"`
}

type editIn struct {
	Text  string `json:"text"`
	BotID int64  `json:"bot_id"`
}

// httpUserEditMessage is PATCH /v1/users/{id}/messages/{message_id}.
func (s *Server) httpUserEditMessage(r *http.Request, id int64, in editIn) (any, error) {
	msgID, err := strconv.Atoi(chi.URLParam(r, "message_id"))
	if err != nil || msgID <= 0 {
		return nil, fmt.Errorf("%w: message_id must be a positive integer", ErrInvalid)
	}
	if in.BotID == 0 {
		if in.BotID, err = queryBotID(r); err != nil {
			return nil, err
		}
	}
	date, err := s.UserEditMessage(id, in.BotID, msgID, in.Text)
	if err != nil {
		return nil, err
	}
	return map[string]int{"message_id": msgID, "edit_date": date}, nil
}
