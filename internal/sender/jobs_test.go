package sender_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

type jobResult struct {
	Index     int    `json:"index"`
	ChatID    int64  `json:"chat_id"`
	OK        bool   `json:"ok"`
	Status    string `json:"status"`
	MessageID int    `json:"message_id"`
	Error     *struct {
		Code string `json:"code"`
	} `json:"error"`
}

type jobView struct {
	jobSummary
	Results    []jobResult `json:"results"`
	NextOffset *int        `json:"next_offset"`
}

func (s *running) job(t testing.TB, id, query string) jobView {
	t.Helper()
	resp := s.do(t, http.MethodGet, "/api_v1/jobs/"+id+query, "", nil, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var v jobView
	require.NoError(t, json.Unmarshal(resp.Body, &v))
	return v
}

// waitJob polls until the job is done or the deadline passes.
func (s *running) waitJob(t testing.TB, id string, within time.Duration) jobView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if s.job(t, id, "?limit=0").Status == "done" {
			return s.job(t, id, "?limit=10000")
		}
		require.True(t, time.Now().Before(deadline), "job %s not done in %v", id, within)
		time.Sleep(50 * time.Millisecond)
	}
}

func newUsers(t testing.TB, env *emutest.Env, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = newUser(t, env, fmt.Sprintf("U%d", i)).ID
	}
	return ids
}

// requireOneEach checks that every user got exactly one message from the bot.
func requireOneEach(t testing.TB, env *emutest.Env, users []int64, text string) {
	t.Helper()
	for _, id := range users {
		msgs := botMessages(t, env, id)
		require.Len(t, msgs, 1, "user %d", id)
		require.Equal(t, text, msgs[0].Text)
	}
}

// TestBulkJobUnderLimits: a broadcast above the async threshold becomes a
// job that runs at the configured rate under the emulator's enforced limits
// without a single FLOOD_WAIT.
func TestBulkJobUnderLimits(t *testing.T) {
	const n, rate = 60, 40
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) {
		c.Limits = tgemu.Limits{GlobalPerSecond: 50, PerChatPerSecond: 1}
	}))
	s := startSender(t, env, t.TempDir(), map[string]string{
		"SENDER_ASYNC_THRESHOLD":          "10",
		"SENDER_RATE_PER_SECOND":          fmt.Sprint(rate),
		"SENDER_RATE_PER_CHAT_PER_SECOND": "1",
	})
	users := newUsers(t, env, n)
	blocked := newUser(t, env, "Blocker")
	require.NoError(t, env.Server.Block(blocked.ID, env.BotID))

	start := time.Now()
	resp := s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": append(users, blocked.ID), "text": "broadcast"}, nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	id := resp.JSON(t)["job_id"].(string)
	require.Equal(t, "/api_v1/jobs/"+id, resp.Header.Get("Location"))

	v := s.waitJob(t, id, 30*time.Second)
	elapsed := time.Since(start)
	require.Equal(t, n+1, v.Total)
	require.Equal(t, n, v.Sent)
	require.Equal(t, 1, v.Blocked)
	require.Zero(t, v.Failed)
	require.Zero(t, v.Pending)
	require.Zero(t, env.Server.Stats().FloodWaits, "the proactive limits must keep Telegram from answering FLOOD_WAIT")
	require.GreaterOrEqual(t, elapsed, time.Duration(float64(n-1)/rate*float64(time.Second)), "sends must be spaced by the rate limit")
	requireOneEach(t, env, users, "broadcast")
	last := v.Results[n]
	require.Equal(t, "blocked", last.Status)
	require.Equal(t, "blocked_by_user", last.Error.Code)
	for _, r := range v.Results[:n] {
		require.True(t, r.OK)
		require.NotZero(t, r.MessageID)
	}

	page := s.job(t, id, "?offset=25&limit=25")
	require.Len(t, page.Results, 25)
	require.Equal(t, 25, page.Results[0].Index)
	require.NotNil(t, page.NextOffset)
	require.Equal(t, 50, *page.NextOffset)

	// Explicit async below the threshold, list form, documents of the job's view.
	small := s.postJSON(t, "/api_v1/send_multiple_message?async=true", []map[string]any{{"chat_id": users[0], "text": "second"}}, nil)
	require.Equal(t, http.StatusAccepted, small.Status, string(small.Body))
	v2 := s.waitJob(t, small.JSON(t)["job_id"].(string), 10*time.Second)
	require.Equal(t, 1, v2.Sent)
}

