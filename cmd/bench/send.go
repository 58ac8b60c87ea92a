package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// benchSend sends N messages through the sender's REST API, the same N
// through the minimal HTTP gateway (same HTTP client, same concurrency) and
// the same N through a bare gotd client, same emulator.
// settleMax bounds the wait for idle services before each send run.
const settleMax = 30 * time.Second

func benchSend(ctx context.Context, st *stack, users []emuUser, res *result, idle idleMemory) {
	opts := st.opts
	hc := procrun.NewClient(opts.Concurrency, 30*time.Second)
	// Each of the three runs starts from idle services.
	settled := []time.Duration{st.settle(ctx, settleMax)}
	gw := httpSendLoad(ctx, st, hc, users, st.sender.url()+"/api_v1/send_message", st.apiToken, "sender", st.sender.name)
	loadMemoryRow(res, st.sender, "send load", idle.sender)
	res.note("send_message via the sender: %s. %s", gw.sum, gw.usage())

	settled = append(settled, st.settle(ctx, settleMax))
	mini, miniErr := benchMinimalGateway(ctx, st, hc, users)
	if miniErr == nil {
		res.note("send_message via the minimal Go HTTP gateway (net/http + encoding/json + the same gotd client setup; "+
			"no auth, validation, logging, metrics, idempotency or store; the users' access hashes handed to it in a file, "+
			"as the sender has them cached after a first send): %s. %s", mini.sum, mini.usage())
	}

	settled = append(settled, st.settle(ctx, settleMax))
	res.note("send runs started once the services were idle (under 0.1 core): waited %s before the sender's, "+
		"%s before the minimal gateway's, %s before the bare client's", settled[0].Round(time.Millisecond),
		settled[1].Round(time.Millisecond), settled[2].Round(time.Millisecond))
	var bare cpuRun
	warm := min(200, opts.N)
	err := st.withBareClient(ctx, func(ctx context.Context, api *tg.Client) error {
		procrun.Run(ctx, warm, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
			return bareSend(ctx, api, users[i%len(users)], fmt.Sprintf("bare warm-up %d", i))
		})
		bare.from = st.cpuNow()
		bare.sum = procrun.Run(ctx, opts.N, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
			return bareSend(ctx, api, users[i%len(users)], fmt.Sprintf("bare send %d", i))
		})
		bare.to = st.cpuNow()
		return nil
	})
	bare.label, bare.procs = "the bare client", []string{"bench", "tgemu", "receiver"}
	res.note("send_message via a bare gotd client: %s. %s (the bare client runs in the bench process)", bare.sum, bare.usage())

	const metric = "send_message msg/s, sender vs bare client"
	if err != nil {
		errRow(res, metric, fmt.Sprintf(">= %.1fx", goalRatio), err)
	} else {
		sendRows(res, gw, bare, metric, fmt.Sprintf(">= %.1fx", goalRatio), goalRatio, "", true)
	}
	const miniMetric = "send_message msg/s, sender vs minimal Go HTTP gateway"
	if miniErr != nil {
		errRow(res, miniMetric, fmt.Sprintf(">= %.2fx", goalMinimalRatio), miniErr)
	} else {
		sendRows(res, gw, mini, miniMetric, fmt.Sprintf(">= %.2fx", goalMinimalRatio), goalMinimalRatio, ", sender vs minimal gateway", false)
	}
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("send_message errors (of %d)", opts.N),
		Measured: fmt.Sprint(gw.sum.Errors),
		Baseline: fmt.Sprint(bare.sum.Errors),
		Goal:     "0",
		Status:   procrun.Check(gw.sum.Errors == 0),
		Note:     errNote(gw.sum),
	})
}

// httpSendLoad warms up, then sends N messages through the REST endpoint
// url from Concurrency clients of hc, sampling CPU around the measured part.
func httpSendLoad(ctx context.Context, st *stack, hc *http.Client, users []emuUser, url, token, label, proc string) cpuRun {
	opts := st.opts
	send := func(ctx context.Context, i int, prefix string) error {
		u := users[i%len(users)]
		in := map[string]any{"chat_id": u.ID, "text": fmt.Sprintf("%s %d", prefix, i)}
		return procrun.DoJSON(ctx, hc, http.MethodPost, url, token, in, nil)
	}
	warm := min(200, opts.N)
	procrun.Run(ctx, warm, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
		return send(ctx, i, label+" warm-up")
	})
	r := cpuRun{label: "the " + label, procs: []string{proc, "tgemu", "receiver", "bench"}}
	r.from = st.cpuNow()
	r.sum = procrun.Run(ctx, opts.N, opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
		return send(ctx, i, label+" send")
	})
	r.to = st.cpuNow()
	return r
}

