package tgemu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
)

// Errors of the Go and control API; the HTTP layer maps them to 404/400/409.
var (
	// ErrNotFound is returned when a user, bot, chat or message does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid is returned for bad input.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict is returned when a username or phone is taken.
	ErrConflict = errors.New("conflict")
)

// User is an account as the control API shows it.
type User struct {
	ID         int64  `json:"id"`
	AccessHash int64  `json:"access_hash"`
	Username   string `json:"username,omitempty"`
	FirstName  string `json:"first_name,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Bot        bool   `json:"bot,omitempty"`
}

// Chat is a basic group.
type Chat struct {
	ID      int64   `json:"id"`
	Title   string  `json:"title"`
	Members []int64 `json:"members"`
}

// Message is one message of a chat as the bot sees it.
type Message struct {
	ID int `json:"id"`
	// Out is true when the bot sent it.
	Out bool `json:"out"`
	// FromID is the sender (useful in groups).
	FromID      int64         `json:"from_id"`
	Text        string        `json:"text"`
	Entities    []Entity      `json:"entities,omitempty"`
	ReplyMarkup *ReplyMarkup  `json:"reply_markup,omitempty"`
	Document    *DocumentInfo `json:"document,omitempty"`
	Photo       *PhotoInfo    `json:"photo,omitempty"`
	GroupedID   int64         `json:"grouped_id,omitempty"`
	ReplyTo     int           `json:"reply_to,omitempty"`
	Silent      bool          `json:"silent,omitempty"`
	// Date is unix seconds.
	Date int64 `json:"date"`
	// EditDate is when the message was last edited (unix seconds), 0 if never.
	EditDate int64 `json:"edit_date,omitempty"`
	Pinned   bool  `json:"pinned,omitempty"`
	// ProtectContent: the message may not be forwarded or saved.
	ProtectContent bool `json:"protect_content,omitempty"`
	// LinkPreviewDisabled: the sender asked for no link preview.
	LinkPreviewDisabled bool `json:"link_preview_disabled,omitempty"`
}

// DocumentInfo describes a message's document.
type DocumentInfo struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"` // hex
}

// randInt63 is a positive random number (IDs, access hashes).
func (s *Server) randInt63() int64 {
	var b [8]byte
	s.randSrc(b[:])
	v := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	if v == 0 {
		v = 1
	}
	return v
}

func (a *account) user() User {
	return User{ID: a.ID, AccessHash: a.AccessHash, Username: a.Username, FirstName: a.FirstName, Phone: a.Phone, Bot: a.Bot}
}

// CreateUser creates a user account (one that only exists here: the
// control API plays it). Username is optional and unique.
func (s *Server) CreateUser(firstName, username string) (User, error) {
	return s.CreateUserWithPhone(firstName, username, "")
}

