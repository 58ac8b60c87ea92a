// Package natsjobs runs the sender's persistent bulk jobs on NATS
// JetStream, shared by every replica: the job in the KV bucket tg_jobs
// (key <job_id>, and <job_id>.<index> for each recipient's state), its
// recipients as messages of the work-queue stream TG_SEND, partitioned by
// chat (subject tgq.send.<bot_id>.<partition>.<job_id>). Every replica
// consumes every partition of its bots; a partition's consumer has one
// message in flight at a time, so one chat's messages go out in order. A
// replica killed mid-job leaves its message unacknowledged: after AckWait
// another replica gets it. A recipient's random_id is derived from (job
// ID, recipient index), so a message sent again after a crash is refused by
// Telegram as a duplicate (RANDOM_ID_DUPLICATE) and counted as sent: every
// recipient gets one copy.
//
// Counting: a recipient is counted when its key moves from pending to
// sent or failed (compare-and-set, so once); the job's counters are added
// in small batches. Counts a replica took with it when it died are found
// again by a sweep that recounts a job whose messages are all gone from
// TG_SEND.
//
// Limitations:
//   - GET /api_v1/jobs/{id} reads one key per recipient of the page.
//   - The job queue depth gauge is not kept in this mode.
package natsjobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Names in NATS.
const (
	Stream     = "TG_SEND"
	BucketJobs = "tg_jobs"
	// subjectPrefix: tgq.send.<bot_id>.<partition>.<job_id>. Not under
	// tg.send, the subject of requests (natsingress).
	subjectPrefix = "tgq.send."
)

// Partitions is how many partitions each bot's recipients are spread over
// (by chat): at most this many of a bot's sends are in flight at once
// across all replicas.
const Partitions = 32

// AckWait is how long a message may stay unacknowledged before another
// replica gets it (the replica working on it signals progress while it
// waits for limits or flood waits).
const AckWait = 15 * time.Second

// opTimeout bounds one NATS operation without a caller's context.
const opTimeout = 15 * time.Second

// Queue is the shared stream and bucket.
type Queue struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
}

// Open creates (or updates) TG_SEND and tg_jobs on c.
func Open(ctx context.Context, c *natsx.Conn) (*Queue, error) {
	st, err := c.Stream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "sender: job recipients, partitioned by bot and chat",
		Subjects:    []string{subjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  10 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	kv, err := c.KV(ctx, jetstream.KeyValueConfig{Bucket: BucketJobs, Storage: jetstream.FileStorage,
		Description: "sender: jobs and their recipients' states"})
	if err != nil {
		return nil, err
	}
	return &Queue{js: c.JS, stream: st, kv: kv}, nil
}

// record is a job as stored: the job, its bot, and whether all its
// recipients were queued.
type record struct {
	store.Job
	BotID  int64 `json:"bot_id"`
	Queued bool  `json:"queued"`
}

// message is a recipient as queued in TG_SEND.
type message struct {
	Index     int            `json:"index"`
	Recipient send.Recipient `json:"recipient"`
	Request   *send.Request  `json:"request,omitempty"`
	RandomID  int64          `json:"random_id"`
}

func itemKey(jobID string, index int) string { return jobID + "." + strconv.Itoa(index) }

func subject(bot int64, partition int, jobID string) string {
	return subjectPrefix + strconv.FormatInt(bot, 10) + "." + strconv.Itoa(partition) + "." + jobID
}

// partition spreads chats over the partitions; a username and the chat ID
// of the same user may land apart (their order is kept per form).
func partition(r send.Recipient) int {
	h := fnv.New32a()
	if r.Username != "" {
		h.Write([]byte("@" + strings.ToLower(strings.TrimPrefix(r.Username, "@"))))
	} else {
		h.Write([]byte(strconv.FormatInt(r.ChatID, 10)))
	}
	return int(h.Sum32() % Partitions)
}

func validJobID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func (q *Queue) get(ctx context.Context, key string, v any) (jetstream.KeyValueEntry, error) {
	e, err := q.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%s get: %w", BucketJobs, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return nil, fmt.Errorf("%s decode %s: %w", BucketJobs, key, err)
	}
	return e, nil
}

