package receiver_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/procrun"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsstate"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// emuProcess is bin/tgemu run as a child process, driven through its
// control API.
type emuProcess struct {
	base  string
	botID int64
	c     *http.Client
}

// startEmuProcess builds and runs cmd/tgemu with one bot and returns it with
// a suite whose Telegram configuration points at it.
func startEmuProcess(t *testing.T) (*emuProcess, *suite) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, procrun.Build(dir, "github.com/tgbotsvc/tgbot/cmd/tgemu"))
	bin := filepath.Join(dir, "tgemu")
	mtproto, httpAddr := freeAddr(t), freeAddr(t)
	const botID = 7_000_001
	token := strconv.Itoa(botID) + ":failover-secret"
	p, err := procrun.Start("tgemu", bin, []string{
		"TGEMU_MTPROTO_ADDR=" + mtproto,
		"TGEMU_HTTP_ADDR=" + httpAddr,
		"TGEMU_KEY_FILE=" + filepath.Join(dir, "tgemu.key"),
		"TGEMU_PUBLIC_KEY_FILE=" + filepath.Join(dir, "tgemu.pub"),
		"TGEMU_DATA_FILE=" + filepath.Join(dir, "tgemu.db"),
		"TGEMU_BOT_TOKENS=" + token,
		"LOG_LEVEL=warn",
	}, dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(5 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = p.WaitReady(ctx, "http://"+httpAddr+"/healthz", 30*time.Second)
	require.NoError(t, err, "tgemu log: %s", p.Tail(20))
	e := &emuProcess{base: "http://" + httpAddr, botID: botID, c: procrun.NewClient(32, 10*time.Second)}
	tc := config.Telegram{
		AppID: 1, AppHash: "emulator", BotToken: token, DCID: 2, DCAddr: mtproto,
		PublicKeyFile: filepath.Join(dir, "tgemu.pub"),
	}
	return e, &suite{env: &emutest.Env{Telegram: tc, BotID: botID, Dir: dir}}
}

func (e *emuProcess) newUser(t *testing.T, name string) int64 {
	t.Helper()
	var u struct {
		ID int64 `json:"id"`
	}
	in := map[string]string{"first_name": name, "username": strings.ToLower(name)}
	require.NoError(t, procrun.DoJSON(context.Background(), e.c, http.MethodPost, e.base+"/v1/users", "", in, &u))
	return u.ID
}

func (e *emuProcess) send(ctx context.Context, user int64, text string) error {
	in := map[string]any{"text": text, "bot_id": e.botID}
	return procrun.DoJSON(ctx, e.c, http.MethodPost, fmt.Sprintf("%s/v1/users/%d/messages", e.base, user), "", in, nil)
}

// streamLeader names the server that leads stream TG_EVENTS.
func streamLeader(t *testing.T, url string) string {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsstate.Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.NotNil(t, info.Cluster)
	require.NotEmpty(t, info.Cluster.Leader)
	return info.Cluster.Leader
}

// A 3-process nats-server cluster (NATS_STREAM_REPLICAS=3), two receiver
// processes, the emulator process and a downstream. 2,000 messages from 20
// chats; during them the active receiver is killed with SIGKILL, and once the
// standby has taken over (and the killed one is back as standby), the leader
// of TG_EVENTS is killed with SIGKILL. Every message arrives once or more, in
// order per chat, a repeated one with the same webhook-id, and the takeover
// after the receiver's death takes at most RECEIVER_LEASE_TTL + 1 s.
func TestNATSClusterFailover(t *testing.T) {
	bin := buildBinary(t)
	natsBin := natstest.Build(t, t.TempDir())
	servers := natstest.ClusterProcesses(t, natsBin, 3)
	var urls []string
	byName := map[string]*natstest.Process{}
	for _, p := range servers {
		p.Start(t)
		urls = append(urls, p.URL())
		byName[p.Name] = p
	}
	natsURL := strings.Join(urls, ",")
	emu, s := startEmuProcess(t)
	down := newDownstream(t)

	const ttl = 2 * time.Second
	extra := []string{"NATS_URL=" + natsURL, "NATS_STREAM_REPLICAS=3", "RECEIVER_LEASE_TTL=" + ttl.String(), "DRIVER=http"}
	dirA := t.TempDir()
	a, b := s.startActiveStandby(t, bin, dirA, t.TempDir(), down.srv.URL, extra...)

	const chats, perChat = 20, 100
	users := make([]int64, chats)
	for i := range users {
		users[i] = emu.newUser(t, fmt.Sprintf("Failover%d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	wg, sent := sendLoad(ctx, users, perChat, 150*time.Millisecond, emu.send)

	// Phase 1: kill -9 of the active receiver.
	require.Eventually(t, func() bool { return len(down.got()) >= chats*perChat/5 }, 60*time.Second, 5*time.Millisecond)
	atKill := len(down.got())
	killed := killActive(t, a, b, ttl)
	require.Eventually(t, func() bool { return len(down.got()) > atKill+chats }, 60*time.Second, 10*time.Millisecond)
	t.Logf("receiver killed at %d delivered; deliveries resumed after %s", atKill, time.Since(killed))
	a = s.startProcess(t, bin, dirA, down.srv.URL, extra...)
	require.Equal(t, "standby", a.role(t))

	// Phase 2: kill -9 of the stream leader while messages keep coming.
	leader := streamLeader(t, natsURL)
	require.Contains(t, byName, leader)
	before, sentBefore := len(down.got()), sent.Load()
	require.Less(t, sentBefore, int64(chats*perChat), "the load ended before the stream leader was killed")
	byName[leader].Kill()
	killed = time.Now()
	require.Eventually(t, func() bool { return len(down.got()) > before+chats }, 60*time.Second, 10*time.Millisecond)
	t.Logf("stream leader %s kill -9 at %d delivered (%d sent): deliveries resumed after %s", leader, before, sentBefore, time.Since(killed))

	wg.Wait()
	require.NoError(t, ctx.Err())
	t.Logf("sent %d messages", sent.Load())

	dups := checkDelivered(t, down, users, perChat)
	t.Logf("delivered %d events, %d of them again (same webhook-id)", len(down.got()), dups)
}
