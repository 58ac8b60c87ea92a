package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/benchutil"
)

// Goals of the table.
const (
	goalRatio       = 0.8
	goalAddedP99    = 2 * time.Millisecond
	goalBulkFactor  = 1.05
	goalEventsRate  = 2000.0
	goalEventsP99   = 50 * time.Millisecond
	goalIdleRSS     = 30 << 20
	goalLoadRSS     = 100 << 20
	goalStartup     = time.Second
	loadTimeout     = 90 * time.Second
	deliveryTimeout = 30 * time.Second
)

var (
	fmtD = benchutil.FormatDuration
	fmtB = benchutil.FormatBytes
)

func mib(n int64) string { return fmtB(n) }

// fmtDiff prints a signed difference of durations.
func fmtDiff(d time.Duration) string {
	if d < 0 {
		return "-" + fmtD(-d)
	}
	return "+" + fmtD(d)
}

// fmtSeconds prints a histogram bound given in seconds.
func fmtSeconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Sprint(s)
	}
	return fmtD(time.Duration(s * float64(time.Second)))
}

// benchStartup starts both services once (they log in and save their
// sessions), stops them and measures the second start: process start to
// /readyz 200 with a saved session.
func benchStartup(ctx context.Context, st *stack, res *result) error {
	for _, s := range []*service{st.sender, st.receiver} {
		extra := []string(nil)
		if s == st.sender {
			extra = senderLimitEnv(0)
		}
		first, err := st.start(ctx, s, extra...)
		if err != nil {
			return err
		}
		second, err := st.restart(ctx, s, extra...)
		if err != nil {
			return err
		}
		res.table.Add(benchutil.Row{
			Metric:   s.name + " start-up to /readyz (saved session)",
			Measured: fmtD(second),
			Baseline: fmtD(first),
			Compare:  "first start (bot login)",
			Goal:     "< " + fmtD(goalStartup),
			Status:   benchutil.Check(second < goalStartup),
		})
	}
	return nil
}

// idleMemory is the services' memory right after start.
type idleMemory struct{ sender, receiver benchutil.Memory }

// measureIdle lets the services settle and reads their memory.
func measureIdle(st *stack, res *result) idleMemory {
	time.Sleep(time.Second)
	var idle idleMemory
	for _, s := range []*service{st.sender, st.receiver} {
		m, err := s.memory()
		metric := s.name + " RSS idle (peak so far)"
		if err != nil {
			errRow(res, metric, "<= "+mib(goalIdleRSS), err)
			continue
		}
		if s == st.sender {
			idle.sender = m
		} else {
			idle.receiver = m
		}
		res.table.Add(benchutil.Row{
			Metric:   metric,
			Measured: fmt.Sprintf("%s (%s)", mib(m.RSS), mib(m.Peak)),
			Goal:     "<= " + mib(goalIdleRSS),
			Status:   benchutil.Check(m.RSS <= goalIdleRSS),
		})
	}
	return idle
}

// loadMemoryRow reads the service's memory after a load.
func loadMemoryRow(res *result, s *service, load string, idle benchutil.Memory) {
	metric := fmt.Sprintf("%s peak RSS under %s (now)", s.name, load)
	m, err := s.memory()
	if err != nil {
		errRow(res, metric, "<= "+mib(goalLoadRSS), err)
		return
	}
	split := fmt.Sprintf("RSS %s = %s anonymous (heap, stacks) + %s mapped files (the bbolt database is mmapped)",
		mib(m.RSS), mib(m.Anon), mib(m.File))
	res.table.Add(benchutil.Row{
		Metric:   metric,
		Measured: fmt.Sprintf("%s (%s)", mib(m.Peak), mib(m.RSS)),
		Baseline: mib(idle.RSS),
		Compare:  fmt.Sprintf("+%s over idle", mib(m.Peak-idle.RSS)),
		Goal:     "<= " + mib(goalLoadRSS),
		Status:   benchutil.Check(m.Peak <= goalLoadRSS),
		Note:     split,
	})
	res.note("%s after the %s: %s", s.name, load, split)
}

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
		Note: fmt.Sprintf("CPU per message through the sender: %s; through the bare client: %s. "+
			"All of it comes from the same 2 cores, so the gateway's extra CPU per message is what lowers its rate; see the send profile",
			cpuPerCall(g0, g1, gw.N, "sender", "tgemu", "receiver", "bench"),
			cpuPerCall(b0, b1, bare.N, "bench", "tgemu", "receiver")),
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

