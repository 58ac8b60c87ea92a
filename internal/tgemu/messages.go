package tgemu

import (
	"unicode/utf16"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// Telegram's size limits.
const (
	maxMessageLength = 4096 // UTF-16 code units
	maxCaptionLength = 1024
)

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r) // invalid UTF-8 decodes to U+FFFD: one unit
	}
	return n
}

// messageTLLocked renders m as a fresh tg.Message.
func (s *Server) messageTLLocked(m *message) *tg.Message {
	out := &tg.Message{
		ID:          m.ID,
		Out:         m.Out,
		Silent:      m.Silent,
		Pinned:      m.Pinned,
		Noforwards:  m.NoForwards,
		EditDate:    m.EditDate,
		PeerID:      m.Peer.tl(),
		Date:        m.Date,
		Message:     m.Text,
		Entities:    decodeEntities(m.Entities),
		ReplyMarkup: decodeMarkup(m.Markup),
	}
	if m.FromID != 0 {
		out.FromID = &tg.PeerUser{UserID: m.FromID}
	}
	if m.ReplyTo != 0 {
		out.ReplyTo = &tg.MessageReplyHeader{ReplyToMsgID: m.ReplyTo}
	}
	if m.DocID != 0 {
		if d := s.st.Documents[m.DocID]; d != nil {
			out.Media = s.mediaTLLocked(d)
		}
	}
	out.GroupedID = m.GroupedID
	return out
}

// usersForLocked lists the users a client needs to display m.
func (s *Server) usersForLocked(viewer int64, ms ...*message) []tg.UserClass {
	seen := map[int64]bool{}
	var out []tg.UserClass
	add := func(id int64) {
		if id == 0 || seen[id] {
			return
		}
		seen[id] = true
		if a := s.st.Accounts[id]; a != nil {
			out = append(out, a.tl(viewer))
		}
	}
	add(viewer)
	for _, m := range ms {
		add(m.FromID)
		if m.Peer.user() {
			add(m.Peer.ID)
		}
	}
	return out
}

func (s *Server) chatsForLocked(ms ...*message) []tg.ChatClass {
	seen := map[int64]bool{}
	var out []tg.ChatClass
	for _, m := range ms {
		if m.Peer.Channel {
			out = s.appendChannelLocked(out, seen, m.Peer.ID)
			continue
		}
		if !m.Peer.Chat || seen[m.Peer.ID] {
			continue
		}
		seen[m.Peer.ID] = true
		if c := s.st.Chats[m.Peer.ID]; c != nil {
			out = append(out, c.tl())
		}
	}
	return out
}

// resolvePeerLocked turns an input peer into a dialog of acc. Users may be
// addressed with access hash 0 when they have written to acc (as bots may).
func (s *Server) resolvePeerLocked(acc *account, p tg.InputPeerClass) (peerKey, error) {
	errPeer := tgerr.New(400, "PEER_ID_INVALID")
	switch p := p.(type) {
	case *tg.InputPeerUser:
		u := s.st.Accounts[p.UserID]
		if u == nil || u.ID == acc.ID {
			return peerKey{}, errPeer
		}
		if p.AccessHash != u.AccessHash && !(p.AccessHash == 0 && acc.knownPeers[u.ID]) {
			return peerKey{}, errPeer
		}
		return peerKey{ID: u.ID}, nil
	case *tg.InputPeerChat:
		c := s.st.Chats[p.ChatID]
		if c == nil {
			return peerKey{}, errPeer
		}
		if !c.member(acc.ID) {
			return peerKey{}, tgerr.New(403, "CHAT_WRITE_FORBIDDEN")
		}
		return peerKey{Chat: true, ID: c.ID}, nil
	case *tg.InputPeerUserFromMessage:
		return s.resolvePeerLocked(acc, &tg.InputPeerUser{UserID: p.UserID})
	case *tg.InputPeerChannel:
		ch, err := s.channelForLocked(acc, p.ChannelID, p.AccessHash)
		if err != nil {
			return peerKey{}, err
		}
		return ch.peer(), nil
	default:
		return peerKey{}, errPeer
	}
}

// outgoing is a message a client sends.
type outgoing struct {
	peer     peerKey
	text     string
	entities []tg.MessageEntityClass
	markup   tg.ReplyMarkupClass
	// media, when set, resolves the document once the send passed the
	// duplicate, block and flood checks.
	media    func() (*document, error)
	replyTo  int
	silent   bool
	randomID int64
	// groupedID makes the message part of an album; album items after the
	// first skip the flood limits (one album counts once).
	groupedID int64
	unlimited bool
	// noForwards (protect_content) and noWebpage (no link preview).
	noForwards, noWebpage bool
}

