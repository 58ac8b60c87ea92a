package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// goalScaleFactor bounds a job's completion on several replicas with the
// limits on, against N/R: the replicas together keep the bot's rate.
const goalScaleFactor = 1.05

// startNATS runs one JetStream server in the bench process (the senders
// are separate processes; one node, so streams have one replica).
func startNATS(dir string) (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("nats: not ready in 10s")
	}
	return ns, nil
}

// benchScale runs the sender in NATS mode: bulk throughput with 1, 2 and 3
// replicas (limits lifted, then on, the emulator enforcing them) and the
// latency send_message gains in NATS mode against bbolt mode.
func benchScale(ctx context.Context, emu *emuClient, st *stack, users []emuUser, res *result) {
	const metric = "sender replicas on NATS"
	ns, err := startNATS(filepath.Join(st.work, "nats"))
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	defer func() {
		for _, r := range st.replicas {
			_ = r.stop()
		}
		st.replicas = nil
		ns.Shutdown()
		ns.WaitForShutdown()
		if err := emu.setLimits(context.WithoutCancel(ctx), emuLimits{}); err != nil {
			res.note("Resetting the emulator's limits: %v", err)
		}
	}()
	for i := range 3 {
		r, err := st.newService(fmt.Sprintf("sender-nats%d", i+1), "SENDER_ADDR", "SENDER_API_TOKENS="+st.apiToken,
			"NATS_URL="+ns.ClientURL(), "SENDER_ASYNC_THRESHOLD=0")
		if err != nil {
			errRow(res, metric, "", err)
			return
		}
		r.bin = st.bin("sender")
		st.replicas = append(st.replicas, r)
	}
	scaleLatency(ctx, st, users, res)

	n := st.opts.Bulk
	for _, rate := range []int{0, st.opts.BulkRate} {
		if err := emu.setLimits(ctx, emuLimits{GlobalPerSecond: rate, PerChatPerSecond: min(rate, 1)}); err != nil {
			errRow(res, metric, "", err)
			return
		}
		for count := 1; count <= len(st.replicas); count++ {
			if err := startReplicas(ctx, st, count, rate); err != nil {
				errRow(res, metric, "", err)
				return
			}
			b, err := runJob(ctx, emu, st, st.replicas[0].url(), users[:n], rate)
			if err != nil {
				errRow(res, fmt.Sprintf("bulk to %d, %d replica(s)", n, count), "", err)
				continue
			}
			res.note("bulk job on %d NATS replica(s), rate %d/s (0 = lifted): %s", count, rate, b)
			scaleRow(res, n, count, rate, b)
		}
	}
}

// startReplicas runs the first count replicas with the sender's limits at
// rate (0: lifted) and stops the others.
func startReplicas(ctx context.Context, st *stack, count, rate int) error {
	for i, r := range st.replicas {
		if err := r.stop(); err != nil {
			return err
		}
		if i >= count {
			continue
		}
		if _, err := st.startWithin(ctx, r, 90*time.Second, senderLimitEnv(rate)...); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
	}
	// Measure the steady state: a replica takes the lease of the bot's
	// limits once the last owner's expired or was released, then admits
	// nothing for a second (natslimit's cold start after a takeover).
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settleLimits):
	}
	return nil
}

// settleLimits is the lease's TTL (3 s) plus the cold start (1 s).
const settleLimits = 4 * time.Second

func scaleRow(res *result, n, count, rate int, b bulkRun) {
	perSec := float64(b.job.Sent) / b.elapsed.Seconds()
	if rate == 0 {
		res.table.Add(procrun.Row{
			Metric:   fmt.Sprintf("bulk to %d, limits lifted, %d NATS replica(s)", n, count),
			Measured: fmt.Sprintf("%.0f msg/s", perSec),
			Baseline: fmtD(b.elapsed),
			Status:   procrun.Info,
			Note: "CPU-bound here: the replicas, the emulator and the NATS server share 2 cores, so more replicas " +
				"add no capacity on this machine; " + b.cpu,
		})
		return
	}
	ideal := time.Duration(float64(n) / float64(rate) * float64(time.Second))
	factor := b.elapsed.Seconds() / ideal.Seconds()
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("bulk to %d at R=%d/s, %d NATS replica(s): completion", n, rate, count),
		Measured: fmtD(b.elapsed),
		Baseline: fmtD(ideal) + " ideal (N/R)",
		Compare:  fmt.Sprintf("%.3fx", factor),
		Goal:     fmt.Sprintf("<= %.2fx, 0 FLOOD_WAIT", goalScaleFactor),
		Status:   procrun.Check(factor <= goalScaleFactor && b.floods == 0 && b.job.Sent == n),
		Note: fmt.Sprintf("%d FLOOD_WAITs, %d sent, %d failed; one replica owns the bot's limits and admits "+
			"every replica's sends; %s", b.floods, b.job.Sent, b.job.Failed, b.cpu),
	})
}

// scaleLatency compares sequential send_message latency through a sender
// in NATS mode with one in bbolt mode (both with limits lifted).
func scaleLatency(ctx context.Context, st *stack, users []emuUser, res *result) {
	const metric = "send_message p50 / p99, NATS mode vs bbolt mode"
	if err := startReplicas(ctx, st, 1, 0); err != nil {
		errRow(res, metric, "", err)
		return
	}
	if _, err := st.restart(ctx, st.sender, senderLimitEnv(0)...); err != nil {
		errRow(res, metric, "", err)
		return
	}
	hc := procrun.NewClient(1, 30*time.Second)
	measure := func(url string) (p50, p99 time.Duration, err error) {
		n := min(500, st.opts.N)
		lat := make([]time.Duration, 0, n)
		for i := range n {
			in := map[string]any{"chat_id": users[i%len(users)].ID, "text": fmt.Sprintf("latency %d", i)}
			start := time.Now()
			if err := procrun.DoJSON(ctx, hc, http.MethodPost, url+"/api_v1/send_message", st.apiToken, in, nil); err != nil {
				return 0, 0, err
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return procrun.Percentile(lat, 50), procrun.Percentile(lat, 99), nil
	}
	n50, n99, err := measure(st.replicas[0].url())
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	b50, b99, err := measure(st.sender.url())
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	res.table.Add(procrun.Row{
		Metric:   metric,
		Measured: fmtD(n50) + " / " + fmtD(n99),
		Baseline: fmtD(b50) + " / " + fmtD(b99) + " bbolt",
		Compare:  fmtDiff(n50-b50) + " / " + fmtDiff(n99-b99),
		Status:   procrun.Info,
		Note: "one client, one request at a time; NATS mode reads the peer from tg_peers once, and asks the " +
			"limits' owner nothing here (one replica is the owner)",
	})
}
