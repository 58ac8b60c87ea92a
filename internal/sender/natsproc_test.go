package sender_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// TestNATSClusterKill9 is the process-level test of the sender's NATS mode:
// a 3-process NATS cluster (streams and buckets with 3 replicas), bin/tgemu
// enforcing Telegram's limits (30/s per bot, 1/s per chat), three
// bin/sender replicas each with its own DATA_DIR; a 3,000-recipient job is
// submitted to one replica and another is killed with SIGKILL mid-job.
// Every recipient must get exactly one message, the emulator must not have
// answered a single FLOOD_WAIT, and the job must end done.
func TestNATSClusterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs a NATS cluster, an emulator and three senders as processes (-short skips it)")
	}
	const (
		recipients = 3000
		rate       = 30
		botToken   = "7000001:cluster-secret"
		botID      = 7000001
		apiToken   = "cluster-api-token-0123456789"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin := t.TempDir()
	require.NoError(t, procrun.Build(bin, "github.com/tgbotsvc/tgbot/cmd/tgemu", "github.com/tgbotsvc/tgbot/cmd/sender"))
	natsBin := natstest.Build(t, bin)

	nodes := natstest.ClusterProcesses(t, natsBin, 3)
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		n.Start(t)
		urls[i] = n.URL()
	}

	work := t.TempDir()
	logDir := filepath.Join(work, "logs")
	mt, err := procrun.FreeAddr()
	require.NoError(t, err)
	emuAddr, err := procrun.FreeAddr()
	require.NoError(t, err)
	pubKey := filepath.Join(work, "tgemu.pub")
	emu, err := procrun.Start("tgemu", filepath.Join(bin, "tgemu"), []string{
		"TGEMU_MTPROTO_ADDR=" + mt, "TGEMU_HTTP_ADDR=" + emuAddr,
		"TGEMU_KEY_FILE=" + filepath.Join(work, "tgemu.key"), "TGEMU_PUBLIC_KEY_FILE=" + pubKey,
		fmt.Sprintf("TGEMU_LIMIT_GLOBAL_PER_SECOND=%d", rate), "TGEMU_LIMIT_PER_CHAT_PER_SECOND=1",
		"TGEMU_LIMIT_GROUP_PER_MINUTE=20", "LOG_FORMAT=json", "LOG_LEVEL=warn",
	}, logDir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Stop(5 * time.Second) })
	emuURL := "http://" + emuAddr
	_, err = emu.WaitReady(ctx, emuURL+"/healthz", 30*time.Second)
	require.NoError(t, err)

	type replica struct {
		proc *procrun.Process
		url  string
	}
	senders := make([]*replica, 3)
	for i := range senders {
		addr, err := procrun.FreeAddr()
		require.NoError(t, err)
		p, err := procrun.Start(fmt.Sprintf("sender%d", i+1), filepath.Join(bin, "sender"), []string{
			"SENDER_ADDR=" + addr, "SENDER_API_TOKENS=" + apiToken, "DATA_DIR=" + filepath.Join(work, fmt.Sprintf("sender%d", i+1)),
			"TG_APP_ID=1", "TG_APP_HASH=emulator", "TG_BOT_TOKEN=" + botToken, "TG_DC_ADDR=" + mt, "TG_DC_ID=2",
			"TG_PUBLIC_KEY_FILE=" + pubKey, "LOG_FORMAT=json", "LOG_LEVEL=info",
			"NATS_URL=" + strings.Join(urls, ","), "NATS_STREAM_REPLICAS=3",
			fmt.Sprintf("SENDER_RATE_PER_SECOND=%d", rate), "SENDER_RATE_PER_CHAT_PER_SECOND=1", "SENDER_RATE_GROUP_PER_MINUTE=20",
		}, logDir)
		require.NoError(t, err)
		senders[i] = &replica{proc: p, url: "http://" + addr}
		t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	}
	for _, s := range senders {
		_, err := s.proc.WaitReady(ctx, s.url+"/readyz", 90*time.Second)
		require.NoError(t, err, "%s:\n%s", s.proc.Name, s.proc.Tail(30))
	}

	c := procrun.NewClient(64, 30*time.Second)
	users := make([]int64, recipients)
	sum := procrun.Run(ctx, recipients, 16, 3*time.Minute, func(ctx context.Context, i int) error {
		var u struct {
			ID int64 `json:"id"`
		}
		if err := procrun.DoJSON(ctx, c, http.MethodPost, emuURL+"/v1/users", "", map[string]string{"first_name": fmt.Sprintf("U%d", i)}, &u); err != nil {
			return err
		}
		users[i] = u.ID
		// A user who wrote to the bot may be addressed by ID alone.
		return procrun.DoJSON(ctx, c, http.MethodPost, fmt.Sprintf("%s/v1/users/%d/messages", emuURL, u.ID), "",
			map[string]any{"text": "/start", "bot_id": botID}, nil)
	})
	require.Zero(t, sum.Errors, "create users: %v", sum.FirstError)

	var accepted struct {
		JobID string `json:"job_id"`
	}
	require.NoError(t, procrun.DoJSON(ctx, c, http.MethodPost, senders[0].url+"/api_v1/send_multiple_message", apiToken,
		map[string]any{"chat_ids": users, "text": "cluster broadcast"}, &accepted))
	start := time.Now()
	type jobState struct {
		Status string `json:"status"`
		Total  int    `json:"total"`
		Sent   int    `json:"sent"`
		Failed int    `json:"failed"`
	}
	job := func(s *replica) (jobState, error) {
		var v jobState
		err := procrun.DoJSON(ctx, c, http.MethodGet, s.url+"/api_v1/jobs/"+accepted.JobID+"?limit=0", apiToken, nil, &v)
		return v, err
	}
	// Kill another replica (not the one the job went to) a third of the
	// way through.
	require.Eventually(t, func() bool {
		v, err := job(senders[1])
		return err == nil && v.Sent >= recipients/3
	}, 3*time.Minute, 200*time.Millisecond)
	victim := senders[2]
	require.NoError(t, syscall.Kill(victim.proc.PID(), syscall.SIGKILL))
	<-victim.proc.Exited()
	killedAt := time.Since(start)

	var final jobState
	require.Eventually(t, func() bool {
		v, err := job(senders[0])
		final = v
		return err == nil && v.Status == "done"
	}, 4*time.Minute, 500*time.Millisecond, "job not done: %+v", final)
	elapsed := time.Since(start)
	require.Equal(t, recipients, final.Total)
	require.Equal(t, recipients, final.Sent, "every recipient counted sent once")
	require.Zero(t, final.Failed)

	// Every recipient exactly once, as the emulator saw it.
	counts := make([]int, recipients)
	sum = procrun.Run(ctx, recipients, 16, 3*time.Minute, func(ctx context.Context, i int) error {
		var msgs struct {
			Messages []struct {
				Out  bool   `json:"out"`
				Text string `json:"text"`
			} `json:"messages"`
		}
		if err := procrun.DoJSON(ctx, c, http.MethodGet, fmt.Sprintf("%s/v1/users/%d/messages?bot_id=%d", emuURL, users[i], botID), "", nil, &msgs); err != nil {
			return err
		}
		for _, m := range msgs.Messages {
			if m.Out && m.Text == "cluster broadcast" {
				counts[i]++
			}
		}
		return nil
	})
	require.Zero(t, sum.Errors, "read messages: %v", sum.FirstError)
	for i, n := range counts {
		require.Equal(t, 1, n, "recipient %d (user %d) got %d copies", i, users[i], n)
	}
	var stats struct {
		FloodWaits int            `json:"flood_waits"`
		RPC        map[string]int `json:"rpc"`
	}
	require.NoError(t, procrun.DoJSON(ctx, c, http.MethodGet, emuURL+"/v1/stats", "", nil, &stats))
	require.Zero(t, stats.FloodWaits, "the emulator answered FLOOD_WAIT")
	t.Logf("%d recipients in %s (%.1f/s; limit %d/s), replica killed at %s; sendMessage RPCs %d (resends after the kill recognised as duplicates: %d)",
		recipients, elapsed.Round(time.Millisecond), float64(recipients)/elapsed.Seconds(), rate, killedAt.Round(time.Millisecond),
		stats.RPC["messages.sendMessage"], stats.RPC["messages.sendMessage"]-recipients)
}