// pushRun is one batch of user messages and what became of them.
type pushRun struct {
	push      benchutil.Summary // the control API calls
	delivered benchutil.Summary // push to delivery; Rate is over the whole batch
	missing   int               // not delivered within deliveryTimeout
	cpu       string
	cpuFrom   cpuSample
	cpuTo     cpuSample
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
	c0 := st.cpuNow()
	var r pushRun
	r.push = benchutil.RunPaced(ctx, m, conc, rate, loadTimeout, func(ctx context.Context, i int) error {
		sent[i] = time.Now()
		firstSent.CompareAndSwap(0, sent[i].UnixNano())
		_, err := emu.push(ctx, users[i%len(users)].ID, texts[i])
		return err
	})
	r.missing = ds.waitAll(ctx, texts, deliveryTimeout)
	r.cpuFrom, r.cpuTo = c0, st.cpuNow()
	r.cpu = cpuUsage(r.cpuFrom, r.cpuTo)
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
	r.delivered = benchutil.Summarize(lat, r.missing, nil, last.Sub(time.Unix(0, firstSent.Load())))
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
	hc := benchutil.NewClient(1, 5*time.Second)
	metrics := st.receiver.url() + "/metrics"
	before, errBefore := benchutil.ScrapeHistogram(ctx, hc, metrics, hist)
	paced := pushAndWait(ctx, st, emu, ds, users, "bench paced push", m, conc, goalEventsRate)
	split := ""
	if after, err := benchutil.ScrapeHistogram(ctx, hc, metrics, hist); err == nil && errBefore == nil {
		split = fmt.Sprintf("of push to delivery, the receiver's commit to the outbox to delivery (%s) was p50 <= %s, p99 <= %s",
			hist, fmtSeconds(after.Quantile(before, 0.5)), fmtSeconds(after.Quantile(before, 0.99)))
		res.note("receiver, paced: %s", split)
	} else {
		res.note("receiver metrics: %v", errors.Join(errBefore, err))
	}
	loadMemoryRow(res, st.receiver, "receive load", idle.receiver)
	_, badSigs, badBody := ds.counters()
	res.note("receiver, as fast as possible: %d pushes from %d goroutines at %.0f/s (control API); delivered %s. %s",
		fast.push.N, conc, fast.push.Rate(), fast.delivered, fast.cpu)
	res.note("receiver, paced at %.0f/s: %d pushes at %.0f/s; delivered %s. %s",
		goalEventsRate, paced.push.N, paced.push.Rate(), paced.delivered, paced.cpu)

	res.table.Add(benchutil.Row{
		Metric:   "receiver events/s, push to signed delivery",
		Measured: fmt.Sprintf("%.0f/s", fast.delivered.Rate()),
		Baseline: fmt.Sprintf("%.0f/s", fast.push.Rate()),
		Compare:  "push rate (emulator)",
		Goal:     fmt.Sprintf(">= %.0f/s", goalEventsRate),
		Status:   benchutil.Check(fast.delivered.Rate() >= goalEventsRate),
		Note: fmt.Sprintf("the rate cannot exceed the emulator's push rate (baseline column). CPU per event: %s "+
			"(bench = pushing through the control API and the downstream); see the receive profile",
			cpuPerCall(fast.cpuFrom, fast.cpuTo, fast.delivered.N, "receiver", "tgemu", "bench")),
	})
	offered := fmt.Sprintf("at %.0f/s offered", paced.push.Rate())
	res.table.Add(benchutil.Row{
		Metric:   "receiver push to delivery p50",
		Measured: fmtD(paced.delivered.P50),
		Compare:  offered,
		Status:   benchutil.Info,
	})
	res.table.Add(benchutil.Row{
		Metric:   "receiver push to delivery p99",
		Measured: fmtD(paced.delivered.P99),
		Baseline: fmtD(fast.delivered.P99),
		Compare:  offered + "; baseline: as fast as possible",
		Goal:     "< " + fmtD(goalEventsP99),
		Status:   benchutil.Check(paced.delivered.N > 0 && paced.delivered.P99 < goalEventsP99),
		Note:     split,
	})
	missing := fast.missing + paced.missing
	pushErrs := fast.push.Errors + paced.push.Errors
	note := errNote(fast.push)
	if note == "" {
		note = errNote(paced.push)
	}
	res.table.Add(benchutil.Row{
		Metric:   fmt.Sprintf("receiver events lost or late > %s (of %d)", deliveryTimeout, 2*m),
		Measured: fmt.Sprint(missing),
		Baseline: fmt.Sprintf("%d push errors", pushErrs),
		Goal:     "0",
		Status:   benchutil.Check(missing == 0 && pushErrs == 0 && badSigs == 0 && badBody == 0),
		Note:     note,
	})
}
