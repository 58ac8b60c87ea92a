package sender_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// BenchmarkBroadcast sends one text to N distinct users as a job, with the
// emulator enforcing R messages/s per bot and 1/s per chat and the sender
// configured to R. It reports the run time against the ideal N/R and the
// FLOOD_WAITs the emulator answered. N and R come from SENDER_BENCH_N
// (default 2000) and SENDER_BENCH_RATE (default 1000); the sender's rate is
// SENDER_BENCH_SENDER_RATE (default R).
func BenchmarkBroadcast(b *testing.B) {
	n := envInt("SENDER_BENCH_N", 2000)
	r := envInt("SENDER_BENCH_RATE", 1000)
	senderRate := envInt("SENDER_BENCH_SENDER_RATE", r)
	for range b.N {
		env := emutest.Start(b, emutest.WithConfig(func(c *tgemu.Config) {
			c.Limits = tgemu.Limits{GlobalPerSecond: r, PerChatPerSecond: 1}
			c.Logger = nil
		}))
		users := newUsers(b, env, n)
		s := startSender(b, env, b.TempDir(), map[string]string{
			"SENDER_RATE_PER_SECOND": strconv.Itoa(senderRate), "SENDER_RATE_PER_CHAT_PER_SECOND": "1",
			"SENDER_MAX_RECIPIENTS": strconv.Itoa(n), "LOG_LEVEL": "warn",
			"SENDER_WORKERS": strconv.Itoa(envInt("SENDER_BENCH_WORKERS", 64)),
		})
		start := time.Now()
		resp := s.postJSON(b, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "bench"}, nil)
		require.Equal(b, http.StatusAccepted, resp.Status, string(resp.Body))
		accepted := time.Since(start)
		v := s.waitJob(b, resp.JSON(b)["job_id"].(string), 10*time.Minute)
		elapsed := time.Since(start)
		require.Equal(b, n, v.Sent)
		ideal := time.Duration(float64(n) / float64(r) * float64(time.Second))
		b.ReportMetric(elapsed.Seconds(), "s/run")
		b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "x-ideal")
		b.ReportMetric(float64(env.Server.Stats().FloodWaits), "flood-waits")
		fmt.Fprintf(os.Stderr, "broadcast n=%d R=%d sender=%d: %v (ideal %v, %.3fx; accepted after %v), flood waits %d\n",
			n, r, senderRate, elapsed.Round(time.Millisecond), ideal, elapsed.Seconds()/ideal.Seconds(),
			accepted.Round(time.Millisecond), env.Server.Stats().FloodWaits)
		raw := s.do(b, http.MethodGet, "/api_v1/jobs/"+v.JobID+"?limit=0", "", nil, nil).JSON(b)
		created, _ := time.Parse(time.RFC3339Nano, raw["created_at"].(string))
		finished, _ := time.Parse(time.RFC3339Nano, raw["finished_at"].(string))
		fmt.Fprintf(os.Stderr, "job ran %v from creation to its last result\n", finished.Sub(created).Round(time.Millisecond))
		for _, line := range strings.Split(string(s.do(b, http.MethodGet, "/metrics", "", nil, nil).Body), "\n") {
			if strings.HasPrefix(line, "sender_telegram_rpc_duration_seconds_sum{method=\"messages.sendMessage\"") ||
				strings.HasPrefix(line, "sender_telegram_rpc_duration_seconds_count{method=\"messages.sendMessage\"") ||
				strings.HasPrefix(line, "sender_rate_limit_wait_seconds_sum") {
				fmt.Fprintln(os.Stderr, line)
			}
		}
		s.stop()
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
