package receiver_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// process is the receiver binary run as a child process.
type process struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries and runs them as processes (go test -short skips it)")
	}
	dir := t.TempDir()
	require.NoError(t, procrun.Build(dir, "github.com/tgbotsvc/tgbot/cmd/receiver"))
	return filepath.Join(dir, "receiver")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := procrun.FreeAddr()
	require.NoError(t, err)
	return addr
}

// startProcess runs the receiver binary; extra are more VAR=value pairs.
func (s *suite) startProcess(t *testing.T, bin, dataDir, url string, extra ...string) *process {
	t.Helper()
	tc := s.env.Telegram
	p := &process{addr: freeAddr(t), done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(),
		"DATA_DIR="+dataDir,
		"RECEIVER_ADDR="+p.addr,
		"RECEIVER_TG_RETRY_INTERVAL=100ms",
		"TG_APP_ID="+strconv.Itoa(tc.AppID),
		"TG_APP_HASH="+tc.AppHash,
		"TG_BOT_TOKEN="+tc.BotToken,
		"TG_DC_ADDR="+tc.DCAddr,
		"TG_DC_ID="+strconv.Itoa(tc.DCID),
		"TG_PUBLIC_KEY_FILE="+tc.PublicKeyFile,
		"DRIVER_HTTP_URL="+url,
		"DRIVER_HTTP_SECRET="+testSecret,
		"DRIVER_BACKOFF_INITIAL=20ms",
		"DRIVER_BACKOFF_MAX=200ms",
		"LOG_LEVEL=warn",
	)
	p.cmd.Env = append(p.cmd.Env, extra...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 50*time.Millisecond, "receiver process not ready")
	return p
}

func (p *process) kill(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

func (p *process) depth(t *testing.T) float64 {
	_, body := httpDo(t, http.MethodGet, "http://"+p.addr+"/readyz", "")
	d, _ := body["outbox_depth"].(float64)
	return d
}

// uniqueInOrder drops repeated texts (at-least-once delivery may repeat an
// event acknowledged just before a crash) and keeps first occurrences.
func uniqueInOrder(texts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range texts {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// The receiver binary is killed with SIGKILL twice: once with undelivered
// events in its outbox, once in the middle of a stream of messages. After
// each restart every message arrives, in order per chat.
func (s *suite) testKill9(t *testing.T) {
	env := s.env
	bin := buildBinary(t)
	down := newDownstream(t)
	down.setStatus(func(event.Event) int { return http.StatusServiceUnavailable })
	dir := s.dataDir(t)

	p := s.startProcess(t, bin, dir, down.srv.URL)
	u := newUser(t, env, "Kill")
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("queued %d", i))
		send(t, env, u.ID, want[i])
	}
	require.Eventually(t, func() bool { return p.depth(t) == 5 }, 10*time.Second, 20*time.Millisecond)
	p.kill(t)
	for i := range 2 {
		want = append(want, fmt.Sprintf("while dead %d", i))
		send(t, env, u.ID, want[len(want)-1])
	}
	down.setStatus(nil)
	p = s.startProcess(t, bin, dir, down.srv.URL)
	down.waitTexts(t, u.ID, want)

	// Kill under load.
	users := []int64{newUser(t, env, "L1").ID, newUser(t, env, "L2").ID, newUser(t, env, "L3").ID}
	const perUser = 100
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perUser {
				if ctx.Err() != nil {
					return
				}
				_, _ = env.Server.UserSendMessage(id, env.BotID, fmt.Sprintf("load %03d", i))
				time.Sleep(time.Millisecond)
			}
		}()
	}
	require.Eventually(t, func() bool { return len(down.texts(users[0])) >= 20 }, 20*time.Second, 5*time.Millisecond)
	p.kill(t)
	wg.Wait()
	require.NoError(t, ctx.Err())
	s.startProcess(t, bin, dir, down.srv.URL)
	var wantLoad []string
	for i := range perUser {
		wantLoad = append(wantLoad, fmt.Sprintf("load %03d", i))
	}
	for _, id := range users {
		require.Eventually(t, func() bool { return len(uniqueInOrder(down.texts(id))) == perUser }, 30*time.Second, 20*time.Millisecond,
			"user %d got %d", id, len(uniqueInOrder(down.texts(id))))
		require.Equal(t, wantLoad, uniqueInOrder(down.texts(id)))
	}
}
