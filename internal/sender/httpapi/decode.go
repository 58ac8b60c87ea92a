package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// SendMessageBody is the body of send_message and an item of the list form
// of send_multiple_message.
type SendMessageBody struct {
	ChatID    int64           `json:"chat_id"`
	Username  string          `json:"username"`
	Text      string          `json:"text"`
	ParseMode string          `json:"parse_mode"`
	Buttons   [][]send.Button `json:"buttons"`
	Silent    bool            `json:"silent"`
	ReplyTo   int             `json:"reply_to_message_id"`
}

func (b SendMessageBody) request() send.Request {
	return send.Request{
		Recipient: send.Recipient{ChatID: b.ChatID, Username: b.Username},
		Text:      b.Text, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent, ReplyTo: b.ReplyTo,
	}
}

// SendDocumentBody is the body of send_document and an item of the list
// form of send_multiple_documents.
type SendDocumentBody struct {
	ChatID     int64           `json:"chat_id"`
	Username   string          `json:"username"`
	DocumentID string          `json:"document_id"`
	Caption    string          `json:"caption"`
	ParseMode  string          `json:"parse_mode"`
	Buttons    [][]send.Button `json:"buttons"`
	Silent     bool            `json:"silent"`
}

func (b SendDocumentBody) request() send.Request {
	return send.Request{
		Recipient:  send.Recipient{ChatID: b.ChatID, Username: b.Username},
		DocumentID: b.DocumentID, Text: b.Caption, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent,
	}
}

// manyMessagesBody is the one-text-to-many form of send_multiple_message.
type manyMessagesBody struct {
	ChatIDs   []int64         `json:"chat_ids"`
	Usernames []string        `json:"usernames"`
	Text      string          `json:"text"`
	ParseMode string          `json:"parse_mode"`
	Buttons   [][]send.Button `json:"buttons"`
	Silent    bool            `json:"silent"`
	Async     bool            `json:"async"`
}

// manyDocumentsBody is the one-document-to-many form of send_multiple_documents.
type manyDocumentsBody struct {
	ChatIDs    []int64         `json:"chat_ids"`
	Usernames  []string        `json:"usernames"`
	DocumentID string          `json:"document_id"`
	Caption    string          `json:"caption"`
	ParseMode  string          `json:"parse_mode"`
	Buttons    [][]send.Button `json:"buttons"`
	Silent     bool            `json:"silent"`
	Async      bool            `json:"async"`
}

// Bulk is a decoded bulk request: either Items (each with its recipient),
// or Template plus Recipients.
type Bulk struct {
	Items      []send.Request
	Template   *send.Request
	Recipients []send.Recipient
	Async      bool
}

// Len is the number of recipients.
func (b *Bulk) Len() int {
	if b.Template != nil {
		return len(b.Recipients)
	}
	return len(b.Items)
}

// Request returns the request for the i-th recipient.
func (b *Bulk) Request(i int) send.Request {
	if b.Template == nil {
		return b.Items[i]
	}
	r := *b.Template
	r.Recipient = b.Recipients[i]
	return r
}

// DecodeSendMessage decodes and validates a send_message body.
func DecodeSendMessage(data []byte) (send.Request, error) {
	var b SendMessageBody
	if err := decodeStrict(data, &b); err != nil {
		return send.Request{}, err
	}
	req := b.request()
	req.Normalize()
	return req, req.Validate("")
}

// DecodeSendDocument decodes and validates a send_document body.
func DecodeSendDocument(data []byte) (send.Request, error) {
	var b SendDocumentBody
	if err := decodeStrict(data, &b); err != nil {
		return send.Request{}, err
	}
	req := b.request()
	req.Normalize()
	if req.DocumentID == "" {
		return req, send.Invalid("document_id", "document_id is required")
	}
	return req, req.Validate("")
}

// DecodeBulkMessages decodes and validates a send_multiple_message body.
func DecodeBulkMessages(data []byte, maxRecipients int) (*Bulk, error) {
	if isArray(data) {
		var items []SendMessageBody
		if err := decodeStrict(data, &items); err != nil {
			return nil, err
		}
		return bulkOfItems(len(items), maxRecipients, func(i int) send.Request { return items[i].request() })
	}
	var b manyMessagesBody
	if err := decodeStrict(data, &b); err != nil {
		return nil, err
	}
	t := send.Request{Text: b.Text, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent}
	return bulkOfTemplate(t, b.ChatIDs, b.Usernames, b.Async, maxRecipients)
}

