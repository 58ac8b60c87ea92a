package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// pushRun is one batch of user messages and what became of them.
type pushRun struct {
	push      procrun.Summary // the control API calls
	delivered procrun.Summary // push to delivery; Rate is over the whole batch
	missing   int             // not delivered within deliveryTimeout
	cpu       string
	cpuFrom   cpuSample
	cpuTo     cpuSample
	rpcs      string // the MTProto calls the emulator served meanwhile
}

// pushAndWait makes users write m messages (text prefix i) from conc
// goroutines, at rate messages/s (0: as fast as they go), and times each
// from the push to its signed delivery at the downstream.
func pushAndWait(ctx context.Context, st *stack, emu *emuClient, ds *downstream, users []emuUser, prefix string, m, conc int, rate float64) pushRun {
	texts := make([]string, m)
	sent := make([]time.Time, m)
	for i := range texts {
		texts[i] = fmt.Sprintf("%s %d", prefix, i)
	}
	var firstSent atomic.Int64
	var r pushRun
	before, errBefore := emu.stats(ctx)
	c0 := st.cpuNow()
	r.push = procrun.RunPaced(ctx, m, conc, rate, loadTimeout, func(ctx context.Context, i int) error {
		sent[i] = time.Now()
		firstSent.CompareAndSwap(0, sent[i].UnixNano())
		_, err := emu.push(ctx, users[i%len(users)].ID, texts[i])
		return err
	})
	r.missing = ds.waitAll(ctx, texts, deliveryTimeout)
	r.cpuFrom, r.cpuTo = c0, st.cpuNow()
	r.cpu = cpuUsage(r.cpuFrom, r.cpuTo)
	if after, err := emu.stats(ctx); err == nil && errBefore == nil {
		r.rpcs = rpcDiff(before, after)
	}
	var lat []time.Duration
	var last time.Time
	for i, t := range texts {
		a, ok := ds.lookup(t)
		if !ok || sent[i].IsZero() {
			continue
		}
		lat = append(lat, a.at.Sub(sent[i]))
		if a.at.After(last) {
			last = a.at
		}
	}
	r.delivered = procrun.Summarize(lat, r.missing, nil, last.Sub(time.Unix(0, firstSent.Load())))
	return r
}

