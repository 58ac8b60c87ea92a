package procrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a service binary started as a child process, with its stdout
// and stderr appended to a log file. It is measured from outside (start-up
// time, /proc memory), so the numbers are those of the real binary.
type Process struct {
	// Name labels the process in errors and log file names.
	Name string
	// LogPath is the file that receives stdout and stderr.
	LogPath string
	// Started is when the process was started.
	Started time.Time

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}
	waitErr error
}

// Start runs bin with args and the current environment plus env ("K=V"
// entries, which win over inherited ones), its output appended to
// logDir/<name>.log. The process is not tied to any context: call Stop.
func Start(name, bin string, env []string, logDir string, args ...string) (*Process, error) {
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = f
	cmd.Stderr = f
	// Own process group: a Ctrl-C on the bench reaches the bench, which then
	// stops its children in order instead of them dying mid-measurement.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, logFile: f, done: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns the exit error of a process that did not stop cleanly.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.exitError()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.exitError()
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: did not stop within %s after SIGTERM, killed", p.Name, grace)
	}
}

func (p *Process) exitError() error {
	if p.waitErr == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil // a service that exits by the default SIGTERM action
		}
	}
	return fmt.Errorf("%s: %w (log: %s)", p.Name, p.waitErr, p.LogPath)
}

// Tail returns the last n lines of the process log, for error messages.
func (p *Process) Tail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitReady polls url until it answers 200, the process exits, or timeout
// passes. It returns the time from the process start to the first 200.
func (p *Process) WaitReady(ctx context.Context, url string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("%s ready: %w", p.Name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.Started), nil
			}
		}
		select {
		case <-p.done:
			return 0, fmt.Errorf("%s exited before %s answered 200: %v\n%s", p.Name, url, p.waitErr, p.Tail(15))
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %s not 200 within %s\n%s", p.Name, url, timeout, p.Tail(15))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Memory is the resident set of a process, from /proc/<pid>/status.
type Memory struct {
	// RSS is the current resident set (VmRSS), in bytes.
	RSS int64
	// Peak is the high-water mark of the resident set (VmHWM), in bytes.
	Peak int64
	// Anon and File split RSS: heap and stacks, and mapped files (a bbolt
	// database is mmapped, so its pages count in RSS as File).
	Anon, File int64
}

// Memory reads the process's VmRSS and VmHWM.
func (p *Process) Memory() (Memory, error) {
	return ReadMemory(p.PID())
}

// ReadMemory reads VmRSS and VmHWM of pid.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("read memory: %s: %w", key, err)
		}
		*dst = kb * 1024
	}
	if err := sc.Err(); err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	if m.RSS == 0 && m.Peak == 0 {
		return Memory{}, fmt.Errorf("read memory: no VmRSS/VmHWM for pid %d", pid)
	}
	return m, nil
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a child process that must be told its address up front.
func FreeAddr() (string, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

// FreePorts returns n distinct ports that are free on 127.0.0.1 now, for
// child processes that must be told their addresses up front.
//
// The ports come from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range): a port the kernel handed out for ":0" is
// one it may give again to any outgoing connection before the child binds
// it ("address already in use"), while ports below the range are only ever
// taken by an explicit bind. Ports handed out earlier by this process are
// not handed out again.
func FreePorts(n int) ([]int, error) {
	lo, hi := ephemeralLow()-freeSpan, ephemeralLow()
	if lo < 1024 {
		lo = 1024
	}
	freeMu.Lock()
	defer freeMu.Unlock()
	ports := make([]int, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n+1000 {
			return nil, fmt.Errorf("free port: none free in %d-%d", lo, hi-1)
		}
		p := lo + rand.IntN(hi-lo)
		if freeGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		held = append(held, l)
		freeGiven[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// freeSpan is how many ports below the ephemeral range FreePorts draws from.
const freeSpan = 12000

var (
	freeMu    sync.Mutex
	freeGiven = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range (32768,
// Linux's default, when it cannot be read).
func ephemeralLow() int {
	const fallback = 32768
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return fallback
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= 1024+1000 {
		return fallback
	}
	return lo
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// CPUTime is the user plus system CPU time the process has used so far.
func (p *Process) CPUTime() (time.Duration, error) {
	return ReadCPUTime(p.PID())
}

// ReadCPUTime reads utime+stime of pid from /proc/<pid>/stat.
func ReadCPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	// The command name (field 2) may hold spaces: count fields after its ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("read cpu time: malformed stat of pid %d", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time: short stat of pid %d", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// Build compiles the main packages pkgs (import paths) into dir, without
// cgo, as the tests that run the real binaries need them. The error
// carries the compiler's output.
func Build(dir string, pkgs ...string) error {
	args := append([]string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}
