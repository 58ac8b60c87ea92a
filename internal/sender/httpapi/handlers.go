package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/gateway"
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
		return gateway.RandomID()
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
		return "job_" + hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(gateway.RandomID())))
	}
	h := sha256.Sum256(append([]byte("job:"), g.seed...))
	return "job_" + hex.EncodeToString(h[:8])
}

func (a *API) ids(r *http.Request) randomIDs {
	return randomIDs{seed: idempotencySeed(r.Context())}
}

func (a *API) sendMessage(w http.ResponseWriter, r *http.Request) {
	a.sendOne(w, r, DecodeSendMessage)
}

func (a *API) sendDocument(w http.ResponseWriter, r *http.Request) {
	a.sendOne(w, r, DecodeSendDocument)
}

func (a *API) sendOne(w http.ResponseWriter, r *http.Request, decode func([]byte) (send.Request, error)) {
	data, err := readJSON(w, r, a.opts.MaxJSONBytes)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	req, err := decode(data)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if req.IsDocument() {
		if _, err := a.gw.Document(req.DocumentID); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.opts.RequestTimeout)
	defer cancel()
	res, err := a.gw.Send(ctx, req, a.ids(r).id(0))
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
	if err := a.checkDocuments(bulk); err != nil {
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
		a.submitJob(w, r, bulk, ids)
		return
	}
	if !a.gw.Ready() {
		// Answer at once instead of one error per recipient; jobs (above)
		// are accepted and wait for Telegram.
		a.fail(w, r, send.Unavailable("the Telegram client is not connected yet", nil))
		return
	}
	tasks := make([]jobs.Task, bulk.Len())
	for i := range tasks {
		tasks[i] = jobs.Task{Index: i, Request: bulk.Request(i), RandomID: ids.id(i)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.opts.RequestTimeout)
	defer cancel()
	outcomes := a.runner.SendAll(ctx, tasks)
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
// the request is unknown.
func (a *API) checkDocuments(b *Bulk) error {
	seen := map[string]bool{}
	check := func(id, field string) error {
		if id == "" || seen[id] {
			return nil
		}
		seen[id] = true
		if _, err := a.gw.Document(id); err != nil {
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

func (a *API) submitJob(w http.ResponseWriter, r *http.Request, b *Bulk, ids randomIDs) {
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
	created, err := a.runner.Submit(job, items)
	if err != nil {
		a.fail(w, r, send.Internal(err))
		return
	}
	if created {
		a.log.Info("job accepted", zap.String("job_id", job.ID), zap.Int("total", len(items)))
	}
	w.Header().Set("Location", "/api_v1/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, jobAccepted{JobID: job.ID, Status: store.JobQueued, Total: len(items)})
}

type jobView struct {
	JobID      string       `json:"job_id"`
	Status     string       `json:"status"`
	Total      int          `json:"total"`
	Sent       int          `json:"sent"`
	Failed     int          `json:"failed"`
	Pending    int          `json:"pending"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
	FinishedAt *time.Time   `json:"finished_at,omitempty"`
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
	job, err := a.store.Job(id)
	if err != nil {
		a.fail(w, r, errJobNotFound)
		return
	}
	items, err := a.store.Items(id, offset, limit)
	if err != nil {
		a.fail(w, r, send.Internal(err))
		return
	}
	v := jobView{
		JobID: job.ID, Status: job.Status, Total: job.Total, Sent: job.Sent, Failed: job.Failed,
		Pending: job.Pending(), CreatedAt: job.CreatedAt, UpdatedAt: job.UpdatedAt, FinishedAt: job.FinishedAt,
		Results: make([]resultView, 0, len(items)),
	}
	for _, it := range items {
		chatID := it.ChatID
		if chatID == 0 {
			chatID = it.Recipient.ChatID
		}
		v.Results = append(v.Results, resultView{
			Index: it.Index, ChatID: chatID,
			Username: it.Recipient.Username, OK: it.Status == store.ItemSent, Status: it.Status,
			MessageID: it.MessageID, Date: it.Date, Error: it.Error,
		})
	}
	if next := offset + len(items); len(items) == limit && next < job.Total {
		v.NextOffset = &next
	}
	writeJSON(w, http.StatusOK, v)
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

// createDocument streams the "document" part of a multipart body to the
// gateway. Form fields may come before or after the file; those after it
// cannot change the upload any more, so file_name and mime_type must come
// first to apply (curl -F keeps the order given).
func (a *API) createDocument(w http.ResponseWriter, r *http.Request) {
	if !hasContentType(r, "multipart/form-data") {
		a.fail(w, r, unsupportedMedia("multipart/form-data"))
		return
	}
	limit := a.opts.MaxDocumentBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20) // room for the multipart framing
	mr, err := r.MultipartReader()
	if err != nil {
		a.fail(w, r, send.Invalid("", "malformed multipart body: "+err.Error()))
		return
	}
	nd := gateway.NewDocument{MaxSize: limit}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			a.fail(w, r, multipartError(err, limit))
			return
		}
		switch part.FormName() {
		case "file_name", "mime_type":
			v, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				a.fail(w, r, multipartError(err, limit))
				return
			}
			if part.FormName() == "file_name" {
				nd.FileName = string(v)
			} else {
				if _, _, err := mime.ParseMediaType(string(v)); err != nil {
					a.fail(w, r, send.Invalid("mime_type", "not a MIME type"))
					return
				}
				nd.MimeType = string(v)
			}
		case "document":
			if nd.FileName == "" {
				nd.FileName = part.FileName()
			}
			if ct := part.Header.Get("Content-Type"); nd.MimeType == "" && ct != "" && ct != "application/octet-stream" {
				nd.MimeType = ct
			}
			doc, err := a.gw.CreateDocument(r.Context(), nd, part)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusCreated, documentView{
				DocumentID: doc.ID, FileName: doc.FileName, Size: doc.Size, MimeType: doc.MimeType, SHA256: doc.SHA256,
			})
			return
		default:
			a.fail(w, r, send.Invalid(part.FormName(), "unknown form field"))
			return
		}
	}
	a.fail(w, r, send.Invalid("document", "the multipart field \"document\" is required"))
}

func multipartError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(limit)
	}
	return send.Invalid("", "malformed multipart body: "+err.Error())
}
