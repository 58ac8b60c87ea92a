package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

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
		res.table.Add(procrun.Row{
			Metric:   s.name + " start-up to /readyz (saved session)",
			Measured: fmtD(second),
			Baseline: fmtD(first),
			Compare:  "first start (bot login)",
			Goal:     "< " + fmtD(goalStartup),
			Status:   procrun.Check(second < goalStartup),
		})
	}
	return nil
}

// idleMemory is the services' memory right after start.
type idleMemory struct{ sender, receiver procrun.Memory }

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
		res.table.Add(procrun.Row{
			Metric:   metric,
			Measured: fmt.Sprintf("%s (%s)", mib(m.RSS), mib(m.Peak)),
			Goal:     "<= " + mib(goalIdleRSS),
			Status:   procrun.Check(m.RSS <= goalIdleRSS),
		})
	}
	return idle
}

// loadMemoryRow reads the service's memory after a load.
func loadMemoryRow(res *result, s *service, load string, idle procrun.Memory) {
	metric := fmt.Sprintf("%s peak RSS under %s (now)", s.name, load)
	m, err := s.memory()
	if err != nil {
		errRow(res, metric, "<= "+mib(goalLoadRSS), err)
		return
	}
	split := fmt.Sprintf("RSS %s = %s anonymous (heap, stacks) + %s mapped files (the bbolt database is mmapped)",
		mib(m.RSS), mib(m.Anon), mib(m.File))
	res.table.Add(procrun.Row{
		Metric:   metric,
		Measured: fmt.Sprintf("%s (%s)", mib(m.Peak), mib(m.RSS)),
		Baseline: mib(idle.RSS),
		Compare:  fmt.Sprintf("+%s over idle", mib(m.Peak-idle.RSS)),
		Goal:     "<= " + mib(goalLoadRSS),
		Status:   procrun.Check(m.Peak <= goalLoadRSS),
		Note:     split,
	})
	res.note("%s after the %s: %s", s.name, load, split)
}
