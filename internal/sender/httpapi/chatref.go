package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// ChatRef is a chat_id in any of the Bot API's forms: a number (a user, a
// basic group -<id>, a supergroup or channel -100<id>), the same number as
// a string, or a string "@username".
type ChatRef struct {
	ID       int64
	Username string
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *ChatRef) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		*c = ChatRef{}
		return nil
	}
	if len(data) > 0 && data[0] != '"' {
		if err := json.Unmarshal(data, &c.ID); err != nil {
			return send.Invalid("chat_id", "chat_id must be an integer or a string \"@username\"")
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return send.Invalid("chat_id", "chat_id must be an integer or a string \"@username\"")
	}
	s = strings.TrimSpace(s)
	if name, ok := strings.CutPrefix(s, "@"); ok {
		c.Username = name
		if name == "" {
			return send.Invalid("chat_id", "chat_id \"@\" names no one")
		}
		return nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return send.Invalid("chat_id", "a string chat_id must be a number or \"@username\"")
	}
	c.ID = id
	return nil
}

// recipient combines chat_id and username into one recipient; both set is
// left for Recipient.Validate to refuse.
func (c ChatRef) recipient(username string) send.Recipient {
	r := send.Recipient{ChatID: c.ID, Username: c.Username}
	if username != "" {
		if r.Username != "" {
			r.ChatID = -1 // both given: Validate says "not both"
		}
		r.Username = username
	}
	return r
}