// benchMinimalGateway starts the minimal gateway process, runs the send
// load through it and stops it.
func benchMinimalGateway(ctx context.Context, st *stack, hc *http.Client, users []emuUser) (cpuRun, error) {
	var err error
	if st.gateway, err = st.newMinimalGateway(users); err != nil {
		return cpuRun{}, err
	}
	if _, err := st.start(ctx, st.gateway); err != nil {
		_ = st.gateway.stop()
		return cpuRun{}, err
	}
	r := httpSendLoad(ctx, st, hc, users, st.gateway.url()+"/send_message", "", "minimal gateway", minimalGatewayName)
	if err := st.gateway.stop(); err != nil {
		return r, err
	}
	if r.sum.Errors > 0 {
		// Failed calls would flatter the sender: no ratio then.
		return r, fmt.Errorf("%d of %d sends failed: %w", r.sum.Errors, st.opts.N, r.sum.FirstError)
	}
	return r, nil
}

// sendRows adds the throughput row of the sender against a baseline and
// the p50 and p99 latency rows (suffix tells them apart; p99Goal gives the
// p99 row the added-latency goal).
func sendRows(res *result, gw, base cpuRun, metric, goal string, minRatio float64, suffix string, p99Goal bool) {
	ratio := 0.0
	if base.sum.Rate() > 0 {
		ratio = gw.sum.Rate() / base.sum.Rate()
	}
	res.table.Add(procrun.Row{
		Metric:   metric,
		Measured: fmt.Sprintf("%.0f/s", gw.sum.Rate()),
		Baseline: fmt.Sprintf("%.0f/s", base.sum.Rate()),
		Compare:  fmt.Sprintf("%.2fx", ratio),
		Goal:     goal,
		Status:   procrun.Check(ratio >= minRatio && gw.sum.Errors == 0),
		Note:     cpuBoundNote(gw, base, ratio),
	})
	res.table.Add(procrun.Row{
		Metric:   "send_message p50 latency" + suffix,
		Measured: fmtD(gw.sum.P50),
		Baseline: fmtD(base.sum.P50),
		Compare:  fmtDiff(gw.sum.P50 - base.sum.P50),
		Status:   procrun.Info,
	})
	added := gw.sum.P99 - base.sum.P99
	p99 := procrun.Row{
		Metric:   "send_message p99 latency" + suffix,
		Measured: fmtD(gw.sum.P99),
		Baseline: fmtD(base.sum.P99),
		Compare:  fmtDiff(added),
		Status:   procrun.Info,
	}
	if p99Goal {
		p99.Goal = "added <= " + fmtD(goalAddedP99)
		p99.Status = procrun.Check(added <= goalAddedP99)
	}
	res.table.Add(p99)
}

func errNote(s procrun.Summary) string {
	if s.FirstError == nil {
		return ""
	}
	return "first error: " + s.FirstError.Error()
}

// cpuRun is one measured load and the CPU the processes used around it.
type cpuRun struct {
	sum      procrun.Summary
	from, to cpuSample
	label    string   // "the sender", "the bare client", ...
	procs    []string // processes of its CPU per message, in order
}

func (r cpuRun) usage() string { return cpuUsage(r.from, r.to) }

// cpuBoundNote explains a throughput ratio by CPU: every process of the run
// shares the machine's cores, so the rate cannot exceed cores / (CPU all
// processes spend per message), and the ratio of those ceilings is what the
// gateway's own CPU per message allows. When the measured ratio falls well
// short of it, the calls waited for something other than this run's CPU
// (other work on the machine, stalls in the gateway), and the note says so.
func cpuBoundNote(gw, base cpuRun, ratio float64) string {
	gwAll := cpuTotalPerCall(gw.from, gw.to, gw.sum.N)
	baseAll := cpuTotalPerCall(base.from, base.to, base.sum.N)
	if gwAll <= 0 || baseAll <= 0 {
		return "CPU per message could not be measured"
	}
	cores := float64(runtime.NumCPU())
	gwCeil := cores / gwAll.Seconds()
	baseCeil := cores / baseAll.Seconds()
	ceilRatio := gwCeil / baseCeil
	why := fmt.Sprintf("follows the CPU %s adds per message over %s, see the send profile", gw.label, base.label)
	if ratio < ceilRatio-cpuNoteSlack {
		why = fmt.Sprintf("is below that, so the calls through %s waited for more than this run's CPU: its processes kept "+
			"%.0f%% of the cores busy (%.0f%% with %s); other work on the machine or stalls in %s (compare the p99 rows) "+
			"made up the rest", gw.label, 100*busy(gw.from, gw.to), 100*busy(base.from, base.to), base.label, gw.label)
	}
	return fmt.Sprintf("CPU per message through %s: %s (%d µs in all); through %s: %s (%d µs in all). "+
		"On %.0f cores shared by all of them that caps the rates at %.0f/s and %.0f/s, a ratio of %.2fx: the measured %.2fx %s",
		gw.label, cpuPerCall(gw.from, gw.to, gw.sum.N, gw.procs...), gwAll.Microseconds(),
		base.label, cpuPerCall(base.from, base.to, base.sum.N, base.procs...), baseAll.Microseconds(),
		cores, gwCeil, baseCeil, ceilRatio, ratio, why)
}

// cpuNoteSlack is how far below the CPU ceilings' ratio a measured ratio
// may fall and still count as explained by CPU.
const cpuNoteSlack = 0.1
