package procrun

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Summary describes one load run: how many calls, how fast, how long each.
type Summary struct {
	// N is the number of calls that succeeded.
	N int
	// Errors counts the calls that failed; FirstError is the first of them.
	Errors     int
	FirstError error
	// Elapsed is the wall time of the whole run.
	Elapsed time.Duration
	// P50, P99 and Max are latencies of the successful calls.
	P50, P99, Max time.Duration
}

// Rate is successful calls per second over the whole run.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.N) / s.Elapsed.Seconds()
}

// String is a one-line human summary.
func (s Summary) String() string {
	return fmt.Sprintf("%d ok, %d errors in %s: %.0f/s, p50 %s, p99 %s, max %s",
		s.N, s.Errors, s.Elapsed.Round(time.Millisecond), s.Rate(),
		FormatDuration(s.P50), FormatDuration(s.P99), FormatDuration(s.Max))
}

// Summarize computes the percentiles of lat (which it sorts).
func Summarize(lat []time.Duration, errs int, firstErr error, elapsed time.Duration) Summary {
	slices.Sort(lat)
	s := Summary{N: len(lat), Errors: errs, FirstError: firstErr, Elapsed: elapsed}
	if len(lat) > 0 {
		s.P50 = Percentile(lat, 50)
		s.P99 = Percentile(lat, 99)
		s.Max = lat[len(lat)-1]
	}
	return s
}

// Percentile returns the p-th percentile (nearest rank) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// Run calls fn n times (i = 0..n-1) from concurrency goroutines and times
// each call. It stops early when ctx ends or timeout passes; calls not made
// by then count as errors, so a run is bounded in both count and time.
func Run(ctx context.Context, n, concurrency int, timeout time.Duration, fn func(ctx context.Context, i int) error) Summary {
	return RunPaced(ctx, n, concurrency, 0, timeout, fn)
}

// RunPaced is Run with call i starting no earlier than i/rate seconds after
// the start (rate <= 0: as fast as the goroutines go). It offers a steady
// load, so latencies measure the service at that rate rather than the
// queue of an overload; a call that falls behind its slot starts at once.
func RunPaced(ctx context.Context, n, concurrency int, rate float64, timeout time.Duration, fn func(ctx context.Context, i int) error) Summary {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	concurrency = max(1, min(concurrency, n))
	var (
		next     atomic.Int64
		mu       sync.Mutex
		all      = make([]time.Duration, 0, n)
		errs     int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, n/concurrency+1)
			var localErrs int
			var localFirst error
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				if rate > 0 {
					slot := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if d := time.Until(slot); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							continue // counted as not made
						}
					}
				}
				t := time.Now()
				if err := fn(ctx, i); err != nil {
					localErrs++
					if localFirst == nil {
						localFirst = fmt.Errorf("call %d: %w", i, err)
					}
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			all = append(all, local...)
			errs += localErrs
			if firstErr == nil {
				firstErr = localFirst
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if missing := n - len(all) - errs; missing > 0 {
		errs += missing
		if firstErr == nil {
			firstErr = fmt.Errorf("%d calls not made within %s: %w", missing, timeout, ctx.Err())
		}
	}
	return Summarize(all, errs, firstErr, elapsed)
}

// FormatDuration prints d in milliseconds with two decimals below 10 ms, so
// sub-millisecond differences stay visible.
func FormatDuration(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f s", ms/1000)
	}
}

// FormatBytes prints n in MiB with one decimal.
func FormatBytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
