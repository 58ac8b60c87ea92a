package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// goalOutageRSS bounds the receiver's peak resident set while a long
// downstream outage piles events up in its outbox.
const goalOutageRSS = 150 << 20

// benchOutage restarts the receiver (a fresh VmHWM), takes the downstream
// down, has users write Outage messages, brings the downstream back and
// waits for every message: the receiver's peak RSS over all of it, and
// whether each chat got its messages in Telegram's order (by message ID).
func benchOutage(ctx context.Context, emu *emuClient, ds *downstream, st *stack, users []emuUser, res *result) {
	n := st.opts.Outage
	metric := fmt.Sprintf("receiver peak RSS, %d events during a downstream outage", n)
	goal := "<= " + mib(goalOutageRSS)
	if _, err := st.restart(ctx, st.receiver); err != nil {
		errRow(res, metric, goal, err)
		return
	}
	ds.down.Store(true)
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("outage %d", i)
	}
	// Bounded: about 1 ms a message on top of a load's usual bound.
	bound := loadTimeout + time.Duration(n)*time.Millisecond
	sampler := sampleMemory(ctx, st.receiver)
	start := time.Now()
	push := procrun.Run(ctx, n, st.opts.Concurrency*2, bound, func(ctx context.Context, i int) error {
		_, err := emu.push(ctx, users[i%len(users)].ID, texts[i])
		return err
	})
	pushed := time.Since(start)
	during, errDuring := st.receiver.memory()
	ds.down.Store(false)
	recovered := time.Now()
	missing := ds.waitAll(ctx, texts, deliveryTimeout+bound)
	drained := time.Since(recovered)
	after, err := st.receiver.memory()
	top := sampler()
	if err != nil || errDuring != nil {
		errRow(res, metric, goal, fmt.Errorf("receiver memory: %v %v", errDuring, err))
		return
	}
	disorder := outOfOrder(ds, users, texts)
	res.note("receiver outage: %d messages pushed in %s (%d push errors) while the downstream answered 503; "+
		"RSS at the end of the outage %s (%s anonymous, %s mapped files); downstream back: all delivered %s later, %d missing, "+
		"%d chats out of Telegram's order; peak RSS %s (largest sample every 100 ms: %s, %s anonymous, %s mapped files; "+
		"now %s: %s anonymous, %s mapped files, the bbolt database is mmapped)",
		push.N, fmtD(pushed), push.Errors, mib(during.RSS), mib(during.Anon), mib(during.File), fmtD(drained), missing,
		disorder, mib(after.Peak), mib(top.RSS), mib(top.Anon), mib(top.File), mib(after.RSS), mib(after.Anon), mib(after.File))
	res.table.Add(procrun.Row{
		Metric:   metric,
		Measured: mib(after.Peak),
		Baseline: fmt.Sprintf("%d missing, %d chats out of order", missing, disorder),
		Compare:  fmt.Sprintf("outage %s, drain %s", fmtD(pushed), fmtD(drained)),
		Goal:     goal,
		Status:   procrun.Check(after.Peak <= goalOutageRSS && missing == 0 && disorder == 0 && push.Errors == 0),
		Note:     errNote(push),
	})
}

// outOfOrder counts the chats whose messages arrived in another order than
// their Telegram message IDs.
func outOfOrder(ds *downstream, users []emuUser, texts []string) int {
	perChat := map[int64][]arrival{}
	for i, t := range texts {
		if a, ok := ds.lookup(t); ok {
			id := users[i%len(users)].ID
			perChat[id] = append(perChat[id], a)
		}
	}
	bad := 0
	for _, as := range perChat {
		sort.Slice(as, func(i, j int) bool { return as[i].messageID < as[j].messageID })
		for i := 1; i < len(as); i++ {
			if as[i].at.Before(as[i-1].at) {
				bad++
				break
			}
		}
	}
	return bad
}

// sampleMemory reads s's memory every 100 ms until the returned function is
// called, which returns the sample with the largest RSS: VmHWM says how high
// the resident set went, the sample says what it was made of.
func sampleMemory(ctx context.Context, s *service) func() procrun.Memory {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan procrun.Memory)
	go func() {
		var top procrun.Memory
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- top
				return
			case <-t.C:
			}
			if m, err := s.memory(); err == nil && m.RSS > top.RSS {
				top = m
			}
		}
	}()
	return func() procrun.Memory {
		cancel()
		return <-done
	}
}
