package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// result is what one run produced: the table and what explains it.
type result struct {
	table    procrun.Table
	machine  procrun.Machine
	opts     Options
	notes    []string // facts about the run for the report
	profiles []profiled
	elapsed  time.Duration
	loadEnd  string // load average at the end
}

func (r *result) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Run starts the stack, runs every benchmark in order, prints the table to
// stdout and writes the report. A benchmark that fails becomes an ERROR row
// and the run goes on; Run returns an error only when the stack cannot be
// set up or the report cannot be written.
func Run(ctx context.Context, opts Options, stdout io.Writer) (*procrun.Table, error) {
	opts.setDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	start := time.Now()

	work := opts.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "tgbot-bench-")
		if err != nil {
			return nil, fmt.Errorf("work dir: %w", err)
		}
		work = dir
		if !opts.Keep {
			defer os.RemoveAll(dir)
		}
	}
	st, err := newStack(opts, work)
	if err != nil {
		return nil, err
	}
	res := &result{opts: opts, machine: procrun.DescribeMachine(".")}
	fmt.Fprintf(stdout, "bench: %s\nbench: work dir %s (service logs in %s)\n", res.machine, work, st.logDir)

	runErr := runAll(ctx, st, res, stdout)
	if err := st.close(); err != nil {
		res.note("Stopping the services: %v", err)
	}
	res.elapsed = time.Since(start)
	res.loadEnd = procrun.LoadAvg()
	if runErr != nil {
		return &res.table, runErr
	}

	fmt.Fprintln(stdout)
	if err := res.table.WriteText(stdout); err != nil {
		return &res.table, err
	}
	if opts.Out != "" {
		if err := writeReport(opts.Out, res); err != nil {
			return &res.table, err
		}
		fmt.Fprintf(stdout, "\nbench: wrote %s (%s)\n", opts.Out, res.elapsed.Round(time.Second))
	}
	return &res.table, nil
}

// runAll is the sequence: set-up errors end it, benchmark errors become rows.
func runAll(ctx context.Context, st *stack, res *result, stdout io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stdout, "bench: "+format+"\n", args...)
	}
	opts := st.opts
	if err := st.startEmulator(ctx); err != nil {
		return err
	}
	emu := &emuClient{base: st.emuHTTP, c: procrun.NewClient(opts.Concurrency*2, 10*time.Second), botID: st.botID()}
	users, err := emu.createUsers(ctx, opts.users(), opts.Concurrency)
	if err != nil {
		return err
	}
	logf("emulator up, %d users created", len(users))

	ds, err := startDownstream(st.whSecret)
	if err != nil {
		return err
	}
	defer ds.close()

	if st.sender, err = st.newSender(); err != nil {
		return err
	}
	if st.receiver, err = st.newReceiver(ds.url()); err != nil {
		return err
	}
	if err := benchStartup(ctx, st, res); err != nil {
		return err
	}
	logf("services up; start-up measured")
	idle := measureIdle(st, res)

	// Every recipient first writes to the bot, as real users start a bot
	// before it may message them; this also warms the receiver up.
	if err := startBot(ctx, emu, ds, users, opts.Concurrency); err != nil {
		return err
	}
	logf("%d users started the bot", len(users))

	benchReceiver(ctx, emu, ds, st, users, res, idle)
	benchCatchUp(ctx, emu, ds, st, users, res)
	benchOutage(ctx, emu, ds, st, users, res)
	benchReceiverNATS(ctx, emu, ds, st, users, res)
	logf("receiver load done")
	benchSend(ctx, st, users, res, idle)
	logf("send load done")
	benchBulk(ctx, emu, st, users, res)
	logf("bulk send done")
	benchScale(ctx, emu, st, users, res)
	logf("sender replicas on NATS done")
	benchDocument(ctx, st, users, res)
	logf("document upload done")
	benchManyBots(ctx, st, emu, users, opts.Bots, res)
	logf("many bots done")

	if which := toProfile(st.opts.Profile, &res.table); len(which) > 0 {
		// The processes are done with; the profiles run in-process.
		if err := st.close(); err != nil {
			res.note("Stopping the services: %v", err)
		}
		logf("recording CPU profiles of the %s load(s) in-process", strings.Join(which, " and "))
		profiles, err := profileLoads(ctx, st, which)
		if err != nil {
			res.note("CPU profiles: %v", err)
		}
		res.profiles = profiles
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench did not finish within %s: %w", opts.Timeout, err)
	}
	return nil
}

// toProfile says which loads to profile: those whose rows missed their goal
// (mode "auto"), both ("always") or none.
func toProfile(mode string, t *procrun.Table) []string {
	switch mode {
	case "always":
		return []string{"send", "receive"}
	case "never":
		return nil
	}
	var out []string
	for _, load := range []struct{ name, prefix string }{{"send", "send_message"}, {"receive", "receiver"}} {
		for _, r := range t.Misses() {
			if strings.HasPrefix(r.Metric, load.prefix) && !strings.Contains(r.Metric, "RSS") {
				out = append(out, load.name)
				break
			}
		}
	}
	return out
}

// startBot makes every user write to the bot and waits until the receiver
// delivered all of those messages.
func startBot(ctx context.Context, emu *emuClient, ds *downstream, users []emuUser, conc int) error {
	texts := make([]string, len(users))
	sum := procrun.Run(ctx, len(users), conc, 2*time.Minute, func(ctx context.Context, i int) error {
		texts[i] = fmt.Sprintf("hello from user %d", i)
		_, err := emu.push(ctx, users[i].ID, texts[i])
		return err
	})
	if sum.Errors > 0 {
		return fmt.Errorf("users write to the bot: %d failed: %w", sum.Errors, sum.FirstError)
	}
	if missing := ds.waitAll(ctx, texts, time.Minute); missing > 0 {
		return fmt.Errorf("receiver did not deliver %d of %d first messages within a minute", missing, len(texts))
	}
	return nil
}

// errRow turns err into an ERROR row unless the whole run is out of time.
func errRow(res *result, metric, goal string, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (the run's -timeout)", err)
	}
	res.table.Fail(metric, goal, err)
}
