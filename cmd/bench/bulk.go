package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// jobStatus is the part of GET /api_v1/jobs/{id} the bench reads.
type jobStatus struct {
	ID         string     `json:"job_id"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Sent       int        `json:"sent"`
	Failed     int        `json:"failed"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// finished reports whether the job has stopped working.
func (j jobStatus) finished() bool { return j.Status == "done" }

// benchBulk sends one text to Bulk recipients with the emulator enforcing
// R/s overall and 1/s per chat and the sender configured to R, and compares
// the completion time with the ideal Bulk/R. When the emulator had to
// refuse sends, it runs again with the sender 2% under R, to show whether
// a margin is what is missing.
func benchBulk(ctx context.Context, emu *emuClient, st *stack, users []emuUser, res *result) {
	n, rate := st.opts.Bulk, st.opts.BulkRate
	ideal := time.Duration(float64(n) / float64(rate) * float64(time.Second))
	metric := fmt.Sprintf("bulk send to %d at R=%d/s: completion", n, rate)
	goal := fmt.Sprintf("<= %.2fx ideal", goalBulkFactor)
	defer func() {
		// Back to no limits for what follows, whatever happened.
		if err := emu.setLimits(context.WithoutCancel(ctx), emuLimits{}); err != nil {
			res.note("Resetting the emulator's limits: %v", err)
		}
	}()
	b, err := bulk(ctx, emu, st, users[:n], rate)
	if err != nil {
		errRow(res, metric, goal, err)
		return
	}
	res.note("bulk job at R=%d/s: %s", rate, b)
	factor := b.elapsed.Seconds() / ideal.Seconds()
	res.table.Add(procrun.Row{
		Metric:   metric,
		Measured: fmtD(b.elapsed),
		Baseline: fmtD(ideal) + " ideal",
		Compare:  fmt.Sprintf("%.3fx", factor),
		Goal:     goal,
		Status:   procrun.Check(factor <= goalBulkFactor),
		Note: fmt.Sprintf("%.0f/s on average against R=%d/s. With a token bucket of burst 1 (SENDER_RATE_BURST) sends are spaced 1/R "+
			"apart and time lost to a pause (GC, waiting for a CPU on a busy machine, a slow reply with every worker busy) is "+
			"never made up; %s", float64(b.job.Sent)/b.elapsed.Seconds(), rate, b.cpu),
	})
	res.table.Add(procrun.Row{
		Metric:   "bulk send FLOOD_WAITs issued by the emulator",
		Measured: fmt.Sprint(b.floods),
		Goal:     "0",
		Status:   procrun.Check(b.floods == 0),
		Note: "the emulator counts a 1 s sliding window of exactly R sends; token-bucket sends leave the sender " +
			"1/R apart but reach the emulator with jitter, so any bunching puts R+1 in some window",
	})
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("bulk send recipients failed (of %d)", n),
		Measured: fmt.Sprint(b.job.Failed),
		Baseline: fmt.Sprintf("%d sent", b.job.Sent),
		Goal:     "0",
		Status:   procrun.Check(b.job.Failed == 0 && b.job.Sent == n),
	})
	if b.floods == 0 {
		return
	}
	margin := rate * 98 / 100
	m, err := bulk(ctx, emu, st, users[:n], margin)
	if err != nil {
		res.note("bulk with the sender at %d/s: %v", margin, err)
		return
	}
	res.note("bulk job with the sender at %d/s (emulator still at %d/s): %s", margin, rate, m)
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("bulk diagnostic: sender at 0.98R=%d/s, FLOOD_WAITs", margin),
		Measured: fmt.Sprint(m.floods),
		Baseline: fmt.Sprintf("%d at R", b.floods),
		Compare:  fmt.Sprintf("completion %.3fx ideal", m.elapsed.Seconds()/ideal.Seconds()),
		Status:   procrun.Info,
	})
}

// bulkRun is one bulk job's outcome.
type bulkRun struct {
	job     jobStatus
	elapsed time.Duration // POST to the poll that saw it done
	floods  int           // FLOOD_WAITs the emulator issued meanwhile
	cpu     string
}

func (b bulkRun) String() string {
	s := fmt.Sprintf("%d sent, %d failed, %d FLOOD_WAITs; %s from POST to done as polled", b.job.Sent, b.job.Failed, b.floods, fmtD(b.elapsed))
	if b.job.FinishedAt != nil {
		s += fmt.Sprintf(", %s created_at to finished_at as the sender recorded", fmtD(b.job.FinishedAt.Sub(b.job.CreatedAt)))
	}
	return s + ". " + b.cpu
}

// bulk restarts the sender limited to senderRate/s, has the emulator
// enforce R/s and 1/s per chat, and sends one text to users as a job.
func bulk(ctx context.Context, emu *emuClient, st *stack, users []emuUser, senderRate int) (bulkRun, error) {
	var b bulkRun
	rate := st.opts.BulkRate
	d, err := st.restart(ctx, st.sender, senderLimitEnv(senderRate)...)
	if err != nil {
		return b, fmt.Errorf("restart sender with %d/s: %w", senderRate, err)
	}
	res := fmt.Sprintf("sender restarted with %d/s in %s", senderRate, fmtD(d))
	if err := emu.setLimits(ctx, emuLimits{GlobalPerSecond: rate, PerChatPerSecond: 1}); err != nil {
		return b, fmt.Errorf("emulator limits: %w", err)
	}
	b, err = runJob(ctx, emu, st, st.sender.url(), users, senderRate)
	b.cpu = res + "; " + b.cpu
	return b, err
}

// runJob sends one text to users as a job through the sender at url and
// waits for it to be done; senderRate (0: none) bounds the wait.
func runJob(ctx context.Context, emu *emuClient, st *stack, url string, users []emuUser, senderRate int) (bulkRun, error) {
	var b bulkRun
	before, err := emu.stats(ctx)
	if err != nil {
		return b, fmt.Errorf("emulator stats: %w", err)
	}
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	hc := procrun.NewClient(2, 30*time.Second)
	base := url + "/api_v1"
	ideal := time.Minute
	if senderRate > 0 {
		ideal = time.Duration(float64(len(users)) / float64(senderRate) * float64(time.Second))
	}
	c0 := st.cpuNow()
	start := time.Now()
	in := map[string]any{"chat_ids": ids, "text": "bench bulk message", "async": true}
	if err := procrun.DoJSON(ctx, hc, http.MethodPost, base+"/send_multiple_message", st.apiToken, in, &b.job); err != nil {
		return b, fmt.Errorf("send_multiple_message: %w", err)
	}
	if b.job.ID == "" {
		return b, errors.New("send_multiple_message: no job_id in the answer")
	}
	deadline := time.Now().Add(3*ideal + 30*time.Second)
	for !b.job.finished() {
		if time.Now().After(deadline) {
			return b, fmt.Errorf("job %s not done after %s: %+v", b.job.ID, time.Since(start).Round(time.Second), b.job)
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if err := procrun.DoJSON(ctx, hc, http.MethodGet, base+"/jobs/"+b.job.ID+"?limit=0", st.apiToken, nil, &b.job); err != nil {
			return b, fmt.Errorf("job status: %w", err)
		}
	}
	b.elapsed = time.Since(start)
	b.cpu = cpuUsage(c0, st.cpuNow())
	after, err := emu.stats(ctx)
	if err != nil {
		return b, fmt.Errorf("emulator stats: %w", err)
	}
	b.floods = after.FloodWaits - before.FloodWaits
	return b, nil
}
