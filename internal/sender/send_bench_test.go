package sender_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/sender"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// BenchmarkSendMessage measures POST /api_v1/send_message through a real
// sender (rate limits lifted, logging at info to a file like the binary)
// against the floor: a bare gotd client (no middlewares, no HTTP, no store)
// sending the same messages to the same emulator, in the same run. Both
// use 4 goroutines per GOMAXPROCS (16 on 4 cores: the cmd/bench load), each
// message to one of SENDER_BENCH_USERS (default 1000) users who wrote to
// the bot. Besides ns/op it reports the latency percentiles, the process
// CPU per message (emulator included on both sides, plus the HTTP client on
// the sender's) and, at the end, sender msg/s over bare msg/s.
//
//	go test -run x -bench SendMessage -benchtime 3000x ./internal/sender/
func BenchmarkSendMessage(b *testing.B) {
	sb := startSendBench(b)
	var bareNs, senderNs float64
	b.Run("bare", func(b *testing.B) {
		bareNs = runParallelSends(b, func(ctx context.Context, u tgemu.User, i int64) error {
			_, err := sb.bare.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
				Peer:     &tg.InputPeerUser{UserID: u.ID, AccessHash: u.AccessHash},
				Message:  fmt.Sprintf("bare send %d", i),
				RandomID: i,
			})
			return err
		}, sb.users)
	})
	b.Run("sender", func(b *testing.B) {
		senderNs = runParallelSends(b, func(ctx context.Context, u tgemu.User, i int64) error {
			return sb.post(ctx, u, i)
		}, sb.users)
	})
	if bareNs > 0 && senderNs > 0 {
		fmt.Fprintf(os.Stderr, "send_message: sender %.0f msg/s, bare client %.0f msg/s: %.2fx\n",
			1e9/senderNs, 1e9/bareNs, bareNs/senderNs)
	}
}

// runParallelSends runs b.N sends from 4 goroutines per GOMAXPROCS and
// returns ns/op; it reports msg/s and the CPU of the whole process per send.
func runParallelSends(b *testing.B, send func(context.Context, tgemu.User, int64) error, users []tgemu.User) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var failed atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	lat := make([]time.Duration, b.N)
	var done atomic.Int64
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := sendSeq.Add(1) // random_ids stay unique across runs
			t0 := time.Now()
			if err := send(ctx, users[int(i)%len(users)], i); err != nil && failed.Add(1) == 1 {
				b.Error(err)
			}
			lat[done.Add(1)-1] = time.Since(t0)
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	return float64(elapsed.Nanoseconds()) / float64(b.N)
}

var sendSeq atomic.Int64

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type sendBench struct {
	users []tgemu.User
	url   string
	hc    *http.Client
	bare  *tg.Client
}

func startSendBench(b *testing.B) *sendBench {
	b.Helper()
	env := emutest.Start(b, emutest.WithConfig(func(c *tgemu.Config) { c.Logger = nil }))
	users := make([]tgemu.User, envInt("SENDER_BENCH_USERS", 1000))
	for i := range users {
		users[i] = newUser(b, env, fmt.Sprintf("B%d", i))
	}

	dir := b.TempDir()
	v := vars(b, env, dir)
	v["LOG_LEVEL"] = "info"
	cfg, err := config.LoadFrom[sender.Config](v)
	require.NoError(b, err)
	logFile, err := os.Create(filepath.Join(dir, "sender.log"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = logFile.Close() })
	// The encoder of internal/logging, to a file (LOG_FILE without rotation).
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(encCfg), zapcore.AddSync(logFile), zap.InfoLevel), zap.AddCaller())
	svc, err := sender.New(cfg, log.Named("sender"))
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		require.NoError(b, <-done)
	})
	readyCtx, readyCancel := context.WithTimeout(context.Background(), 90*time.Second) // a new auth key under -race on a busy machine is slow
	defer readyCancel()
	require.NoError(b, svc.WaitReady(readyCtx), "sender not ready")

	client := env.NewClient(b, tgclient.Options{NoUpdates: true, RetryInterval: time.Second})
	bareCtx, stopBare := context.WithCancel(context.Background())
	ready := make(chan struct{})
	bareDone := make(chan struct{})
	go func() {
		defer close(bareDone)
		env.RunBot(b, bareCtx, client, func(ctx context.Context) error {
			close(ready)
			<-ctx.Done()
			return nil
		})
	}()
	b.Cleanup(func() { stopBare(); <-bareDone })
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		b.Fatal("bare client not ready")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return &sendBench{users: users, url: "http://" + svc.Addr() + "/api_v1/send_message",
		hc: &http.Client{Transport: tr, Timeout: time.Minute}, bare: client.API()}
}

// post sends one send_message over a keep-alive connection.
func (sb *sendBench) post(ctx context.Context, u tgemu.User, i int64) error {
	body := fmt.Appendf(nil, `{"chat_id":%d,"text":"bench send %d"}`, u.ID, i)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sb.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := sb.hc.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("send_message: %d %s", resp.StatusCode, data)
	}
	return nil
}
