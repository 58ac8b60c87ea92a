package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
	"github.com/tgbotsvc/tgbot/internal/storage"
)

var (
	jobStatuses       = []string{store.JobQueued, store.JobRunning, store.JobPaused, store.JobDone, store.JobCancelled}
	recipientStatuses = []string{store.ItemPending, store.ItemSent, store.ItemFailed, store.ItemBlocked}
)

// jobSummary is a job without its recipients.
type jobSummary struct {
	JobID      string     `json:"job_id"`
	BotID      int64      `json:"bot_id"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Sent       int        `json:"sent"`
	Failed     int        `json:"failed"`
	Blocked    int        `json:"blocked"`
	Pending    int        `json:"pending"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

func summarize(botID int64, j store.Job) jobSummary {
	return jobSummary{JobID: j.ID, BotID: botID, Status: j.Status, Total: j.Total, Sent: j.Sent, Failed: j.Failed,
		Blocked: j.Blocked, Pending: j.Pending(), CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt}
}

type jobList struct {
	Jobs       []jobSummary `json:"jobs"`
	NextOffset *int         `json:"next_offset,omitempty"`
}

// queryEnum reads an optional query parameter that must be one of allowed.
func queryEnum(r *http.Request, name string, allowed []string) (string, error) {
	v := r.URL.Query().Get(name)
	if v != "" && !slices.Contains(allowed, v) {
		return "", send.Invalid(name, name+" must be one of "+joinQuoted(allowed))
	}
	return v, nil
}

func joinQuoted(vs []string) string {
	out := ""
	for i, v := range vs {
		if i > 0 {
			out += ", "
		}
		out += `"` + v + `"`
	}
	return out
}

// listParams reads a list's status filter (one of statuses, or ""), offset
// and limit (default 100, at most 1000).
func listParams(r *http.Request, statuses []string) (status string, offset, limit int, err error) {
	if status, err = queryEnum(r, "status", statuses); err != nil {
		return "", 0, 0, err
	}
	if offset, err = queryInt(r, "offset", 0, 0, 1<<31); err != nil {
		return "", 0, 0, err
	}
	limit, err = queryInt(r, "limit", 100, 1, 1000)
	return status, offset, limit, err
}

// listJobs answers GET /api_v1/jobs: every bot's jobs (or the one bot
// named by ?bot=), newest first, optionally of one status.
func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	status, offset, limit, err := listParams(r, jobStatuses)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	bots := a.bots.All()
	if ref := r.URL.Query().Get("bot"); ref != "" {
		b, err := a.bots.Pick(ref)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		bots = []*Bot{b}
	}
	var all []store.Job
	owner := map[string]int64{}
	for _, b := range bots {
		jobs, err := b.Store.Jobs(status)
		if err != nil {
			a.fail(w, r, send.Internal(err))
			return
		}
		for _, j := range jobs {
			owner[j.ID] = b.BotID()
		}
		all = append(all, jobs...)
	}
	store.SortNewestFirst(all)
	out := jobList{Jobs: []jobSummary{}}
	for i := offset; i < len(all) && len(out.Jobs) < limit; i++ {
		out.Jobs = append(out.Jobs, summarize(owner[all[i].ID], all[i]))
	}
	if next := offset + len(out.Jobs); next < len(all) {
		out.NextOffset = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// controlJob answers POST /api_v1/jobs/{id}/cancel, /pause and /resume.
func (a *API) controlJob(action func(b *Bot, id string) (store.Job, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _, err := a.findJobBot(chi.URLParam(r, "id"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		j, err := action(b, chi.URLParam(r, "id"))
		switch {
		case errors.Is(err, store.ErrJobStatus):
			a.fail(w, r, &send.Error{Kind: send.KindConflict, Code: "job_status_conflict", Field: "status",
				Message: "the job is " + j.Status + ": " + jobTransitions})
			return
		case errors.Is(err, storage.ErrNotFound):
			a.fail(w, r, errJobNotFound)
			return
		case err != nil:
			a.fail(w, r, send.Internal(err))
			return
		}
		writeJSON(w, http.StatusOK, summarize(b.BotID(), j))
	}
}

const jobTransitions = "pause takes a queued or running job, resume a paused one, cancel any job not done or cancelled"

type recipientList struct {
	JobID      string       `json:"job_id"`
	Recipients []resultView `json:"recipients"`
	NextOffset *int         `json:"next_offset,omitempty"`
}

// jobRecipients answers GET /api_v1/jobs/{id}/recipients: a job's
// recipients of one status (or all), in list order. offset is a recipient
// index to start at; next_offset continues after the last one returned.
func (a *API) jobRecipients(w http.ResponseWriter, r *http.Request) {
	status, offset, limit, err := listParams(r, recipientStatuses)
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
	// One more than asked tells whether there is a next page.
	items, err := b.Store.ItemsWithStatus(id, status, offset, limit+1)
	if err != nil {
		a.fail(w, r, send.Internal(err))
		return
	}
	out := recipientList{JobID: job.ID, Recipients: make([]resultView, 0, min(len(items), limit))}
	if len(items) > limit {
		items = items[:limit]
		next := items[limit-1].Index + 1
		out.NextOffset = &next
	}
	for _, it := range items {
		out.Recipients = append(out.Recipients, itemView(it))
	}
	writeJSON(w, http.StatusOK, out)
}

// findJobBot looks a job up in every bot's store.
func (a *API) findJobBot(id string) (*Bot, store.Job, error) {
	for _, b := range a.bots.All() {
		job, err := b.Store.Job(id)
		if err == nil {
			return b, job, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, store.Job{}, send.Internal(err)
		}
	}
	return nil, store.Job{}, errJobNotFound
}
