package tgemu

import (
	"sort"
	"strings"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
)

// maxLog bounds each account's update log and message box so a long
// benchmark does not grow the emulator without end. Older entries are
// dropped; getDifference from before them returns what is left.
const maxLog = 200_000

// state is everything the emulator knows. Guarded by Server.mu. Fields are
// exported for the JSON data file.
type state struct {
	Accounts   map[int64]*account      `json:"accounts"`
	Chats      map[int64]*chat         `json:"chats"`
	Channels   map[int64]*channel      `json:"channels,omitempty"` // channels.go
	Documents  map[int64]*document     `json:"documents"`
	AuthKeys   map[string]*authKeyInfo `json:"auth_keys"` // hex key ID -> key and binding
	NextUserID int64                   `json:"next_user_id"`
	NextChatID int64                   `json:"next_chat_id"`
	NextDocID  int64                   `json:"next_doc_id"`
	// NextChannelID is the last channel ID given out (channels.go).
	NextChannelID int64 `json:"next_channel_id,omitempty"`

	byUsername map[string]int64
	byPhone    map[string]int64
	uploads    map[uploadKey]*upload
	callbacks  map[int64]*callback  // query ID -> callback awaiting an answer
	actions    map[actionKey]string // last chat action per dialog (edits.go)
}

type authKeyInfo struct {
	Key    []byte `json:"key"`     // 256 bytes
	UserID int64  `json:"user_id"` // 0 = not logged in
}

func newState() *state {
	return &state{
		Accounts:   map[int64]*account{},
		Chats:      map[int64]*chat{},
		Channels:   map[int64]*channel{},
		Documents:  map[int64]*document{},
		AuthKeys:   map[string]*authKeyInfo{},
		NextUserID: 1_000_000,
		NextChatID: 5_000,
		NextDocID:  1,
		byUsername: map[string]int64{},
		byPhone:    map[string]int64{},
		uploads:    map[uploadKey]*upload{},
		callbacks:  map[int64]*callback{},
		actions:    map[actionKey]string{},
	}
}

// newUserID returns the next free user ID. Bots log in with whatever ID
// their token carries, which may lie in the users' range, so IDs an account
// already has are skipped: a new user must never replace a bot. The loop
// ends within len(Accounts)+1 steps.
func (st *state) newUserID() int64 {
	for i := 0; i <= len(st.Accounts); i++ {
		st.NextUserID++
		if _, taken := st.Accounts[st.NextUserID]; !taken {
			break
		}
	}
	return st.NextUserID
}

// reindex rebuilds the derived maps after loading.
func (st *state) reindex() {
	st.byUsername = map[string]int64{}
	st.byPhone = map[string]int64{}
	st.uploads = map[uploadKey]*upload{}
	st.callbacks = map[int64]*callback{}
	st.actions = map[actionKey]string{}
	st.reindexChannels()
	for _, a := range st.Accounts {
		a.reindex()
		if a.Username != "" {
			st.byUsername[strings.ToLower(a.Username)] = a.ID
		}
		if a.Phone != "" {
			st.byPhone[a.Phone] = a.ID
		}
	}
}

// peerKey names a dialog from one account's point of view.
type peerKey struct {
	Chat bool `json:"chat"` // false: a user (private chat); true: a basic group
	// Channel: a channel or supergroup (channels.go).
	Channel bool  `json:"channel,omitempty"`
	ID      int64 `json:"id"`
}

// user reports whether the dialog is a private chat.
func (p peerKey) user() bool { return !p.Chat && !p.Channel }

func (p peerKey) tl() tg.PeerClass {
	if p.Channel {
		return &tg.PeerChannel{ChannelID: p.ID}
	}
	if p.Chat {
		return &tg.PeerChat{ChatID: p.ID}
	}
	return &tg.PeerUser{UserID: p.ID}
}

