package procrun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HasPprof reports whether baseURL serves net/http/pprof.
func HasPprof(ctx context.Context, baseURL string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/debug/pprof/", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// CPUProfile records a CPU profile of d seconds from baseURL's
// /debug/pprof/profile into path.
func CPUProfile(ctx context.Context, baseURL string, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	url := baseURL + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: %s answered %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	return nil
}

// PprofTop returns the n heaviest functions of a profile by own time
// (`go tool pprof -top`, plus extra flags such as -cum or -tagfocus),
// without the header lines that name files and dates.
func PprofTop(ctx context.Context, path string, n int, extra ...string) (string, error) {
	pp := pprofCommand()
	args := append(append(append([]string{}, pp[1:]...), "-top", "-nodecount="+strconv.Itoa(n)), extra...)
	cmd := exec.CommandContext(ctx, pp[0], append(args, path)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w: %s", err, strings.TrimSpace(string(out)))
	}
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "File: "), strings.HasPrefix(line, "Build ID: "),
			strings.HasPrefix(line, "Type: "), strings.HasPrefix(line, "Time: "):
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n") + "\n", nil
}

// pprofCommand is how to run pprof: the cached tool binary that
// `go tool -n pprof` names, when it exists (a `go tool` start costs more
// than a second), else `go tool pprof`.
var pprofCommand = sync.OnceValue(func() []string {
	out, err := exec.Command("go", "tool", "-n", "pprof").Output()
	if err == nil {
		p := strings.TrimSpace(string(out))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return []string{p}
		}
	}
	return []string{"go", "tool", "pprof"}
})
