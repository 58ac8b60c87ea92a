package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/jobs"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// randomIDs derives the random_id of each send of a request. With an
// Idempotency-Key they come from the key, so a request repeated after a
// crash in the middle of it resends with the same random_ids and Telegram
// drops what it already has; without one they are random.
type randomIDs struct{ seed []byte }

func (g randomIDs) id(i int) int64 {
	if g.seed == nil {
		return send.RandomID()
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h := sha256.Sum256(append(append([]byte{}, g.seed...), b[:]...))
	if id := int64(binary.BigEndian.Uint64(h[:8])); id != 0 {
		return id
	}
	return 1
}

func (g randomIDs) jobID() string {
	if g.seed == nil {
		return "job_" + hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(send.RandomID())))
	}
	h := sha256.Sum256(append([]byte("job:"), g.seed...))
	return "job_" + hex.EncodeToString(h[:8])
}

func (a *API) ids(r *http.Request) randomIDs {
	return randomIDs{seed: idempotencySeed(r.Context())}
}

func (a *API) sendMessage(w http.ResponseWriter, r *http.Request) {
	a.sendOne(w, r, decodeSendMessage)
}

func (a *API) sendDocument(w http.ResponseWriter, r *http.Request) {
	a.sendOne(w, r, decodeSendDocument)
}

// decodeFor reads a request body with decode and picks the bot it names;
// ok is false when it answered an error.
func decodeFor[T any](a *API, w http.ResponseWriter, r *http.Request, decode func([]byte) (T, json.RawMessage, error)) (_ T, _ *Bot, ok bool) {
	var zero T
	data, err := readJSON(w, r, a.opts.MaxJSONBytes)
	if err != nil {
		a.fail(w, r, err)
		return zero, nil, false
	}
	req, bot, err := decode(data)
	if err != nil {
		a.fail(w, r, err)
		return zero, nil, false
	}
	b, err := a.pick(parseBotRef(bot, "bot"))
	if err != nil {
		a.fail(w, r, err)
		return zero, nil, false
	}
	return req, b, true
}

func (a *API) sendOne(w http.ResponseWriter, r *http.Request, decode func([]byte) (send.Request, json.RawMessage, error)) {
	req, b, ok := decodeFor(a, w, r, decode)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.opts.RequestTimeout)
	defer cancel()
	if req.IsDocument() {
		if err := a.document(ctx, b, req.DocumentID); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	res, err := b.GW.Send(ctx, req, a.ids(r).id(0))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) sendMultipleMessages(w http.ResponseWriter, r *http.Request) {
	a.sendMany(w, r, DecodeBulkMessages)
}

func (a *API) sendMultipleDocuments(w http.ResponseWriter, r *http.Request) {
	a.sendMany(w, r, DecodeBulkDocuments)
}

// resultView is one recipient's outcome, in bulk answers and job views.
type resultView struct {
	Index     int          `json:"index"`
	ChatID    int64        `json:"chat_id,omitempty"`
	Username  string       `json:"username,omitempty"`
	OK        bool         `json:"ok"`
	Status    string       `json:"status,omitempty"`
	MessageID int          `json:"message_id,omitempty"`
	Date      int          `json:"date,omitempty"`
	Duplicate bool         `json:"duplicate,omitempty"`
	Error     *send.Public `json:"error,omitempty"`
}

type bulkResponse struct {
	Results []resultView `json:"results"`
}

type jobAccepted struct {
	JobID  string `json:"job_id"`
	Status string `json:"status"`
	Total  int    `json:"total"`
}