// sendLocked delivers o from acc: the sender's copy, then a copy in every
// recipient's box, each on its owner's pts sequence, pushed to their
// sessions (the sender's except the calling session). It returns the
// sender's copy and the recipients' copies.
func (s *Server) sendLocked(acc *account, callerSession int64, o outgoing) (*message, []*message, error) {
	if o.peer.Channel {
		m, err := s.sendChannelLocked(acc, callerSession, o)
		return m, nil, err
	}
	if o.randomID != 0 {
		if _, dup := acc.RandomIDs[o.randomID]; dup {
			return nil, nil, tgerr.New(500, "RANDOM_ID_DUPLICATE")
		}
	}
	var recipients []*account
	if o.peer.Chat {
		c := s.st.Chats[o.peer.ID]
		for _, id := range c.Members {
			if id != acc.ID {
				if a := s.st.Accounts[id]; a != nil {
					recipients = append(recipients, a)
				}
			}
		}
	} else {
		to := s.st.Accounts[o.peer.ID]
		if to.Blocked[acc.ID] {
			return nil, nil, tgerr.New(400, "USER_IS_BLOCKED")
		}
		recipients = append(recipients, to)
	}
	if acc.Bot && !o.unlimited {
		if err := s.limiter.allow(s.now(), acc.ID, o.peer); err != nil {
			return nil, nil, err
		}
	}
	var docID int64
	if o.media != nil {
		d, err := o.media()
		if err != nil {
			return nil, nil, err
		}
		docID = d.ID
	}
	date := int(s.now().Unix())
	ents := encodeEntities(o.entities)
	markup := encodeMarkup(o.markup)
	mine := &message{
		Peer: o.peer, FromID: acc.ID, Out: true, Date: date, Text: o.text, Entities: ents, Markup: markup,
		DocID: docID, ReplyTo: o.replyTo, Silent: o.silent, RandomID: o.randomID,
		NoForwards: o.noForwards, NoWebpage: o.noWebpage, GroupedID: o.groupedID,
	}
	acc.addMessage(mine)
	s.pushMessageLocked(acc, mine, callerSession)
	copies := make([]*message, 0, len(recipients))
	for _, r := range recipients {
		peer := o.peer
		if !peer.Chat {
			peer = peerKey{ID: acc.ID}
		}
		theirs := &message{
			Peer: peer, FromID: acc.ID, Date: date, Text: o.text, Entities: ents, Markup: markup,
			DocID: docID, Silent: o.silent, SrcID: mine.ID, NoForwards: o.noForwards, NoWebpage: o.noWebpage,
			GroupedID: o.groupedID,
		}
		if o.replyTo != 0 {
			theirs.ReplyTo = s.counterpartLocked(acc, r, o.replyTo)
		}
		r.addMessage(theirs)
		s.pushMessageLocked(r, theirs, 0)
		copies = append(copies, theirs)
	}
	s.publishMessageLocked(acc, o.peer, recipients)
	s.dirty = true
	return mine, copies, nil
}

// counterpartLocked finds, in to's box, the copy of from's message id. Copies
// share date, sender and text; good enough for the reply header.
func (s *Server) counterpartLocked(from, to *account, id int) int {
	m := from.byID[id]
	if m == nil {
		return 0
	}
	peer := m.Peer
	if !peer.Chat {
		peer = peerKey{ID: from.ID}
	}
	for _, c := range to.history[peer] {
		if c.Date == m.Date && c.FromID == m.FromID && c.Text == m.Text && c.DocID == m.DocID {
			return c.ID
		}
	}
	return 0
}

// sentUpdatesLocked is the answer to a send: updateMessageID (so gotd's
// helpers learn the ID) and updateNewMessage.
func (s *Server) sentUpdatesLocked(acc *account, m *message) *tg.Updates {
	if m.Peer.Channel {
		return s.sentChannelUpdatesLocked(acc, m)
	}
	return &tg.Updates{
		Updates: []tg.UpdateClass{
			&tg.UpdateMessageID{ID: m.ID, RandomID: m.RandomID},
			&tg.UpdateNewMessage{Message: s.messageTLLocked(m), Pts: m.Pts, PtsCount: 1},
		},
		Users: s.usersForLocked(acc.ID, m),
		Chats: s.chatsForLocked(m),
		Date:  m.Date,
	}
}

func checkText(text string) error {
	if text == "" {
		return tgerr.New(400, "MESSAGE_EMPTY")
	}
	if utf16Len(text) > maxMessageLength {
		return tgerr.New(400, "MESSAGE_TOO_LONG")
	}
	return nil
}

func replyToID(r tg.InputReplyToClass) int {
	if m, ok := r.(*tg.InputReplyToMessage); ok {
		return m.ReplyToMsgID
	}
	return 0
}

func (s *Server) messagesSendMessage(c *call, req *tg.MessagesSendMessageRequest) (bin.Encoder, error) {
	if err := checkText(req.Message); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, err := s.resolvePeerLocked(c.acc, req.Peer)
	if err != nil {
		return nil, err
	}
	m, _, err := s.sendLocked(c.acc, c.req.Session.ID, outgoing{
		peer: peer, text: req.Message, entities: req.Entities, markup: req.ReplyMarkup,
		replyTo: replyToID(req.ReplyTo), silent: req.Silent, randomID: req.RandomID,
		noForwards: req.Noforwards, noWebpage: req.NoWebpage,
	})
	if err != nil {
		return nil, err
	}
	return s.sentUpdatesLocked(c.acc, m), nil
}
