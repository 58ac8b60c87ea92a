package procrun

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a benchmark ran, for the report header.
type Machine struct {
	CPU       string
	Cores     int
	RAM       int64 // bytes
	OS        string
	GoVersion string
	Date      time.Time
	Commit    string
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages when the run
	// started: other work on the machine skews every number.
	LoadAvg string
}

// DescribeMachine reads /proc/cpuinfo and /proc/meminfo and asks git (in
// repoDir) for the commit; what it cannot read it leaves as "unknown".
func DescribeMachine(repoDir string) Machine {
	m := Machine{
		CPU:       "unknown",
		Cores:     runtime.NumCPU(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(),
		Date:      time.Now().UTC(),
		Commit:    "unknown",
	}
	if v, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPU = v
	}
	if v, ok := procField("/proc/meminfo", "MemTotal"); ok {
		if kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
			m.RAM = kb * 1024
		}
	}
	m.LoadAvg = LoadAvg()
	cmd := exec.Command("git", "-C", repoDir, "describe", "--always", "--dirty")
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// LoadAvg returns the 1, 5 and 15 minute load averages, or "unknown".
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// String is a one-paragraph description.
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %.1f GiB RAM, %s, %s, commit %s, %s, load average %s",
		m.CPU, m.Cores, float64(m.RAM)/(1<<30), m.OS, m.GoVersion, m.Commit,
		m.Date.Format("2006-01-02 15:04 MST"), m.LoadAvg)
}
