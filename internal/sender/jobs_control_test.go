package sender_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

type jobSummary struct {
	JobID   string `json:"job_id"`
	BotID   int64  `json:"bot_id"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Sent    int    `json:"sent"`
	Failed  int    `json:"failed"`
	Blocked int    `json:"blocked"`
	Pending int    `json:"pending"`
}

type recipientPage struct {
	JobID      string      `json:"job_id"`
	Recipients []jobResult `json:"recipients"`
	NextOffset *int        `json:"next_offset"`
}

func decodeAs[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(r.Body, &v), string(r.Body))
	return v
}

// emuControl posts to the emulator's control API over HTTP.
func emuControl(t testing.TB, env *emutest.Env) func(path string, body any) {
	srv := httptest.NewServer(env.Server.Handler())
	t.Cleanup(srv.Close)
	return func(path string, body any) {
		t.Helper()
		data, err := json.Marshal(body)
		require.NoError(t, err)
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(data))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
}

// TestJobCountsBlockedAndListsRecipients: recipients who blocked the bot
// are counted as blocked, not failed, and each status can be listed page by
// page.
func TestJobCountsBlockedAndListsRecipients(t *testing.T) {
	forModes(t, testJobCountsBlockedAndListsRecipients)
}

func testJobCountsBlockedAndListsRecipients(t *testing.T, start senderStart) {
	env := emutest.Start(t)
	s := start(t, env, map[string]string{"SENDER_ASYNC_THRESHOLD": "2"})
	post := emuControl(t, env)
	users := newUsers(t, env, 5)
	blockers := newUsers(t, env, 2)
	for _, id := range blockers {
		post(fmt.Sprintf("/v1/users/%d/block", id), map[string]any{})
	}
	all := append(append([]int64{}, users[:3]...), blockers[0], users[3], blockers[1], users[4])
	resp := s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": all, "text": "hello"}, nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	id := resp.JSON(t)["job_id"].(string)

	v := s.waitJob(t, id, 30*time.Second)
	require.Equal(t, 5, v.Sent)
	require.Equal(t, 2, v.Blocked)
	require.Zero(t, v.Failed, "blocked recipients are not failures")
	requireOneEach(t, env, users, "hello")

	page := decodeAs[recipientPage](t, s.do(t, http.MethodGet, "/api_v1/jobs/"+id+"/recipients?status=blocked", "", nil, nil))
	require.Len(t, page.Recipients, 2)
	require.Nil(t, page.NextOffset)
	for i, r := range page.Recipients {
		require.Equal(t, blockers[i], r.ChatID)
		require.Equal(t, "blocked", r.Status)
		require.False(t, r.OK)
		require.Equal(t, "blocked_by_user", r.Error.Code)
	}
	require.Empty(t, decodeAs[recipientPage](t, s.do(t, http.MethodGet, "/api_v1/jobs/"+id+"/recipients?status=failed", "", nil, nil)).Recipients)
	require.Empty(t, decodeAs[recipientPage](t, s.do(t, http.MethodGet, "/api_v1/jobs/"+id+"/recipients?status=pending", "", nil, nil)).Recipients)

	// The sent ones, two at a time.
	var sent []int64
	offset := 0
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		p := decodeAs[recipientPage](t, s.do(t, http.MethodGet, fmt.Sprintf("/api_v1/jobs/%s/recipients?status=sent&limit=2&offset=%d", id, offset), "", nil, nil))
		for _, r := range p.Recipients {
			require.Equal(t, "sent", r.Status)
			require.NotZero(t, r.MessageID)
			sent = append(sent, r.ChatID)
		}
		if p.NextOffset == nil {
			break
		}
		offset = *p.NextOffset
	}
	require.Equal(t, users, sent)

	bad := s.do(t, http.MethodGet, "/api_v1/jobs/"+id+"/recipients?status=lost", "", nil, nil)
	require.Equal(t, http.StatusBadRequest, bad.Status)
	require.Equal(t, "status", bad.JSON(t)["error"].(map[string]any)["field"])
	require.Equal(t, http.StatusNotFound, s.do(t, http.MethodGet, "/api_v1/jobs/nope/recipients", "", nil, nil).Status)
}

// TestJobPauseResumeCancel: a paused job sends nothing until resumed, then
// finishes with one message per recipient; a cancelled job never sends its
// pending recipients; the jobs list filters by status.
func TestJobPauseResumeCancel(t *testing.T) {
	forModes(t, testJobPauseResumeCancel)
}

func testJobPauseResumeCancel(t *testing.T, start senderStart) {
	env := emutest.Start(t)
	s := start(t, env, map[string]string{
		"SENDER_ASYNC_THRESHOLD": "2",
		"SENDER_WORKERS":         "1",
		"SENDER_RATE_PER_SECOND": "20",
	})
	users := newUsers(t, env, 30)
	delivered := func(text string) int {
		n := 0
		for _, id := range users {
			for _, m := range botMessages(t, env, id) {
				if m.Text == text {
					n++
				}
			}
		}
		return n
	}
	control := func(id, action string, want int) jobSummary {
		t.Helper()
		resp := s.do(t, http.MethodPost, "/api_v1/jobs/"+id+"/"+action, "", nil, nil)
		require.Equal(t, want, resp.Status, string(resp.Body))
		if want != http.StatusOK {
			require.Equal(t, "job_status_conflict", resp.errorCode(t))
			return jobSummary{}
		}
		return decodeAs[jobSummary](t, resp)
	}
	// settled waits until the send in flight when the job stopped is done
	// and committed: what the users got equals the job's sent count twice,
	// longer than one send waits for the rate limit apart.
	settled := func(id, text string) jobView {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v := s.job(t, id, "?limit=0")
			if v.Sent == delivered(text) {
				time.Sleep(200 * time.Millisecond)
				if again := s.job(t, id, "?limit=0"); again.Sent == v.Sent && again.Sent == delivered(text) {
					return v
				}
			}
			require.True(t, time.Now().Before(deadline), "job %s: %d sent, %d delivered", id, v.Sent, delivered(text))
			time.Sleep(50 * time.Millisecond)
		}
	}

	resp := s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "first"}, nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	first := resp.JSON(t)["job_id"].(string)
	require.Eventually(t, func() bool { return s.job(t, first, "?limit=0").Sent >= 2 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "paused", control(first, "pause", http.StatusOK).Status)
	control(first, "pause", http.StatusConflict)
	paused := settled(first, "first")
	require.Equal(t, "paused", paused.Status)
	require.Positive(t, paused.Pending)
	time.Sleep(500 * time.Millisecond) // ten sends' worth at 20/s
	require.Equal(t, paused.Sent, delivered("first"), "a paused job sends nothing")

	list := decodeAs[struct{ Jobs []jobSummary }](t, s.do(t, http.MethodGet, "/api_v1/jobs?status=paused", "", nil, nil))
	require.Len(t, list.Jobs, 1)
	require.Equal(t, first, list.Jobs[0].JobID)
	require.Equal(t, env.BotID, list.Jobs[0].BotID)

	require.Equal(t, "queued", control(first, "resume", http.StatusOK).Status)
	control(first, "resume", http.StatusConflict)
	done := s.waitJob(t, first, 30*time.Second)
	require.Equal(t, len(users), done.Sent)
	requireOneEach(t, env, users, "first")
	control(first, "cancel", http.StatusConflict)
	control(first, "pause", http.StatusConflict)

	resp = s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "second"}, nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	second := resp.JSON(t)["job_id"].(string)
	require.Eventually(t, func() bool { return s.job(t, second, "?limit=0").Sent >= 1 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "cancelled", control(second, "cancel", http.StatusOK).Status)
	cancelled := settled(second, "second")
	require.Positive(t, cancelled.Pending)
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, cancelled.Sent, delivered("second"), "a cancelled job sends nothing more")
	control(second, "resume", http.StatusConflict)
	pending := decodeAs[recipientPage](t, s.do(t, http.MethodGet, "/api_v1/jobs/"+second+"/recipients?status=pending&limit=1000", "", nil, nil))
	require.Len(t, pending.Recipients, cancelled.Pending)

	all := decodeAs[struct {
		Jobs       []jobSummary
		NextOffset *int `json:"next_offset"`
	}](t, s.do(t, http.MethodGet, "/api_v1/jobs?limit=1", "", nil, nil))
	require.Len(t, all.Jobs, 1)
	require.Equal(t, second, all.Jobs[0].JobID, "newest first")
	require.NotNil(t, all.NextOffset)
	rest := decodeAs[struct{ Jobs []jobSummary }](t, s.do(t, http.MethodGet, fmt.Sprintf("/api_v1/jobs?offset=%d", *all.NextOffset), "", nil, nil))
	require.Len(t, rest.Jobs, 1)
	require.Equal(t, first, rest.Jobs[0].JobID)
	require.Equal(t, "done", rest.Jobs[0].Status)
	for _, q := range []string{"?status=cancelled", "?status=done"} {
		require.Len(t, decodeAs[struct{ Jobs []jobSummary }](t, s.do(t, http.MethodGet, "/api_v1/jobs"+q, "", nil, nil)).Jobs, 1, q)
	}
	bad := s.do(t, http.MethodGet, "/api_v1/jobs?status=finished", "", nil, nil)
	require.Equal(t, http.StatusBadRequest, bad.Status)
	require.Equal(t, http.StatusNotFound, s.do(t, http.MethodPost, "/api_v1/jobs/nope/pause", "", nil, nil).Status)
}
