package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// Goals of "many bots in one process".
const (
	goalBotsReady     = 5 * time.Second // all bots ready after a restart (saved sessions)
	goalRSSPerBot     = 2.0             // MB of resident memory per extra bot
	goalBotsRate      = 2000.0          // events/s spread over all bots
	goalIsolationP99x = 2.0             // a quiet bot's p99 with a noisy neighbour vs alone
)

// manyBots is one receiver process serving many bots: its own data dir and
// downstream, so the other benchmarks' state does not mix in.
type manyBots struct {
	st    *stack
	emu   *emuClient
	ds    *downstream
	users []emuUser
	ids   []int64
}

// botEmu is emu pushing to bot id.
func (mb *manyBots) botEmu(id int64) *emuClient {
	c := *mb.emu
	c.botID = id
	return &c
}

// benchManyBots starts a receiver with n bots (TG_BOT_TOKENS) and measures:
// the time until all are ready with saved sessions, the memory each extra
// bot costs, the receive rate spread over all of them, and how much a bot
// with a backlog to a failing downstream slows a quiet one.
func benchManyBots(ctx context.Context, st *stack, emu *emuClient, users []emuUser, n int, res *result) {
	const metric = "bots in one receiver"
	ds, err := startDownstream(st.whSecret)
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	defer ds.close()
	mb := &manyBots{st: st, emu: emu, ds: ds, users: users}
	var tokens []string
	for i := range n {
		id := int64(7_200_001 + i)
		if err := emu.do(ctx, http.MethodPost, "/v1/bots", map[string]any{"id": id}, nil); err != nil {
			errRow(res, metric, "", fmt.Errorf("create bot %d: %w", id, err))
			return
		}
		mb.ids = append(mb.ids, id)
		tokens = append(tokens, fmt.Sprintf("%d:bench-bot-%d", id, i))
	}

	// One bot, then n: the difference is what the extra bots cost.
	one, err := mb.receiver("receiver-1bot", tokens[:1])
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	rss1, err := mb.idleRSS(ctx, one)
	_ = one.stop()
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	many, err := mb.receiver("receiver-bots", tokens)
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	defer func() { _ = many.stop() }()
	// The first start logs every bot in: one auth key exchange each, which
	// costs CPU (RSA, DH) that n bots share.
	first, err := st.startWithin(ctx, many, readyTimeout+time.Duration(n)*time.Second)
	if err != nil {
		errRow(res, metric, "", fmt.Errorf("first start: %w", err))
		return
	}
	again, err := st.restart(ctx, many)
	if err != nil {
		errRow(res, metric, "", fmt.Errorf("restart: %w", err))
		return
	}
	res.table.Add(procrun.Row{
		Metric: fmt.Sprintf("%d bots in one receiver: ready after a restart", n), Measured: fmtD(again),
		Baseline: fmtD(first) + " first start (logins)", Goal: "< " + fmtD(goalBotsReady), Status: procrun.Check(again < goalBotsReady),
	})
	rssN, err := mb.idleRSS(ctx, many)
	if err != nil {
		errRow(res, metric, "", err)
		return
	}
	perBot := (rssN - rss1) / float64(n-1)
	res.table.Add(procrun.Row{
		Metric: fmt.Sprintf("%d bots in one receiver: RSS per extra bot", n), Measured: fmt.Sprintf("%.2f MB", perBot),
		Baseline: fmt.Sprintf("%.1f MB with 1 bot, %.1f MB with %d", rss1, rssN, n), Goal: fmt.Sprintf("<= %.1f MB", goalRSSPerBot),
		Status: procrun.Check(perBot <= goalRSSPerBot),
	})

	// Throughput spread over every bot.
	m := max(st.opts.M, 2*n)
	run := mb.push(ctx, "bots", m, st.opts.Concurrency*2, 0, func(i int) int64 { return mb.ids[i%n] })
	res.table.Add(procrun.Row{
		Metric: fmt.Sprintf("%d bots in one receiver: events/s over all bots", n), Measured: fmt.Sprintf("%.0f/s", run.Rate()),
		Baseline: fmt.Sprintf("%d events, %d missing", m, run.Errors), Goal: fmt.Sprintf(">= %.0f/s", goalBotsRate),
		Status: procrun.Check(run.Rate() >= goalBotsRate && run.Errors == 0), Note: errNote(run),
	})

	// Isolation: the quiet bot's latency alone, then while the noisy bot
	// has a backlog its downstream keeps refusing.
	quiet, noisy := mb.ids[0], mb.ids[1]
	k, rate := 200, 50.0
	if st.opts.Quick {
		k = 50
	}
	alone := mb.push(ctx, "quiet alone", k, 4, rate, func(int) int64 { return quiet })
	ds.failBot.Store(noisy)
	backlog := 10000
	if st.opts.Quick {
		backlog = 1000
	}
	b := mb.push(ctx, "noisy", backlog, st.opts.Concurrency*2, 0, func(int) int64 { return noisy })
	_ = b // its events fail until failBot is cleared; only the push matters
	busy := mb.push(ctx, "quiet busy", k, 4, rate, func(int) int64 { return quiet })
	ds.failBot.Store(0)
	ratio := 0.0
	if alone.P99 > 0 {
		ratio = float64(busy.P99) / float64(alone.P99)
	}
	measured, note := fmtD(busy.P99), ""
	if busy.Errors > 0 {
		measured = fmt.Sprintf("%d of %d not delivered within %s", busy.Errors, k, deliveryTimeout)
		note = "the failing backlog fills DRIVER_MAX_IN_MEMORY: later events of every bot wait on disk behind it"
	}
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("quiet bot p99 delivery while another has a %d-event failing backlog", backlog),
		Measured: measured, Baseline: fmtD(alone.P99) + " alone", Compare: fmt.Sprintf("%.2fx", ratio),
		Goal: fmt.Sprintf("<= %.1fx", goalIsolationP99x), Status: procrun.Check(ratio > 0 && ratio <= goalIsolationP99x && busy.Errors == 0),
		Note: note,
	})
	res.note("Many bots: %d bots (TG_BOT_TOKENS) in one receiver process with its own data dir and downstream; the RSS "+
		"per bot is (RSS with %d bots - RSS with 1) / %d, both idle after start. The isolation run pushes %d messages to one "+
		"bot at %.0f/s alone, then again after %d messages to another bot whose events the downstream refuses (503).",
		n, n, n-1, k, rate, backlog)
}