// record returns the record of job id of bot, store.ErrNotFound for an
// unknown job or one of another bot.
func (q *Queue) record(id string, bot int64) (record, error) {
	var rec record
	if !validJobID(id) {
		return rec, store.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := q.get(ctx, id, &rec); err != nil {
		return rec, err
	}
	if rec.BotID != bot {
		return record{}, store.ErrNotFound
	}
	return rec, nil
}

// items returns up to limit items of job with index >= from and status
// ("" = any).
func (q *Queue) items(job store.Job, status string, from, limit int) ([]store.Item, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var out []store.Item
	for i := max(from, 0); i < job.Total && len(out) < limit; i++ {
		var it store.Item
		if _, err := q.get(ctx, itemKey(job.ID, i), &it); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		it.Index = i
		if it.Status == "" {
			it.Status = store.ItemPending
		}
		if status == "" || it.Status == status {
			out = append(out, it)
		}
	}
	return out, nil
}

// jobs lists bot's jobs with status ("" = all), newest first.
func (q *Queue) jobs(bot int64, status string) ([]store.Job, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	lister, err := q.kv.ListKeysFiltered(ctx, "*")
	if err != nil {
		return nil, fmt.Errorf("%s keys: %w", BucketJobs, err)
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, k)
	}
	var out []store.Job
	for _, id := range ids {
		var rec record
		if _, err := q.get(ctx, id, &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if rec.BotID == bot && (status == "" || rec.Status == status) {
			out = append(out, rec.Job)
		}
	}
	store.SortNewestFirst(out)
	return out, nil
}

// update applies fn to the job record with compare-and-set.
func (q *Queue) update(ctx context.Context, id string, fn func(*record)) (record, error) {
	for {
		var rec record
		e, err := q.get(ctx, id, &rec)
		if err != nil {
			return rec, err
		}
		fn(&rec)
		data, err := json.Marshal(rec)
		if err != nil {
			return rec, fmt.Errorf("encode: %w", err)
		}
		_, err = q.kv.Update(ctx, id, data, e.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return rec, fmt.Errorf("%s update: %w", BucketJobs, err)
		}
		return rec, nil
	}
}

// remaining is how many of a job's recipients are still in TG_SEND
// (queued or in flight).
func (q *Queue) remaining(ctx context.Context, rec record) (uint64, error) {
	filter := subjectPrefix + strconv.FormatInt(rec.BotID, 10) + ".*." + rec.ID
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, fmt.Errorf("%s info: %w", Stream, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// recount counts a job's recipients from their keys and stores the
// counts, and done when none is pending.
func (q *Queue) recount(ctx context.Context, id string) (record, error) {
	w, err := q.kv.Watch(ctx, id+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return record{}, fmt.Errorf("%s watch: %w", BucketJobs, err)
	}
	defer func() { _ = w.Stop() }()
	sent, failed, blocked := 0, 0, 0
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return record{}, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				done = true // every current value was delivered
				break
			}
			var it store.Item
			if json.Unmarshal(e.Value(), &it) != nil {
				break
			}
			switch it.Status {
			case store.ItemSent:
				sent++
			case store.ItemFailed:
				failed++
			case store.ItemBlocked:
				blocked++
			}
		}
	}
	now := time.Now().UTC()
	return q.update(ctx, id, func(r *record) {
		r.Sent, r.Failed, r.Blocked, r.UpdatedAt = sent, failed, blocked, now
		finish(r, now)
	})
}

// finish marks a job done when nothing is pending (unless cancelled),
// running when it was queued.
func finish(r *record, now time.Time) {
	switch {
	case r.Status == store.JobDone || r.Status == store.JobCancelled:
	case r.Pending() <= 0:
		r.Status, r.FinishedAt = store.JobDone, &now
	case r.Status == store.JobQueued:
		r.Status = store.JobRunning
	}
}

// finished reports whether nothing more happens to a job.
func finished(status string) bool { return status == store.JobDone || status == store.JobCancelled }