func (a *API) sendMany(w http.ResponseWriter, r *http.Request, decode func([]byte, int) (*Bulk, error)) {
	data, err := readJSON(w, r, a.opts.MaxJSONBytes)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	bulk, err := decode(data, a.opts.MaxRecipients)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b, err := a.pick(bulk.botRef())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.opts.RequestTimeout)
	defer cancel()
	if err := a.checkDocuments(ctx, b, bulk); err != nil {
		a.fail(w, r, err)
		return
	}
	if q := r.URL.Query().Get("async"); q != "" {
		async, err := strconv.ParseBool(q)
		if err != nil {
			a.fail(w, r, send.Invalid("async", "async must be true or false"))
			return
		}
		bulk.Async = bulk.Async || async
	}
	ids := a.ids(r)
	if bulk.Async || bulk.Len() > a.opts.AsyncThreshold {
		a.submitJob(w, r, b, bulk, ids)
		return
	}
	if err := b.GW.WaitReady(ctx); err != nil {
		// One error instead of one per recipient; jobs (above) are
		// accepted and wait for Telegram.
		a.fail(w, r, err)
		return
	}
	tasks := make([]jobs.Task, bulk.Len())
	for i := range tasks {
		tasks[i] = jobs.Task{Index: i, Request: bulk.Request(i), RandomID: ids.id(i)}
	}
	outcomes := b.Runner.SendAll(ctx, tasks)
	resp := bulkResponse{Results: make([]resultView, len(outcomes))}
	for i, o := range outcomes {
		req := tasks[i].Request
		v := resultView{Index: i, ChatID: req.ChatID, Username: req.Username, OK: o.Err == nil}
		if o.Err != nil {
			v.Error = o.Err.Public()
		} else {
			v.ChatID, v.MessageID, v.Date, v.Duplicate = o.Result.ChatID, o.Result.MessageID, o.Result.Date, o.Result.Duplicate
		}
		resp.Results[i] = v
	}
	writeJSON(w, http.StatusOK, resp)
}

// checkDocuments answers 404 before sending anything when a document_id of
// the request is unknown (and makes documents of other bots sendable).
func (a *API) checkDocuments(ctx context.Context, bot *Bot, b *Bulk) error {
	seen := map[string]bool{}
	check := func(id, field string) error {
		if id == "" || seen[id] {
			return nil
		}
		seen[id] = true
		if err := a.document(ctx, bot, id); err != nil {
			if e := send.As(err); e.Kind == send.KindNotFound {
				c := *e
				c.Field = field
				return &c
			}
			return err
		}
		return nil
	}
	if b.Template != nil {
		return check(b.Template.DocumentID, "document_id")
	}
	for i, it := range b.Items {
		if err := check(it.DocumentID, fmt.Sprintf("[%d].document_id", i)); err != nil {
			return err
		}
	}
	return nil
}

func (a *API) submitJob(w http.ResponseWriter, r *http.Request, bot *Bot, b *Bulk, ids randomIDs) {
	job := store.Job{ID: ids.jobID(), Template: b.Template}
	items := make([]store.Item, b.Len())
	for i := range items {
		items[i].RandomID = ids.id(i)
		if b.Template != nil {
			items[i].Recipient = b.Recipients[i]
		} else {
			req := b.Items[i]
			items[i].Recipient = req.Recipient
			req.Recipient = send.Recipient{}
			items[i].Request = &req
		}
	}
	created, err := bot.Runner.Submit(job, items)
	if err != nil {
		a.fail(w, r, send.Internal(err))
		return
	}
	if created {
		a.log.Info("job accepted", zap.String("job_id", job.ID), zap.Int("total", len(items)), zap.Int64("bot_id", bot.BotID()))
	}
	w.Header().Set("Location", "/api_v1/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, jobAccepted{JobID: job.ID, Status: store.JobQueued, Total: len(items)})
}

// jobView is a job with a page of its recipients' results.
type jobView struct {
	jobSummary
	Results    []resultView `json:"results"`
	NextOffset *int         `json:"next_offset,omitempty"`
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	offset, err := queryInt(r, "offset", 0, 0, 1<<31)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", 1000, 0, 10000)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	b, job, err := a.findJobBot(id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items, err := b.Store.Items(id, offset, limit)
	if err != nil {
		a.fail(w, r, send.Internal(err))
		return
	}
	v := jobView{jobSummary: summarize(b.BotID(), job), Results: make([]resultView, 0, len(items))}
	for _, it := range items {
		v.Results = append(v.Results, itemView(it))
	}
	if next := offset + len(items); len(items) == limit && next < job.Total {
		v.NextOffset = &next
	}
	writeJSON(w, http.StatusOK, v)
}

// itemView is a job's recipient as answered.
func itemView(it store.Item) resultView {
	chatID := it.ChatID
	if chatID == 0 {
		chatID = it.Recipient.ChatID
	}
	return resultView{
		Index: it.Index, ChatID: chatID,
		Username: it.Recipient.Username, OK: it.Status == store.ItemSent, Status: it.Status,
		MessageID: it.MessageID, Date: it.Date, Error: it.Error,
	}
}

func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, send.Invalid(name, fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi))
	}
	return n, nil
}

