package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// SendMessageBody is the body of send_message and an item of the list form
// of send_multiple_message.
type SendMessageBody struct {
	ChatID    ChatRef         `json:"chat_id"`
	Username  string          `json:"username"`
	Text      string          `json:"text"`
	ParseMode string          `json:"parse_mode"`
	Buttons   [][]send.Button `json:"buttons"`
	Silent    bool            `json:"silent"`
	ReplyTo   int             `json:"reply_to_message_id"`
	SendOptions
	// Bot names the bot to send as (ID or username; see Bots.Pick).
	Bot json.RawMessage `json:"bot"`
}

func (b SendMessageBody) request() send.Request {
	return send.Request{
		Recipient: b.ChatID.recipient(b.Username),
		Text:      b.Text, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent, ReplyTo: b.ReplyTo,
		LinkPreview: b.LinkPreview, ProtectContent: b.ProtectContent,
	}
}

// SendDocumentBody is the body of send_document and an item of the list
// form of send_multiple_documents.
type SendDocumentBody struct {
	ChatID     ChatRef         `json:"chat_id"`
	Username   string          `json:"username"`
	DocumentID string          `json:"document_id"`
	Caption    string          `json:"caption"`
	ParseMode  string          `json:"parse_mode"`
	Buttons    [][]send.Button `json:"buttons"`
	Silent     bool            `json:"silent"`
	SendOptions
	// Bot names the bot to send as (ID or username; see Bots.Pick).
	Bot json.RawMessage `json:"bot"`
}

func (b SendDocumentBody) request() send.Request {
	return send.Request{
		Recipient:  b.ChatID.recipient(b.Username),
		DocumentID: b.DocumentID, Text: b.Caption, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent,
		ProtectContent: b.ProtectContent,
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
	SendOptions
	// Bot names the bot to send as (ID or username; see Bots.Pick).
	Bot json.RawMessage `json:"bot"`
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
	SendOptions
	// Bot names the bot to send as (ID or username; see Bots.Pick).
	Bot json.RawMessage `json:"bot"`
}

// SendOptions are the options every send body takes.
type SendOptions struct {
	// LinkPreview false sends without a link preview.
	LinkPreview *bool `json:"link_preview"`
	// ProtectContent forbids forwarding and saving the message.
	ProtectContent bool `json:"protect_content"`
}

// Bulk is a decoded bulk request: either Items (each with its recipient),
// or Template plus Recipients.
type Bulk struct {
	Items      []send.Request
	Template   *send.Request
	Recipients []send.Recipient
	Async      bool

	// bots are the "bot" members as written: the body's, or each item's
	// of the list form (list set).
	bots []json.RawMessage
	list bool
}

// botRef is the bot the request names (see parseBotRef), "" for none.
// The items of the list form must all name the same one.
func (b *Bulk) botRef() (string, error) {
	if !b.list {
		if len(b.bots) == 0 {
			return "", nil
		}
		return parseBotRef(b.bots[0], "bot")
	}
	return listBotRef(b.bots)
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
	req, _, err := decodeSendMessage(data)
	return req, err
}

// decodeSendMessage is DecodeSendMessage that also returns the "bot"
// member as written, so the body is decoded once.
func decodeSendMessage(data []byte) (send.Request, json.RawMessage, error) {
	var b SendMessageBody
	if err := decodeStrict(data, &b); err != nil {
		return send.Request{}, nil, err
	}
	req := b.request()
	req.Normalize()
	return req, b.Bot, req.Validate("")
}

// DecodeSendDocument decodes and validates a send_document body.
func DecodeSendDocument(data []byte) (send.Request, error) {
	req, _, err := decodeSendDocument(data)
	return req, err
}

// decodeSendDocument is DecodeSendDocument that also returns the "bot"
// member as written.
func decodeSendDocument(data []byte) (send.Request, json.RawMessage, error) {
	var b SendDocumentBody
	if err := decodeStrict(data, &b); err != nil {
		return send.Request{}, nil, err
	}
	req := b.request()
	req.Normalize()
	if req.DocumentID == "" {
		return req, b.Bot, send.Invalid("document_id", "document_id is required")
	}
	return req, b.Bot, req.Validate("")
}

// DecodeBulkMessages decodes and validates a send_multiple_message body.
func DecodeBulkMessages(data []byte, maxRecipients int) (*Bulk, error) {
	if isArray(data) {
		var items []SendMessageBody
		if err := decodeStrict(data, &items); err != nil {
			return nil, err
		}
		return bulkOfItems(len(items), maxRecipients, func(i int) send.Request { return items[i].request() },
			func(i int) json.RawMessage { return items[i].Bot })
	}
	var b manyMessagesBody
	if err := decodeStrict(data, &b); err != nil {
		return nil, err
	}
	t := send.Request{Text: b.Text, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent,
		LinkPreview: b.LinkPreview, ProtectContent: b.ProtectContent}
	return bulkOfTemplate(t, b.ChatIDs, b.Usernames, b.Async, maxRecipients, b.Bot)
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
		return bulkOfItems(len(items), maxRecipients, func(i int) send.Request { return items[i].request() },
			func(i int) json.RawMessage { return items[i].Bot })
	}
	var b manyDocumentsBody
	if err := decodeStrict(data, &b); err != nil {
		return nil, err
	}
	if b.DocumentID == "" {
		return nil, send.Invalid("document_id", "document_id is required")
	}
	t := send.Request{DocumentID: b.DocumentID, Text: b.Caption, ParseMode: b.ParseMode, Buttons: b.Buttons, Silent: b.Silent,
		ProtectContent: b.ProtectContent}
	return bulkOfTemplate(t, b.ChatIDs, b.Usernames, b.Async, maxRecipients, b.Bot)
}