// account is a user or a bot with its own message box and pts sequence,
// as on Telegram.
type account struct {
	ID         int64            `json:"id"`
	AccessHash int64            `json:"access_hash"`
	FirstName  string           `json:"first_name"`
	Username   string           `json:"username,omitempty"`
	Phone      string           `json:"phone,omitempty"`
	Bot        bool             `json:"bot,omitempty"`
	Pts        int              `json:"pts"`
	NextMsgID  int              `json:"next_msg_id"`
	Messages   []*message       `json:"messages"`           // ascending ID
	Log        []*logEntry      `json:"log"`                // ascending Pts
	Blocked    map[int64]bool   `json:"blocked,omitempty"`  // bots this user blocked
	Qts        int              `json:"qts,omitempty"`      // a bot's qts sequence (botstopped.go)
	Stops      []*botStop       `json:"stops,omitempty"`    // a bot's updateBotStopped log, ascending Qts
	Password   *password        `json:"password,omitempty"` // 2FA verifier, nil = none
	RandomIDs  map[int64]int    `json:"-"`
	byID       map[int]*message `json:"-"`
	history    map[peerKey][]*message
	knownPeers map[int64]bool // users this account may address with access_hash 0
}

func (a *account) reindex() {
	a.byID = map[int]*message{}
	a.history = map[peerKey][]*message{}
	a.RandomIDs = map[int64]int{}
	a.knownPeers = map[int64]bool{}
	for _, m := range a.Messages {
		a.index(m)
	}
	if a.Blocked == nil {
		a.Blocked = map[int64]bool{}
	}
}

func (a *account) index(m *message) {
	a.byID[m.ID] = m
	a.history[m.Peer] = append(a.history[m.Peer], m)
	if m.RandomID != 0 {
		a.RandomIDs[m.RandomID] = m.ID
	}
	if m.Peer.user() {
		a.knownPeers[m.Peer.ID] = true
	}
}

func newAccount(id, hash int64) *account {
	a := &account{ID: id, AccessHash: hash, NextMsgID: 1}
	a.reindex()
	return a
}

// tl renders the account as viewer sees it. A fresh object every call:
// encoding mutates TL objects (SetFlags), so none is shared.
func (a *account) tl(viewer int64) *tg.User {
	u := &tg.User{
		ID:         a.ID,
		AccessHash: a.AccessHash,
		FirstName:  a.FirstName,
		Username:   a.Username,
		Bot:        a.Bot,
		Self:       a.ID == viewer,
	}
	if a.Bot {
		u.BotInfoVersion = 1
	}
	if a.ID == viewer && a.Phone != "" {
		u.Phone = a.Phone
	}
	return u
}

// addMessage stores m in the box, giving it the next ID and pts.
func (a *account) addMessage(m *message) {
	m.ID = a.NextMsgID
	a.NextMsgID++
	a.Pts++
	m.Pts = a.Pts
	a.Messages = append(a.Messages, m)
	a.index(m)
	a.Log = append(a.Log, &logEntry{Pts: a.Pts, MsgID: m.ID})
	a.trim()
}

// addCallback records a callback query on the pts sequence (see push.go).
func (a *account) addCallback(cb *callback) int {
	a.Pts++
	a.Log = append(a.Log, &logEntry{Pts: a.Pts, Callback: cb})
	a.trim()
	return a.Pts
}

func (a *account) trim() {
	if len(a.Log) > 2*maxLog {
		a.Log = append([]*logEntry(nil), a.Log[len(a.Log)-maxLog:]...)
	}
	if len(a.Messages) > 2*maxLog {
		a.Messages = append([]*message(nil), a.Messages[len(a.Messages)-maxLog:]...)
		a.reindex()
	}
}

// since returns the log entries after pts.
func (a *account) since(pts int) []*logEntry {
	i := sort.Search(len(a.Log), func(i int) bool { return a.Log[i].Pts > pts })
	return a.Log[i:]
}

type logEntry struct {
	Pts      int       `json:"pts"`
	MsgID    int       `json:"msg_id,omitempty"`
	Callback *callback `json:"callback,omitempty"`
	// Edit, Deleted and Pin are the other changes of a box (edits.go);
	// PtsCount is how many pts a deletion took.
	Edit     bool      `json:"edit,omitempty"`
	Deleted  []int     `json:"deleted,omitempty"`
	Pin      *pinEntry `json:"pin,omitempty"`
	PtsCount int       `json:"pts_count,omitempty"`
}

type callback struct {
	QueryID      int64   `json:"query_id"`
	UserID       int64   `json:"user_id"`
	Peer         peerKey `json:"peer"`
	MsgID        int     `json:"msg_id"`
	Data         []byte  `json:"data"`
	ChatInstance int64   `json:"chat_instance"`
}