// receiver prepares a receiver process with tokens.
func (mb *manyBots) receiver(name string, tokens []string) (*service, error) {
	s, err := mb.st.newService("receiver", "RECEIVER_ADDR",
		"DRIVER=http",
		"DRIVER_HTTP_URL="+mb.ds.url(),
		"DRIVER_HTTP_SECRET="+mb.st.whSecret,
		"DRIVER_BACKOFF_INITIAL=200ms",
		"DRIVER_BACKOFF_MAX=2s",
		"TG_BOT_TOKENS="+strings.Join(tokens, ","),
	)
	if err != nil {
		return nil, err
	}
	s.name = name
	s.dataDir = s.dataDir + "-" + name
	for i, kv := range s.env {
		if strings.HasPrefix(kv, "TG_BOT_TOKEN=") {
			s.env[i] = "TG_BOT_TOKEN="
		}
		if strings.HasPrefix(kv, "DATA_DIR=") {
			s.env[i] = "DATA_DIR=" + s.dataDir
		}
	}
	return s, nil
}

// idleRSS starts s if needed and returns its resident memory in MB once
// it settled.
func (mb *manyBots) idleRSS(ctx context.Context, s *service) (float64, error) {
	if s.proc == nil {
		if _, err := mb.st.start(ctx, s); err != nil {
			return 0, err
		}
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	mem, err := s.memory()
	if err != nil {
		return 0, err
	}
	return float64(mem.RSS) / 1e6, nil
}

// push makes users write m messages to the bots bot(i) picks, from conc
// goroutines at rate/s (0: as fast as they go), and summarizes the
// delivery latency (Errors = messages that never arrived).
func (mb *manyBots) push(ctx context.Context, prefix string, m, conc int, rate float64, bot func(i int) int64) procrun.Summary {
	texts := make([]string, m)
	sent := make([]time.Time, m)
	for i := range texts {
		texts[i] = fmt.Sprintf("%s %d", prefix, i)
	}
	start := time.Now()
	procrun.RunPaced(ctx, m, conc, rate, loadTimeout, func(ctx context.Context, i int) error {
		sent[i] = time.Now()
		_, err := mb.botEmu(bot(i)).push(ctx, mb.users[i%len(mb.users)].ID, texts[i])
		return err
	})
	if prefix == "noisy" {
		return procrun.Summary{}
	}
	missing := mb.ds.waitAll(ctx, texts, deliveryTimeout)
	var lat []time.Duration
	var last time.Time
	for i, t := range texts {
		if a, ok := mb.ds.lookup(t); ok && !sent[i].IsZero() {
			lat = append(lat, a.at.Sub(sent[i]))
			if a.at.After(last) {
				last = a.at
			}
		}
	}
	return procrun.Summarize(lat, missing, nil, last.Sub(start))
}