func bulkOfItems(n, maxRecipients int, item func(int) send.Request, bot func(int) json.RawMessage) (*Bulk, error) {
	if n == 0 {
		return nil, send.Invalid("", "the list is empty")
	}
	if n > maxRecipients {
		return nil, send.Invalid("", fmt.Sprintf("%d items, at most %d allowed", n, maxRecipients))
	}
	b := &Bulk{Items: make([]send.Request, n), bots: make([]json.RawMessage, n), list: true}
	for i := range n {
		r := item(i)
		r.Normalize()
		if err := r.Validate(fmt.Sprintf("[%d].", i)); err != nil {
			return nil, err
		}
		b.Items[i], b.bots[i] = r, bot(i)
	}
	return b, nil
}

func bulkOfTemplate(t send.Request, chatIDs []int64, usernames []string, async bool, maxRecipients int, bot json.RawMessage) (*Bulk, error) {
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
	b := &Bulk{Template: &t, Async: async, Recipients: make([]send.Recipient, 0, n), bots: []json.RawMessage{bot}}
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
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			if e := unknownFieldError(data, reflect.TypeOf(v)); e != nil {
				return e
			}
		}
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return send.Invalid("", "unexpected data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var own *send.Error // a field's own decoder (ChatRef) names the field
	if errors.As(err, &own) {
		return own
	}
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

// unknownFieldError names a member of data that t has no field for, with
// its path and the fields t accepts there; nil if there is none.
func unknownFieldError(data []byte, t reflect.Type) error {
	var val any
	if json.Unmarshal(data, &val) != nil {
		return nil
	}
	path, name, valid, ok := unknownField(val, t, "")
	if !ok {
		return nil
	}
	return send.Invalid(path, fmt.Sprintf("unknown field %q; the fields here are: %s", name, strings.Join(valid, ", ")))
}

// unknownField walks val (decoded JSON) along t and returns the first
// member, in key order, that t has no field for: its path, its name and
// the fields accepted there.
func unknownField(val any, t reflect.Type, path string) (fieldPath, name string, valid []string, ok bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, isObject := val.(map[string]any)
		if !isObject {
			return "", "", nil, false
		}
		names, types := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, known := fieldType(names, types, k)
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			if !known {
				return sub, k, names, true
			}
			if p, n, v, ok := unknownField(obj[k], ft, sub); ok {
				return p, n, v, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := val.([]any)
		for i, e := range arr {
			if p, n, v, ok := unknownField(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, n, v, true
			}
		}
	}
	return "", "", nil, false
}

// jsonFields lists the JSON names of a struct's fields, in order, and
// their types.
func jsonFields(t reflect.Type) ([]string, []reflect.Type) {
	var names []string
	var types []reflect.Type
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			n, ts := jsonFields(f.Type) // embedded: its fields are the outer struct's
			names, types = append(names, n...), append(types, ts...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		types = append(types, f.Type)
	}
	return names, types
}

// fieldType finds a member's field as encoding/json does: the exact name
// first, else ignoring case.
func fieldType(names []string, types []reflect.Type, key string) (reflect.Type, bool) {
	for i, n := range names {
		if n == key {
			return types[i], true
		}
	}
	for i, n := range names {
		if strings.EqualFold(n, key) {
			return types[i], true
		}
	}
	return nil, false
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
