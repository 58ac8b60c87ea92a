package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/benchutil"
)

// benchSend sends N messages through the sender's REST API and the same N
// through a bare gotd client, same concurrency, same emulator.
func benchSend(ctx context.Context, st *stack, users []emuUser, res *result, idle idleMemory) {
	opts := st.opts
	hc := benchutil.NewClient(opts.Concurrency, 30*time.Second)
	url := st.sender.url() + "/api_v1/send_message"
	viaSender := func(ctx context.Context, i int, prefix string) error {
		u := users[i%len(users)]
		in := map[string]any{"chat_id": u.ID, "text": fmt.Sprintf("%s %d", prefix, i)}
		return benchutil.DoJSON(ctx, hc, http.MethodPost, url, st.apiToken, in, nil)
	}
	warm := min(200, opts.N)
	benchutil.Run(ctx, warm, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
		return viaSender(ctx, i, "warm-up")
	})
	g0 := st.cpuNow()
	gw := benchutil.Run(ctx, opts.N, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
		return viaSender(ctx, i, "bench send")
	})
	g1 := st.cpuNow()
	gwCPU := cpuUsage(g0, g1)
	loadMemoryRow(res, st.sender, "send load", idle.sender)

	var bare benchutil.Summary
	var bareCPU string
	var b0, b1 cpuSample
	err := st.withBareClient(ctx, func(ctx context.Context, api *tg.Client) error {
		benchutil.Run(ctx, warm, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
			return bareSend(ctx, api, users[i%len(users)], fmt.Sprintf("bare warm-up %d", i))
		})
		b0 = st.cpuNow()
		bare = benchutil.Run(ctx, opts.N, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
			return bareSend(ctx, api, users[i%len(users)], fmt.Sprintf("bare send %d", i))
		})
		b1 = st.cpuNow()
		bareCPU = cpuUsage(b0, b1)
		return nil
	})
	res.note("send_message via the sender: %s. %s", gw, gwCPU)
	res.note("send_message via a bare gotd client: %s. %s (the bare client runs in the bench process)", bare, bareCPU)

	const metric = "send_message msg/s, sender vs bare client"
	if err != nil {
		errRow(res, metric, fmt.Sprintf(">= %.1fx", goalRatio), err)
		return
	}
	ratio := 0.0
	if bare.Rate() > 0 {
		ratio = gw.Rate() / bare.Rate()
	}
	res.table.Add(benchutil.Row{
		Metric:   metric,
		Measured: fmt.Sprintf("%.0f/s", gw.Rate()),
		Baseline: fmt.Sprintf("%.0f/s", bare.Rate()),
		Compare:  fmt.Sprintf("%.2fx", ratio),
		Goal:     fmt.Sprintf(">= %.1fx", goalRatio),
		Status:   benchutil.Check(ratio >= goalRatio && gw.Errors == 0),
		Note:     cpuBoundNote(g0, g1, gw.N, b0, b1, bare.N, ratio),
	})
	res.table.Add(benchutil.Row{
		Metric:   "send_message p50 latency",
		Measured: fmtD(gw.P50),
		Baseline: fmtD(bare.P50),
		Compare:  fmtDiff(gw.P50 - bare.P50),
		Status:   benchutil.Info,
	})
	added := gw.P99 - bare.P99
	res.table.Add(benchutil.Row{
		Metric:   "send_message p99 latency",
		Measured: fmtD(gw.P99),
		Baseline: fmtD(bare.P99),
		Compare:  fmtDiff(added),
		Goal:     "added <= " + fmtD(goalAddedP99),
		Status:   benchutil.Check(added <= goalAddedP99),
	})
	res.table.Add(benchutil.Row{
		Metric:   fmt.Sprintf("send_message errors (of %d)", opts.N),
		Measured: fmt.Sprint(gw.Errors),
		Baseline: fmt.Sprint(bare.Errors),
		Goal:     "0",
		Status:   benchutil.Check(gw.Errors == 0),
		Note:     errNote(gw),
	})
}

func errNote(s benchutil.Summary) string {
	if s.FirstError == nil {
		return ""
	}
	return "first error: " + s.FirstError.Error()
}

// cpuBoundNote explains a throughput ratio by CPU: every process of the run
// shares the machine's cores, so the rate cannot exceed cores / (CPU all
// processes spend per message), and the ratio of those ceilings is what the
// gateway's own CPU per message allows.
func cpuBoundNote(g0, g1 cpuSample, gwN int, b0, b1 cpuSample, bareN int, ratio float64) string {
	gwAll := cpuTotalPerCall(g0, g1, gwN)
	bareAll := cpuTotalPerCall(b0, b1, bareN)
	if gwAll <= 0 || bareAll <= 0 {
		return "CPU per message could not be measured"
	}
	cores := float64(runtime.NumCPU())
	gwCeil := cores / gwAll.Seconds()
	bareCeil := cores / bareAll.Seconds()
	return fmt.Sprintf("CPU per message through the sender: %s (%d µs in all); through the bare client: %s (%d µs in all). "+
		"On %.0f cores shared by all of them that caps the rates at %.0f/s and %.0f/s, a ratio of %.2fx: the measured %.2fx "+
		"follows the CPU the gateway adds per message (its own process plus the HTTP client), see the send profile",
		cpuPerCall(g0, g1, gwN, "sender", "tgemu", "receiver", "bench"), gwAll.Microseconds(),
		cpuPerCall(b0, b1, bareN, "bench", "tgemu", "receiver"), bareAll.Microseconds(),
		cores, gwCeil, bareCeil, gwCeil/bareCeil, ratio)
}