// CreateUserWithPhone is CreateUser with a phone number, so the account can
// also log in over MTProto (auth.sendCode + auth.signIn with LoginCode).
func (s *Server) CreateUserWithPhone(firstName, username, phone string) (User, error) {
	if strings.TrimSpace(firstName) == "" {
		return User{}, fmt.Errorf("%w: first_name is required", ErrInvalid)
	}
	username, err := cleanUsername(username)
	if err != nil {
		return User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if username != "" {
		if _, taken := s.st.byUsername[strings.ToLower(username)]; taken {
			return User{}, fmt.Errorf("%w: username %q is taken", ErrConflict, username)
		}
	}
	if phone != "" {
		if _, taken := s.st.byPhone[phone]; taken {
			return User{}, fmt.Errorf("%w: phone is taken", ErrConflict)
		}
	}
	a := newAccount(s.st.newUserID(), s.randInt63())
	a.FirstName = firstName
	a.Username = username
	a.Phone = phone
	s.st.Accounts[a.ID] = a
	if username != "" {
		s.st.byUsername[strings.ToLower(username)] = a.ID
	}
	if phone != "" {
		s.st.byPhone[phone] = a.ID
	}
	s.dirty = true
	return a.user(), nil
}

// cleanUsername drops a leading @ and checks what is left (empty is fine).
func cleanUsername(u string) (string, error) {
	u = strings.TrimPrefix(u, "@")
	if u != "" && !validUsername(u) {
		return "", fmt.Errorf("%w: username must be 5-32 letters, digits or _", ErrInvalid)
	}
	return u, nil
}

func validUsername(u string) bool {
	if len(u) < 5 || len(u) > 32 {
		return false
	}
	for _, r := range u {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// RegisterBot creates the bot of token (as its first login would), so users
// can write to it before it ever connects.
func (s *Server) RegisterBot(token string) (User, error) {
	id, ok := s.checkBotToken(token)
	if !ok {
		return User{}, fmt.Errorf("%w: bad bot token", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.botLocked(id).user(), nil
}

// CreateBot creates bot id before it logs in, with username (optional,
// unique; the default is emu<id>_bot), so users can write to it first. A
// bot that exists already is returned unchanged when username is empty or
// its own; an ID that belongs to a user is a conflict.
func (s *Server) CreateBot(id int64, username string) (User, error) {
	if id <= 0 {
		return User{}, fmt.Errorf("%w: id must be a positive integer", ErrInvalid)
	}
	username, err := cleanUsername(username)
	if err != nil {
		return User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.st.Accounts[id]; a != nil {
		if !a.Bot {
			return User{}, fmt.Errorf("%w: account %d is a user", ErrConflict, id)
		}
		if username != "" && !strings.EqualFold(username, a.Username) {
			return User{}, fmt.Errorf("%w: bot %d exists as @%s", ErrConflict, id, a.Username)
		}
		return a.user(), nil
	}
	if username != "" {
		if _, taken := s.st.byUsername[strings.ToLower(username)]; taken {
			return User{}, fmt.Errorf("%w: username %q is taken", ErrConflict, username)
		}
	}
	a := s.botLocked(id)
	if username != "" {
		delete(s.st.byUsername, strings.ToLower(a.Username))
		a.Username = username
		s.st.byUsername[strings.ToLower(username)] = id
	}
	return a.user(), nil
}

// Bots lists the bot accounts by ID.
func (s *Server) Bots() []User {
	var out []User
	for _, u := range s.Users() {
		if u.Bot {
			out = append(out, u)
		}
	}
	return out
}

// Users lists every account, bots included, by ID.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.st.Accounts))
	for _, a := range s.st.Accounts {
		out = append(out, a.user())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// userLocked returns the non-bot account id.
func (s *Server) userLocked(id int64) (*account, error) {
	a := s.st.Accounts[id]
	if a == nil || a.Bot {
		return nil, fmt.Errorf("%w: user %d", ErrNotFound, id)
	}
	return a, nil
}

// userAndBotLocked resolves the two ends of a private chat.
func (s *Server) userAndBotLocked(userID, botID int64) (*account, *account, error) {
	u, err := s.userLocked(userID)
	if err != nil {
		return nil, nil, err
	}
	bot, err := s.botByIDLocked(botID)
	if err != nil {
		return nil, nil, err
	}
	return u, bot, nil
}

// botByIDLocked returns bot id, or the only bot when id is 0.
func (s *Server) botByIDLocked(id int64) (*account, error) {
	if id != 0 {
		a := s.st.Accounts[id]
		if a == nil || !a.Bot {
			return nil, fmt.Errorf("%w: bot %d", ErrNotFound, id)
		}
		return a, nil
	}
	var found *account
	for _, a := range s.st.Accounts {
		if !a.Bot {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: several bots exist, bot_id is required", ErrInvalid)
		}
		found = a
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no bot has logged in yet", ErrNotFound)
	}
	return found, nil
}

// UserSendMessage makes user userID write text to the bot (botID 0 = the
// only bot). The bot's sessions get updateNewMessage. It returns the
// message ID in the bot's chat (the ID the bot sees).
func (s *Server) UserSendMessage(userID, botID int64, text string) (int, error) {
	if err := checkText(text); err != nil {
		return 0, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bot, err := s.userAndBotLocked(userID, botID)
	if err != nil {
		return 0, err
	}
	_, copies, err := s.sendLocked(u, 0, outgoing{peer: peerKey{ID: bot.ID}, text: text})
	if err != nil {
		return 0, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	return copies[0].ID, nil
}

// UserPressButton makes the user press the inline button with callback
// data on the bot's message msgID (an ID from Messages). The bot's sessions
// get updateBotCallbackQuery; the bot answers with
// messages.setBotCallbackAnswer.
func (s *Server) UserPressButton(userID, botID int64, msgID int, data []byte) error {
	_, err := s.PressButton(userID, botID, msgID, data)
	return err
}

// PressButton is UserPressButton that returns the callback query's ID.
func (s *Server) PressButton(userID, botID int64, msgID int, data []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bot, err := s.userAndBotLocked(userID, botID)
	if err != nil {
		return 0, err
	}
	m := bot.byID[msgID]
	if m == nil || m.Peer != (peerKey{ID: u.ID}) || !m.Out {
		return 0, fmt.Errorf("%w: message %d of the bot in this chat", ErrNotFound, msgID)
	}
	if !hasCallbackButton(decodeMarkup(m.Markup), data) {
		return 0, fmt.Errorf("%w: message %d has no inline button with this callback data", ErrInvalid, msgID)
	}
	cb := &callback{
		QueryID:      s.randInt63(),
		UserID:       u.ID,
		Peer:         peerKey{ID: u.ID},
		MsgID:        msgID,
		Data:         append([]byte(nil), data...),
		ChatInstance: u.ID ^ bot.ID,
	}
	pts := bot.addCallback(cb)
	s.st.callbacks[cb.QueryID] = cb
	s.dirty = true
	// The callback rides with an empty pts-carrying update so the bot's
	// pts sequence moves: a client that misses this push sees the gap and
	// gets the callback from getDifference.
	s.pushLocked(bot.ID, 0, func() bin.Encoder {
		s.mu.Lock()
		defer s.mu.Unlock()
		return &tg.Updates{
			Updates: []tg.UpdateClass{
				cb.tl(),
				&tg.UpdateReadMessagesContents{Messages: []int{}, Pts: pts, PtsCount: 1},
			},
			Users: []tg.UserClass{u.tl(bot.ID), bot.tl(bot.ID)},
			Date:  int(s.now().Unix()),
		}
	})
	return cb.QueryID, nil
}

func hasCallbackButton(m tg.ReplyMarkupClass, data []byte) bool {
	inline, ok := m.(*tg.ReplyInlineMarkup)
	if !ok {
		return false
	}
	for _, row := range inline.Rows {
		for _, b := range row.Buttons {
			if cb, ok := b.Type.(*tg.InlineButtonTypeCallback); ok && bytes.Equal(cb.Data, data) {
				return true
			}
		}
	}
	return false
}

// Block makes the user block the bot: the bot's sends then fail with
// USER_IS_BLOCKED.
func (s *Server) Block(userID, botID int64) error { return s.setBlocked(userID, botID, true) }

// Unblock undoes Block.
func (s *Server) Unblock(userID, botID int64) error { return s.setBlocked(userID, botID, false) }

func (s *Server) setBlocked(userID, botID int64, blocked bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bot, err := s.userAndBotLocked(userID, botID)
	if err != nil {
		return err
	}
	if u.Blocked[bot.ID] == blocked {
		return nil
	}
	if blocked {
		u.Blocked[bot.ID] = true
	} else {
		delete(u.Blocked, bot.ID)
	}
	s.botStoppedLocked(bot, u, blocked)
	s.dirty = true
	return nil
}

// Messages returns the private chat of the user and the bot (botID 0 = the
// only bot) as the bot sees it, oldest first.
func (s *Server) Messages(userID, botID int64) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bot, err := s.userAndBotLocked(userID, botID)
	if err != nil {
		return nil, err
	}
	return s.messagesViewLocked(bot.history[peerKey{ID: u.ID}]), nil
}

func (s *Server) messagesViewLocked(ms []*message) []Message {
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		v := Message{
			ID: m.ID, Out: m.Out, FromID: m.FromID, Text: m.Text, ReplyTo: m.ReplyTo, Silent: m.Silent, Date: int64(m.Date),
			Entities:    entitiesView(decodeEntities(m.Entities)),
			ReplyMarkup: markupView(decodeMarkup(m.Markup)),
		}
		v.EditDate, v.Pinned, v.ProtectContent, v.LinkPreviewDisabled = int64(m.EditDate), m.Pinned, m.NoForwards, m.NoWebpage
		if d := s.st.Documents[m.DocID]; d != nil {
			v.Document, v.Photo = mediaView(d)
		}
		v.GroupedID = m.GroupedID
		out = append(out, v)
	}
	return out
}

// CreateGroup creates a basic group with the given members (user or bot
// IDs). Every bot that has logged in so far and is listed is a member;
// with no bot listed, the only bot is added.
func (s *Server) CreateGroup(title string, memberIDs []int64) (Chat, error) {
	if strings.TrimSpace(title) == "" {
		return Chat{}, fmt.Errorf("%w: title is required", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	members, err := s.membersLocked(memberIDs)
	if err != nil {
		return Chat{}, err
	}
	s.st.NextChatID++
	c := &chat{ID: s.st.NextChatID, Title: title, Members: members, Date: int(s.now().Unix())}
	s.st.Chats[c.ID] = c
	s.dirty = true
	return Chat{ID: c.ID, Title: c.Title, Members: append([]int64(nil), members...)}, nil
}

// membersLocked checks and dedupes the member IDs of a new group or
// channel; with no bot among them, the only bot is added.
func (s *Server) membersLocked(memberIDs []int64) ([]int64, error) {
	seen := map[int64]bool{}
	var members []int64
	hasBot := false
	for _, id := range memberIDs {
		a := s.st.Accounts[id]
		if a == nil {
			return nil, fmt.Errorf("%w: account %d", ErrNotFound, id)
		}
		if !seen[id] {
			seen[id] = true
			members = append(members, id)
			hasBot = hasBot || a.Bot
		}
	}
	if !hasBot {
		bot, err := s.botByIDLocked(0)
		if err != nil {
			return nil, err
		}
		members = append(members, bot.ID)
	}
	return members, nil
}

// UserSendGroupMessage makes a member write text in a group; every other
// member, the bot included, gets it. It returns the bot's message ID (of
// the only bot in the group, or the first).
func (s *Server) UserSendGroupMessage(userID, chatID int64, text string) (int, error) {
	return s.userWrites(userID, text, func(u *account) (int, error) { return s.userSendGroupLocked(u, chatID, text) })
}

// userWrites checks text and runs write for the user userID, s.mu held.
func (s *Server) userWrites(userID int64, text string, write func(u *account) (int, error)) (int, error) {
	if err := checkText(text); err != nil {
		return 0, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(userID)
	if err != nil {
		return 0, err
	}
	return write(u)
}

func (s *Server) userSendGroupLocked(u *account, chatID int64, text string) (int, error) {
	c := s.st.Chats[chatID]
	if c == nil {
		return 0, fmt.Errorf("%w: group %d", ErrNotFound, chatID)
	}
	if !c.member(u.ID) {
		return 0, fmt.Errorf("%w: user %d is not a member of group %d", ErrInvalid, u.ID, chatID)
	}
	_, copies, err := s.sendLocked(u, 0, outgoing{peer: peerKey{Chat: true, ID: c.ID}, text: text})
	if err != nil {
		return 0, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	for _, m := range copies {
		if a := s.st.Accounts[s.ownerOfCopyLocked(c, m)]; a != nil && a.Bot {
			return m.ID, nil
		}
	}
	return 0, nil
}

// ownerOfCopyLocked finds which member's box holds m.
func (s *Server) ownerOfCopyLocked(c *chat, m *message) int64 {
	for _, id := range c.Members {
		if a := s.st.Accounts[id]; a != nil && a.byID[m.ID] == m {
			return id
		}
	}
	return 0
}

// GroupMessages returns a group's messages as its bot (botID 0 = the only
// bot) sees them, oldest first.
func (s *Server) GroupMessages(chatID, botID int64) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.Chats[chatID]
	if c == nil {
		return nil, fmt.Errorf("%w: group %d", ErrNotFound, chatID)
	}
	bot, err := s.botByIDLocked(botID)
	if err != nil {
		return nil, err
	}
	return s.messagesViewLocked(bot.history[peerKey{Chat: true, ID: c.ID}]), nil
}
