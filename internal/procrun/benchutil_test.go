package procrun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(100-i) * time.Millisecond
	}
	s := Summarize(lat, 0, nil, time.Second)
	require.Equal(t, 50*time.Millisecond, s.P50)
	require.Equal(t, 99*time.Millisecond, s.P99)
	require.Equal(t, 100*time.Millisecond, s.Max)
	require.InDelta(t, 100.0, s.Rate(), 0.001)
	require.Equal(t, time.Duration(0), Percentile(nil, 99))
}

func TestRunCountsEveryCall(t *testing.T) {
	var calls atomic.Int64
	s := Run(context.Background(), 1000, 8, 10*time.Second, func(ctx context.Context, i int) error {
		calls.Add(1)
		if i%100 == 0 {
			return errors.New("boom")
		}
		return nil
	})
	require.EqualValues(t, 1000, calls.Load())
	require.Equal(t, 990, s.N)
	require.Equal(t, 10, s.Errors)
	require.ErrorContains(t, s.FirstError, "boom")
}

func TestRunStopsAtTimeout(t *testing.T) {
	start := time.Now()
	s := Run(context.Background(), 1_000_000, 4, 100*time.Millisecond, func(ctx context.Context, i int) error {
		select {
		case <-time.After(time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, 1_000_000, s.N+s.Errors)
	require.Positive(t, s.N)
	require.Error(t, s.FirstError)
}

func TestRunPaced(t *testing.T) {
	var calls atomic.Int64
	start := time.Now()
	s := RunPaced(context.Background(), 50, 8, 200, 10*time.Second, func(ctx context.Context, i int) error {
		calls.Add(1)
		return nil
	})
	elapsed := time.Since(start)
	require.EqualValues(t, 50, calls.Load())
	require.Equal(t, 50, s.N)
	// 50 calls at 200/s: the last one starts 245 ms after the first.
	require.GreaterOrEqual(t, elapsed, 240*time.Millisecond)
	require.Less(t, elapsed, 5*time.Second)
}

func TestTable(t *testing.T) {
	var tb Table
	tb.Add(Row{Metric: "send msg/s", Measured: "900", Baseline: "1000", Compare: "0.90x", Goal: ">= 0.8x", Status: Check(true)})
	tb.Add(Row{Metric: "p99 | added", Measured: "3 ms", Goal: "<= 2 ms", Status: Check(false), Note: "slow"})
	tb.Fail("bulk", "<= 1.05x", errors.New("no job"))
	var txt, md bytes.Buffer
	require.NoError(t, tb.WriteText(&txt))
	require.NoError(t, tb.WriteMarkdown(&md))
	lines := strings.Split(strings.TrimSpace(txt.String()), "\n")
	require.Len(t, lines, 5)
	require.Contains(t, lines[2], "PASS")
	require.Contains(t, lines[3], "MISS")
	require.Contains(t, md.String(), `p99 \| added`)
	require.Contains(t, md.String(), "**ERROR**")
	require.Len(t, tb.Misses(), 2)
}

func TestProcessLifecycle(t *testing.T) {
	dir := t.TempDir()
	p, err := Start("sleeper", "/bin/sleep", nil, dir, "30")
	require.NoError(t, err)
	m, err := p.Memory()
	if err != nil {
		// The child may not have exec'ed yet; /proc appears at fork.
		time.Sleep(50 * time.Millisecond)
		m, err = p.Memory()
	}
	require.NoError(t, err)
	require.Positive(t, m.Peak)
	require.NoError(t, p.Stop(5*time.Second))
	select {
	case <-p.Exited():
	default:
		t.Fatal("process still running after Stop")
	}
}

func TestWaitReadyFailsWhenProcessExits(t *testing.T) {
	p, err := Start("false", "/bin/false", nil, t.TempDir())
	require.NoError(t, err)
	_, err = p.WaitReady(context.Background(), "http://127.0.0.1:1/readyz", 5*time.Second)
	require.ErrorContains(t, err, "exited")
}

func TestWaitReady(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p, err := Start("sleeper", "/bin/sleep", []string{"X=1"}, t.TempDir(), "30")
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Stop(5*time.Second)) }()
	d, err := p.WaitReady(context.Background(), srv.URL, 5*time.Second)
	require.NoError(t, err)
	require.Positive(t, d)
	require.EqualValues(t, 3, hits.Load())
}

func TestReadMemorySelf(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	require.NoError(t, err)
	require.GreaterOrEqual(t, m.Peak, m.RSS)
	require.Positive(t, m.Anon)
	require.LessOrEqual(t, m.Anon+m.File, m.RSS)
	_, err = ReadMemory(-1)
	require.Error(t, err)
}

func TestPostMultipartStreams(t *testing.T) {
	const size = 3<<20 + 17
	want := sha256.New()
	_, err := io.Copy(want, PatternReader(size))
	require.NoError(t, err)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		mr, err := r.MultipartReader()
		require.NoError(t, err)
		part, err := mr.NextPart()
		require.NoError(t, err)
		require.Equal(t, "document", part.FormName())
		require.Equal(t, "big.bin", part.FileName())
		h := sha256.New()
		n, err := io.Copy(h, part)
		require.NoError(t, err)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"size": n, "sha": h.Sum(nil)})
	}))
	defer srv.Close()

	var out struct {
		Size int64  `json:"size"`
		Sha  []byte `json:"sha"`
	}
	err = PostMultipart(context.Background(), NewClient(1, 10*time.Second), srv.URL, "tok", "document", "big.bin", PatternReader(size), &out)
	require.NoError(t, err)
	require.EqualValues(t, size, out.Size)
	require.Equal(t, want.Sum(nil), out.Sha)
}

func TestDoJSONStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"nope"}`, http.StatusTeapot)
	}))
	defer srv.Close()
	err := DoJSON(context.Background(), srv.Client(), http.MethodPost, srv.URL, "", map[string]int{"a": 1}, nil)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusTeapot, se.Status)
	require.Contains(t, se.Body, "nope")
}

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine(".")
	require.Positive(t, m.Cores)
	require.Positive(t, m.RAM)
	require.NotEqual(t, "unknown", m.CPU)
	require.Contains(t, m.String(), m.GoVersion)
	require.Regexp(t, `^[0-9.]+ [0-9.]+ [0-9.]+$`, m.LoadAvg)
}

func TestReadCPUTimeSelf(t *testing.T) {
	before, err := ReadCPUTime(os.Getpid())
	require.NoError(t, err)
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := ReadCPUTime(os.Getpid())
	require.NoError(t, err)
	require.Greater(t, after, before, "spun %d times", x)
	_, err = ReadCPUTime(-1)
	require.Error(t, err)
}

func TestCPUProfileAndTop(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	require.True(t, HasPprof(ctx, srv.URL))
	require.False(t, HasPprof(ctx, "http://127.0.0.1:1"))

	stop := make(chan struct{})
	go func() { // something to sample
		x := 0
		for {
			select {
			case <-stop:
				return
			default:
				x++
			}
		}
	}()
	path := filepath.Join(t.TempDir(), "cpu.prof")
	err := CPUProfile(ctx, srv.URL, time.Second, path)
	close(stop)
	require.NoError(t, err)
	top, err := PprofTop(ctx, path, 5, "-cum")
	require.NoError(t, err)
	require.Contains(t, top, "flat")
	require.NotContains(t, top, "Time: ")
}

func TestHistogramQuantile(t *testing.T) {
	page := func(a, b, c float64) string {
		return fmt.Sprintf("# TYPE x histogram\nx_bucket{le=\"0.01\"} %v\nx_bucket{le=\"0.1\"} %v\nx_bucket{le=\"+Inf\"} %v\nx_sum 1\nx_count %v\nother 3\n", a, b, c, c)
	}
	var body atomic.Value
	body.Store(page(10, 10, 10))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body.Load().(string))
	}))
	defer srv.Close()
	ctx := context.Background()
	before, err := ScrapeHistogram(ctx, srv.Client(), srv.URL, "x")
	require.NoError(t, err)
	body.Store(page(60, 108, 110)) // 50 <= 10 ms, 48 in (10, 100] ms, 2 above
	after, err := ScrapeHistogram(ctx, srv.Client(), srv.URL, "x")
	require.NoError(t, err)
	require.Equal(t, 0.01, after.Quantile(before, 0.5))
	require.Equal(t, 0.1, after.Quantile(before, 0.9))
	require.True(t, math.IsInf(after.Quantile(before, 0.99), 1))
	require.True(t, math.IsNaN(before.Quantile(before, 0.5)))
	_, err = ScrapeHistogram(ctx, srv.Client(), srv.URL, "nope")
	require.Error(t, err)
}