// DecodeBulkDocuments decodes and validates a send_multiple_documents body.
func DecodeBulkDocuments(data []byte, maxRecipients int) (*Bulk, error) {
	if isArray(data) {
		var items []SendDocumentBody
		if err := decodeStrict(data, &items); err != nil {
			return nil, err
		}
		for i := range items {
			if items[i].DocumentID == "" {
				return nil, send.Invalid(fmt.Sprintf("[%d].document_id", i), "document_id is required")
			}
		}
		return bulkOfItems(len(items), maxRecipients, func(i int) send.Request { return items[i].request() })
	}
	var b manyDocumentsBody
	if err := decodeStrict(data, &b); err != nil {
		return nil, err
	}
	if b.DocumentID == "" {
		return nil, send.Invalid("document_id", "document_id is required")
	}
	t := send.Request{DocumentID: b.DocumentID, Text: b.Caption, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent}
	return bulkOfTemplate(t, b.ChatIDs, b.Usernames, b.Async, maxRecipients)
}

func bulkOfItems(n, maxRecipients int, item func(int) send.Request) (*Bulk, error) {
	if n == 0 {
		return nil, send.Invalid("", "the list is empty")
	}
	if n > maxRecipients {
		return nil, send.Invalid("", fmt.Sprintf("%d items, at most %d allowed", n, maxRecipients))
	}
	b := &Bulk{Items: make([]send.Request, n)}
	for i := range n {
		r := item(i)
		r.Normalize()
		if err := r.Validate(fmt.Sprintf("[%d].", i)); err != nil {
			return nil, err
		}
		b.Items[i] = r
	}
	return b, nil
}

func bulkOfTemplate(t send.Request, chatIDs []int64, usernames []string, async bool, maxRecipients int) (*Bulk, error) {
	t.Normalize()
	if err := t.ValidateContent(""); err != nil {
		return nil, err
	}
	n := len(chatIDs) + len(usernames)
	if n == 0 {
		return nil, send.Invalid("chat_ids", "chat_ids or usernames must list at least one recipient")
	}
	if n > maxRecipients {
		return nil, send.Invalid("chat_ids", fmt.Sprintf("%d recipients, at most %d allowed", n, maxRecipients))
	}
	b := &Bulk{Template: &t, Async: async, Recipients: make([]send.Recipient, 0, n)}
	for i, id := range chatIDs {
		if id == 0 {
			return nil, send.Invalid(fmt.Sprintf("chat_ids[%d]", i), "chat_id must not be 0")
		}
		b.Recipients = append(b.Recipients, send.Recipient{ChatID: id})
	}
	for i, u := range usernames {
		r := send.Recipient{Username: u}.Normalize()
		if err := r.Validate(""); err != nil {
			e := send.As(err)
			e.Field = fmt.Sprintf("usernames[%d]", i)
			return nil, e
		}
		b.Recipients = append(b.Recipients, r)
	}
	return b, nil
}

func isArray(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields, and names the field at fault in its errors.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return send.Invalid("", "unexpected data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		return send.Invalid(field, fmt.Sprintf("expected %s, got JSON %s", typeName(typeErr.Type.String()), typeErr.Value))
	case errors.As(err, &syntaxErr):
		return send.Invalid("", fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr))
	case errors.Is(err, io.EOF):
		return send.Invalid("", "empty body: a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return send.Invalid("", "malformed JSON: unexpected end")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return send.Invalid(strings.Trim(f, `"`), "unknown field")
	}
	return send.Invalid("", "malformed JSON: "+strings.TrimPrefix(msg, "json: "))
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	default:
		return "an object"
	}
}

// readJSON checks the Content-Type and reads the body up to limit.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if !hasContentType(r, "application/json") {
		return nil, unsupportedMedia("application/json")
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, tooLarge(limit)
	}
	if err != nil {
		return nil, send.Invalid("", "reading the body failed")
	}
	return data, nil
}

func hasContentType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}