type documentView struct {
	DocumentID string `json:"document_id"`
	FileName   string `json:"file_name"`
	Size       int64  `json:"size"`
	MimeType   string `json:"mime_type"`
	SHA256     string `json:"sha256,omitempty"`
}

// createDocument uploads the "document" part of a multipart body as a new
// document, named and typed by the file_name and mime_type fields wherever
// they stand in the form.
func (a *API) createDocument(w http.ResponseWriter, r *http.Request) {
	form := documentFormOf(r.Context()) // read for an Idempotency-Key's fingerprint
	if form == nil {
		var err error
		if form, err = a.readDocumentForm(w, r); err != nil {
			a.fail(w, r, err)
			return
		}
		defer func() { _ = form.spool.Close() }()
	}
	bot, err := a.bots.Pick(form.bot)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	doc, err := bot.GW.CreateDocument(r.Context(), form.doc, form.spool)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, documentView{
		DocumentID: doc.ID, FileName: doc.FileName, Size: doc.Size, MimeType: doc.MimeType, SHA256: doc.SHA256,
	})
}

// documentForm is a create_document form read whole: the file spooled to
// disk and the name and type that apply to it.
type documentForm struct {
	doc   send.NewDocument
	spool *send.Spool
	bot   string // the "bot" field, "" if none
}

// readDocumentForm reads the multipart body of create_document. The file
// part is spooled to disk as it arrives, so file_name and mime_type apply
// whether they come before or after it; without them the file part's own
// file name and Content-Type do.
func (a *API) readDocumentForm(w http.ResponseWriter, r *http.Request) (_ *documentForm, err error) {
	if !hasContentType(r, "multipart/form-data") {
		return nil, unsupportedMedia("multipart/form-data")
	}
	limit := a.opts.MaxDocumentBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20) // room for the multipart framing
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, send.Invalid("", "malformed multipart body: "+err.Error())
	}
	form := &documentForm{}
	defer func() {
		if err != nil && form.spool != nil {
			_ = form.spool.Close()
		}
	}()
	var partName, partType string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, multipartError(err, limit)
		}
		switch name := part.FormName(); name {
		case "file_name", "mime_type", "bot":
			if err := readFormField(part, name, form, limit); err != nil {
				return nil, err
			}
		case "document":
			if form.spool != nil {
				return nil, send.Invalid("document", `the multipart field "document" must appear once`)
			}
			partName, partType = part.FileName(), part.Header.Get("Content-Type")
			if form.spool, err = a.spool(part, limit); err != nil {
				return nil, err
			}
		default:
			return nil, send.Invalid(name, fmt.Sprintf(
				`unknown form field %q: the file goes in the field "document"; the other fields are "file_name", "mime_type" and "bot"`, name))
		}
	}
	if form.spool == nil {
		return nil, send.Invalid("document", `the multipart field "document" is required`)
	}
	if form.doc.FileName == "" {
		form.doc.FileName = partName
	}
	if form.doc.MimeType == "" && partType != "" && partType != "application/octet-stream" {
		form.doc.MimeType = partType
	}
	return form, nil
}

// readFormField reads one of create_document's small fields into form.
func readFormField(part io.Reader, name string, form *documentForm, limit int64) error {
	v, err := io.ReadAll(io.LimitReader(part, 1024))
	if err != nil {
		return multipartError(err, limit)
	}
	switch name {
	case "file_name":
		form.doc.FileName = string(v)
	case "mime_type":
		if _, _, err := mime.ParseMediaType(string(v)); err != nil {
			return send.Invalid("mime_type", "not a MIME type")
		}
		form.doc.MimeType = string(v)
	case "bot":
		if form.bot = strings.TrimPrefix(strings.TrimSpace(string(v)), "@"); form.bot == "" {
			return send.Invalid("bot", "bot must be a bot's ID or its username")
		}
	}
	return nil
}

// spool keeps an uploaded file in the documents directory, which the bots
// share (any bot's gateway spools there).
func (a *API) spool(r io.Reader, limit int64) (*send.Spool, error) {
	all := a.bots.All()
	if len(all) == 0 {
		return nil, send.Unavailable("no bot is configured", nil)
	}
	return all[0].GW.Spool(r, limit)
}

func multipartError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(limit)
	}
	return send.Invalid("", "malformed multipart body: "+err.Error())
}