// benchReceiver pushes M user messages from many users twice: as fast as
// the emulator takes them (events/s), then paced at the goal rate (latency
// from push to signed delivery at a load the goal says it must sustain).
func benchReceiver(ctx context.Context, emu *emuClient, ds *downstream, st *stack, users []emuUser, res *result, idle idleMemory) {
	m := st.opts.M
	conc := st.opts.Concurrency * 2
	fast := pushAndWait(ctx, st, emu, ds, users, "bench push", m, conc, 0)
	// The receiver's own histogram splits the paced latency: commit to the
	// outbox -> delivered is the receiver's; the rest is push -> commit.
	const hist = "receiver_delivery_latency_seconds"
	hc := procrun.NewClient(1, 5*time.Second)
	metrics := st.receiver.url() + "/metrics"
	before, errBefore := procrun.ScrapeHistogram(ctx, hc, metrics, hist)
	paced := pushAndWait(ctx, st, emu, ds, users, "bench paced push", m, conc, st.opts.PacedRate)
	split := ""
	if after, err := procrun.ScrapeHistogram(ctx, hc, metrics, hist); err == nil && errBefore == nil {
		split = fmt.Sprintf("of push to delivery, the receiver's commit to the outbox to delivery (%s) was p50 <= %s, p99 <= %s",
			hist, fmtSeconds(after.Quantile(before, 0.5)), fmtSeconds(after.Quantile(before, 0.99)))
		res.note("receiver, paced: %s", split)
	} else {
		res.note("receiver metrics: %v", errors.Join(errBefore, err))
	}
	loadMemoryRow(res, st.receiver, "receive load", idle.receiver)
	_, badSigs, badBody := ds.counters()
	res.note("receiver, as fast as possible: %d pushes from %d goroutines at %.0f/s (control API); delivered %s. %s. Emulator RPCs: %s",
		fast.push.N, conc, fast.push.Rate(), fast.delivered, fast.cpu, fast.rpcs)
	res.note("receiver, paced at %.0f/s: %d pushes at %.0f/s; delivered %s. %s. Emulator RPCs: %s",
		st.opts.PacedRate, paced.push.N, paced.push.Rate(), paced.delivered, paced.cpu, paced.rpcs)

	res.table.Add(procrun.Row{
		Metric:   "receiver events/s, push to signed delivery",
		Measured: fmt.Sprintf("%.0f/s", fast.delivered.Rate()),
		Baseline: fmt.Sprintf("%.0f/s", fast.push.Rate()),
		Compare:  "push rate (emulator)",
		Goal:     fmt.Sprintf(">= %.0f/s", goalEventsRate),
		Status:   procrun.Check(fast.delivered.Rate() >= goalEventsRate),
		Note: fmt.Sprintf("the rate cannot exceed the emulator's push rate (baseline column). CPU per event: %s, %d µs in all "+
			"(bench = pushing through the control API and the downstream), which caps the rate at %.0f/s on %d cores; see the receive profile",
			cpuPerCall(fast.cpuFrom, fast.cpuTo, fast.delivered.N, "receiver", "tgemu", "bench"),
			cpuTotalPerCall(fast.cpuFrom, fast.cpuTo, fast.delivered.N).Microseconds(),
			float64(runtime.NumCPU())/max(cpuTotalPerCall(fast.cpuFrom, fast.cpuTo, fast.delivered.N).Seconds(), 1e-9), runtime.NumCPU()),
	})
	offered := fmt.Sprintf("at %.0f/s offered", paced.push.Rate())
	res.table.Add(procrun.Row{
		Metric:   "receiver push to delivery p50",
		Measured: fmtD(paced.delivered.P50),
		Compare:  offered,
		Status:   procrun.Info,
	})
	res.table.Add(procrun.Row{
		Metric:   "receiver push to delivery p99",
		Measured: fmtD(paced.delivered.P99),
		Baseline: fmtD(fast.delivered.P99),
		Compare:  offered + "; baseline: as fast as possible",
		Goal:     "< " + fmtD(goalEventsP99),
		Status:   procrun.Check(paced.delivered.N > 0 && paced.delivered.P99 < goalEventsP99),
		Note: fmt.Sprintf("%s; meanwhile the bench's processes kept %.0f%% of the %d cores busy (%s), "+
			"so events also waited for a CPU", split, 100*busy(paced.cpuFrom, paced.cpuTo), runtime.NumCPU(), paced.cpu),
	})
	missing := fast.missing + paced.missing
	pushErrs := fast.push.Errors + paced.push.Errors
	note := errNote(fast.push)
	if note == "" {
		note = errNote(paced.push)
	}
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("receiver events lost or late > %s (of %d)", deliveryTimeout, 2*m),
		Measured: fmt.Sprint(missing),
		Baseline: fmt.Sprintf("%d push errors", pushErrs),
		Goal:     "0",
		Status:   procrun.Check(missing == 0 && pushErrs == 0 && badSigs == 0 && badBody == 0),
		Note:     note,
	})
}

// benchCatchUp stops the receiver, has users write M/2 messages meanwhile,
// starts it again and times how fast it delivers what it missed: the
// updates come through getDifference, not pushes.
func benchCatchUp(ctx context.Context, emu *emuClient, ds *downstream, st *stack, users []emuUser, res *result) {
	k := max(1, st.opts.M/2)
	metric := fmt.Sprintf("receiver catch-up after a restart (%d missed messages)", k)
	if err := st.receiver.stop(); err != nil {
		errRow(res, metric, "", err)
		return
	}
	texts := make([]string, k)
	push := procrun.Run(ctx, k, st.opts.Concurrency*2, loadTimeout, func(ctx context.Context, i int) error {
		texts[i] = fmt.Sprintf("missed while down %d", i)
		_, err := emu.push(ctx, users[i%len(users)].ID, texts[i])
		return err
	})
	if push.Errors > 0 {
		errRow(res, metric, "", fmt.Errorf("pushes while the receiver was down: %w", push.FirstError))
		return
	}
	start := time.Now()
	ready, err := st.start(ctx, st.receiver)
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	missing := ds.waitAll(ctx, texts, deliveryTimeout)
	var last time.Time
	for _, t := range texts {
		if a, ok := ds.lookup(t); ok && a.at.After(last) {
			last = a.at
		}
	}
	took := last.Sub(start)
	res.note("receiver catch-up: %d messages written while it was down; ready %s after its start, all delivered %s after it, %d missing",
		k, fmtD(ready), fmtD(took), missing)
	row := procrun.Row{
		Metric:   metric,
		Measured: fmt.Sprintf("%.0f events/s", float64(k-missing)/max(took.Seconds(), 1e-9)),
		Baseline: fmt.Sprintf("%d missing", missing),
		Compare:  "process start to last delivery: " + fmtD(took),
		Status:   procrun.Info,
	}
	if missing > 0 {
		row.Status = procrun.Miss
		row.Goal = "0 missing"
		row.Note = fmt.Sprintf("%d of the messages written while the receiver was down never arrived within %s", missing, deliveryTimeout)
	}
	res.table.Add(row)
}
