// Package event defines the JSON events the receiver forwards to the
// company's services (documented in api/events.schema.json) and builds them
// from Telegram updates.
//
// Event IDs are derived from the update, never random: the same Telegram
// update always yields the same ID, so an update fetched again by
// getDifference after a crash is recognised as a duplicate by the outbox, and
// the ID doubles as the consumer's idempotency key (the webhook-id header).
//
// Limitations:
//   - Only new and edited messages (channel posts included), callback
//     queries and a user blocking or unblocking the bot (my_chat_member)
//     become events; other update kinds are counted and ignored.
//   - my_chat_member comes only from updateBotStopped (private chats): a bot
//     added to or removed from a group or channel produces none.
//   - Callback data is arbitrary bytes in Telegram; invalid UTF-8 is replaced
//     by U+FFFD when encoded to JSON, like the Bot API does.
package event

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Type names what happened.
type Type string

// The event types the receiver produces.
const (
	// TypeMessage is a new message in a chat with the bot.
	TypeMessage Type = "message"
	// TypeEditedMessage is an edit of an earlier message.
	TypeEditedMessage Type = "edited_message"
	// TypeCallbackQuery is a press on an inline keyboard button.
	TypeCallbackQuery Type = "callback_query"
	// TypeChannelPost is a new post in a broadcast channel the bot is in.
	TypeChannelPost Type = "channel_post"
	// TypeEditedChannelPost is an edit of a channel post.
	TypeEditedChannelPost Type = "edited_channel_post"
	// TypeMyChatMember is a change of the bot's own membership: a user
	// blocked (kicked) or unblocked (member) the bot.
	TypeMyChatMember Type = "my_chat_member"
	// TypeUserCreate asks the downstream service to create a user; it is
	// produced by the /familiarize conversation with Data = UserCreate.
	TypeUserCreate Type = "user.create"
)

// Forwardable lists the types RECEIVER_FORWARD_TYPES accepts.
var Forwardable = []Type{
	TypeMessage, TypeEditedMessage, TypeCallbackQuery,
	TypeChannelPost, TypeEditedChannelPost, TypeMyChatMember,
}

// ParseTypes parses a comma-separated list of forwardable types
// (Forwardable; "callback" is accepted as an alias of callback_query).
func ParseTypes(list []string) (map[Type]bool, error) {
	out := make(map[Type]bool, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		t := Type(s)
		if s == "callback" {
			t = TypeCallbackQuery
		}
		if !slices.Contains(Forwardable, t) {
			return nil, fmt.Errorf("unknown update type %q (want one of %v)", s, Forwardable)
		}
		out[t] = true
	}
	return out, nil
}

// Event is one unit of work for the downstream service. Exactly one of
// Message, Callback or Data is set, depending on Type.
type Event struct {
	// ID is stable for a given update and unique per bot.
	ID string `json:"id"`
	// Type of the event.
	Type Type `json:"type"`
	// Date is when it happened in Telegram, unix seconds.
	Date int64 `json:"date"`
	// BotID is the Telegram ID of the account that received the update.
	BotID int64 `json:"bot_id"`
	// BotUsername is that account's username (without @), when it has one.
	BotUsername string `json:"bot_username,omitempty"`
	// Chat is where it happened.
	Chat *Chat `json:"chat,omitempty"`
	// From is who did it.
	From *User `json:"from,omitempty"`
	// Message is set for message and edited_message.
	Message *Message `json:"message,omitempty"`
	// Callback is set for callback_query.
	Callback *Callback `json:"callback,omitempty"`
	// MyChatMember is set for my_chat_member.
	MyChatMember *ChatMemberUpdated `json:"my_chat_member,omitempty"`
	// MediaGroup is set for media_group.
	MediaGroup *MediaGroup `json:"media_group,omitempty"`
	// Data is the payload of events produced by handlers (user.create).
	Data json.RawMessage `json:"data,omitempty"`
}

// Bot names the account that received an update.
type Bot struct {
	ID       int64
	Username string
}

// ChatID is the Bot API style chat ID of the event (0 when there is no
// chat): the unit of ordering for delivery.
func (e *Event) ChatID() int64 {
	if e.Chat == nil {
		return 0
	}
	return e.Chat.ID
}