// TestJobResumesAfterGracefulStop: stopping the service mid-job keeps the
// progress, a new service on the same DATA_DIR finishes the job, and no
// recipient gets a message twice. It also checks that the stopped service
// left no goroutine behind.
func TestJobResumesAfterGracefulStop(t *testing.T) {
	const n = 40
	env := emutest.Start(t)
	dir := t.TempDir()
	set := map[string]string{"SENDER_ASYNC_THRESHOLD": "5", "SENDER_RATE_PER_SECOND": "20"}
	s := startSender(t, env, dir, set)
	users := newUsers(t, env, n)
	resp := s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "resume me"}, map[string]string{"Idempotency-Key": "job-key"})
	require.Equal(t, http.StatusAccepted, resp.Status)
	id := resp.JSON(t)["job_id"].(string)
	require.Eventually(t, func() bool { return s.job(t, id, "").Sent >= 5 }, 10*time.Second, 20*time.Millisecond)
	s.stop()

	s2 := startSender(t, env, dir, set)
	again := s2.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "resume me"}, map[string]string{"Idempotency-Key": "job-key"})
	require.Equal(t, http.StatusAccepted, again.Status)
	require.Equal(t, id, again.JSON(t)["job_id"], "a retried job request returns the same job")
	v := s2.waitJob(t, id, 30*time.Second)
	require.Equal(t, n, v.Sent)
	requireOneEach(t, env, users, "resume me")
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// senderBinary builds cmd/sender once per test run.
func senderBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries and runs them as processes (go test -short skips it)")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sender-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sender")
		buildErr = procrun.Build(dir, "github.com/tgbotsvc/tgbot/cmd/sender")
	})
	require.NoError(t, buildErr)
	return binPath
}

// process is the sender binary running as a child process.
type process struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func startProcess(t *testing.T, env *emutest.Env, dir string, set map[string]string) *process {
	t.Helper()
	v := vars(t, env, dir)
	for k, val := range set {
		v[k] = val
	}
	cmd := exec.Command(senderBinary(t))
	for k, val := range v {
		cmd.Env = append(cmd.Env, k+"="+val)
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, done: make(chan struct{})}
	addrCh := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "sender listening" {
				addrCh <- line.Addr
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addrCh:
	case <-time.After(60 * time.Second):
		t.Fatal("sender process did not start")
	}
	return p
}

// TestJobResumesAfterKill9 runs the real binary, SIGKILLs it in the middle
// of a job and starts it again on the same DATA_DIR: the job finishes and
// every recipient has exactly one message, including those whose send was
// in flight at the kill (Telegram drops the resend by its random_id).
func TestJobResumesAfterKill9(t *testing.T) {
	const n = 80
	env := emutest.Start(t)
	dir := t.TempDir()
	set := map[string]string{"SENDER_ASYNC_THRESHOLD": "5", "SENDER_RATE_PER_SECOND": "25"}
	users := newUsers(t, env, n)

	p := startProcess(t, env, dir, set)
	s := &running{url: "http://" + p.addr, client: &http.Client{Transport: &specTransport{t: t, next: &http.Transport{DisableKeepAlives: true}}, Timeout: 30 * time.Second}}
	require.Eventually(t, func() bool {
		return s.do(t, http.MethodGet, "/readyz", "", nil, nil).Status == http.StatusOK
	}, 90*time.Second, 50*time.Millisecond)
	resp := s.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "kill -9"}, nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	id := resp.JSON(t)["job_id"].(string)
	require.Eventually(t, func() bool { return s.job(t, id, "").Sent >= 20 }, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
	delivered := 0
	for _, u := range users {
		delivered += len(botMessages(t, env, u))
	}
	require.Less(t, delivered, n, "the kill must interrupt the job")

	p2 := startProcess(t, env, dir, set)
	s.url = "http://" + p2.addr
	require.Eventually(t, func() bool {
		return s.do(t, http.MethodGet, "/readyz", "", nil, nil).Status == http.StatusOK
	}, 90*time.Second, 50*time.Millisecond)
	v := s.waitJob(t, id, 30*time.Second)
	require.Equal(t, n, v.Sent)
	require.Zero(t, v.Failed)
	requireOneEach(t, env, users, "kill -9")

	// SIGTERM is a graceful stop: exit code 0.
	require.NoError(t, p2.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p2.done:
		require.Equal(t, 0, p2.cmd.ProcessState.ExitCode())
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}