func (cb *callback) tl() *tg.UpdateBotCallbackQuery {
	return &tg.UpdateBotCallbackQuery{
		QueryID:      cb.QueryID,
		UserID:       cb.UserID,
		Peer:         cb.Peer.tl(),
		MsgID:        cb.MsgID,
		ChatInstance: cb.ChatInstance,
		Data:         append([]byte(nil), cb.Data...),
	}
}

// message is one copy of a message in one account's box. Entities and
// reply markup are kept encoded and decoded per use, so no TL object is
// ever shared between goroutines.
type message struct {
	ID       int     `json:"id"`
	Pts      int     `json:"pts"`
	Peer     peerKey `json:"peer"`
	FromID   int64   `json:"from_id"`
	Out      bool    `json:"out"`
	Date     int     `json:"date"`
	Text     string  `json:"text"`
	Entities []byte  `json:"entities,omitempty"` // TL vector
	Markup   []byte  `json:"markup,omitempty"`   // TL ReplyMarkup
	DocID    int64   `json:"doc_id,omitempty"`
	ReplyTo  int     `json:"reply_to,omitempty"`
	Silent   bool    `json:"silent,omitempty"`
	RandomID int64   `json:"random_id,omitempty"`
	// GroupedID is the album the message belongs to (0 = none).
	GroupedID int64 `json:"grouped_id,omitempty"`
	// SrcID is, in a recipient's copy, the ID of the sender's copy.
	SrcID      int  `json:"src_id,omitempty"`
	EditDate   int  `json:"edit_date,omitempty"`
	Pinned     bool `json:"pinned,omitempty"`
	NoForwards bool `json:"no_forwards,omitempty"`
	NoWebpage  bool `json:"no_webpage,omitempty"`
}

func encodeEntities(ents []tg.MessageEntityClass) []byte {
	if len(ents) == 0 {
		return nil
	}
	var b bin.Buffer
	b.PutVectorHeader(len(ents))
	for _, e := range ents {
		if err := storedEntity(e).Encode(&b); err != nil {
			return nil
		}
	}
	return b.Copy()
}

// storedEntity is the entity as Telegram stores it: a mention sent as
// inputMessageEntityMentionName becomes messageEntityMentionName (the
// access hash is not checked).
func storedEntity(e tg.MessageEntityClass) tg.MessageEntityClass {
	if m, ok := e.(*tg.InputMessageEntityMentionName); ok {
		if u, ok := m.UserID.(*tg.InputUser); ok {
			return &tg.MessageEntityMentionName{Offset: m.Offset, Length: m.Length, UserID: u.UserID}
		}
	}
	return e
}

func decodeEntities(raw []byte) []tg.MessageEntityClass {
	if len(raw) == 0 {
		return nil
	}
	b := bin.Buffer{Buf: raw}
	n, err := b.VectorHeader()
	if err != nil {
		return nil
	}
	out := make([]tg.MessageEntityClass, 0, n)
	for i := 0; i < n; i++ {
		e, err := tg.DecodeMessageEntity(&b)
		if err != nil {
			return out
		}
		out = append(out, e)
	}
	return out
}

func encodeMarkup(m tg.ReplyMarkupClass) []byte {
	if m == nil {
		return nil
	}
	var b bin.Buffer
	if err := m.Encode(&b); err != nil {
		return nil
	}
	return b.Copy()
}

func decodeMarkup(raw []byte) tg.ReplyMarkupClass {
	if len(raw) == 0 {
		return nil
	}
	m, err := tg.DecodeReplyMarkup(&bin.Buffer{Buf: raw})
	if err != nil {
		return nil
	}
	return m
}

// chat is a basic group. The bot that created it and the members share it;
// every member has its own copy of each message.
type chat struct {
	ID      int64   `json:"id"`
	Title   string  `json:"title"`
	Members []int64 `json:"members"`
	Date    int     `json:"date"`
}

func (c *chat) tl() *tg.Chat {
	return &tg.Chat{ID: c.ID, Title: c.Title, Photo: &tg.ChatPhotoEmpty{}, ParticipantsCount: len(c.Members), Date: c.Date, Version: 1}
}

func (c *chat) member(id int64) bool {
	for _, m := range c.Members {
		if m == id {
			return true
		}
	}
	return false
}