// Chat types.
const (
	ChatPrivate    = "private"
	ChatGroup      = "group"
	ChatSupergroup = "supergroup"
	ChatChannel    = "channel"
)

// Chat identifies a chat with Bot API style IDs: a user's ID for private
// chats, -<id> for basic groups, -100<id> for channels and supergroups.
type Chat struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Title    string `json:"title,omitempty"`
	Username string `json:"username,omitempty"`
}

// User is the sender of a message or callback.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Message is the content of a message or edited_message event.
type Message struct {
	ID               int       `json:"id"`
	Text             string    `json:"text"`
	Entities         []Entity  `json:"entities,omitempty"`
	Document         *Document `json:"document,omitempty"`
	ReplyToMessageID int       `json:"reply_to_message_id,omitempty"`
	EditDate         int64     `json:"edit_date,omitempty"`
	// Photo lists the sizes of an attached photo, smallest first.
	Photo []PhotoSize `json:"photo,omitempty"`
	// MediaGroupID is set on the messages of an album (Telegram's
	// grouped_id); they are delivered together as one media_group event.
	MediaGroupID string `json:"media_group_id,omitempty"`
}

// Entity is a formatting entity of a message text, offsets in UTF-16 code
// units as in Telegram.
type Entity struct {
	Type     string `json:"type"`
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	URL      string `json:"url,omitempty"`
	UserID   int64  `json:"user_id,omitempty"`
	Language string `json:"language,omitempty"`
}

// Document describes a file attached to a message. DocumentID is a Bot API
// style file ID (gotd's fileid encoding) that the bot's own sessions can use
// to send or download the file again.
type Document struct {
	DocumentID string `json:"document_id"`
	FileName   string `json:"file_name,omitempty"`
	MimeType   string `json:"mime_type,omitempty"`
	Size       int64  `json:"size"`
}

// Callback is an inline button press.
type Callback struct {
	ID string `json:"id"`
	// CallbackQueryID is ID again, under the name answer_callback_query
	// of the sender takes it.
	CallbackQueryID string `json:"callback_query_id"`
	Data            string `json:"data"`
	MessageID       int    `json:"message_id"`
}

// ChatMemberUpdated is a change of the bot's membership in a chat, in the
// Bot API's shape: for a private chat, the user blocked (new status
// "kicked") or unblocked ("member") the bot.
type ChatMemberUpdated struct {
	Chat          *Chat      `json:"chat"`
	From          *User      `json:"from"`
	Date          int64      `json:"date"`
	OldChatMember ChatMember `json:"old_chat_member"`
	NewChatMember ChatMember `json:"new_chat_member"`
}

// ChatMember is a member's status in a chat.
type ChatMember struct {
	// Status is "member" or "kicked".
	Status string `json:"status"`
	User   *User  `json:"user"`
}

// Chat member statuses.
const (
	StatusMember = "member"
	StatusKicked = "kicked"
)

// UserCreate is the Data of a user.create event.
type UserCreate struct {
	Name   string `json:"name"`
	ChatID int64  `json:"chat_id"`
}

// MessageID is the ID of the event for a new message. Message IDs are unique
// per account in private chats and basic groups and per channel otherwise.
func MessageID(botID, channelID int64, msgID int) string {
	if channelID != 0 {
		return fmt.Sprintf("%d:c%d:m%d", botID, channelID, msgID)
	}
	return fmt.Sprintf("%d:m%d", botID, msgID)
}

// EditID is the ID of the event for an edit: one per edit date.
func EditID(botID, channelID int64, msgID int, editDate int) string {
	return MessageID(botID, channelID, msgID) + ":e" + strconv.Itoa(editDate)
}

// StopID is the ID of the event for updateBotStopped: one per qts.
func StopID(botID int64, qts int) string {
	return fmt.Sprintf("%d:s%d", botID, qts)
}

// CallbackID is the ID of the event for a callback query.
func CallbackID(botID, queryID int64) string {
	return fmt.Sprintf("%d:q%d", botID, queryID)
}

// DerivedID is the ID of an event a handler produced while handling the
// event cause: one event of each type per cause, so a handler run again for
// the same update (after a restart) does not create a second one.
func DerivedID(cause string, t Type) string {
	return cause + ":" + string(t)
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
