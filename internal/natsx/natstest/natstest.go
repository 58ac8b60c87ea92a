// Package natstest runs NATS servers with JetStream for tests: embedded in
// the test process (Start, StartCluster), or as separate processes of the
// real nats-server binary, built from the module cache, for tests that kill
// a server with SIGKILL (Build, Process). Every server listens on
// 127.0.0.1 only and keeps its data in the test's temporary directory.
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// Start runs one embedded server with JetStream and returns its client URL.
// It is shut down when the test ends.
func Start(t testing.TB) *server.Server {
	t.Helper()
	return start(t, &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	})
}

func start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("natstest: server not ready in 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// StartCluster runs n embedded servers forming one JetStream cluster and
// returns them once JetStream has a meta leader. The client URL of all of
// them is URLs(servers).
func StartCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	ports := FreePorts(t, n)
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	servers := make([]*server.Server, n)
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "tgbot",
				Host: "127.0.0.1",
				Port: ports[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		servers[i] = start(t, opts)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return servers
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("natstest: no JetStream meta leader in 20s")
	return nil
}

// URLs is the comma-separated client URL list of servers (NATS_URL).
func URLs(servers ...*server.Server) string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1, from below the
// kernel's ephemeral range (see procrun.FreePorts).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := procrun.FreePorts(n)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return ports
}

// Build compiles the real nats-server binary from the module cache into
// dir and returns its path.
func Build(t testing.TB, dir string) string {
	t.Helper()
	if err := procrun.Build(dir, "github.com/nats-io/nats-server/v2"); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return filepath.Join(dir, "nats-server")
}

// Process is a nats-server run as a separate process, so a test can kill
// it with SIGKILL and start it again on the same ports and data.
type Process struct {
	Bin       string
	Name      string
	Port      int // client port
	RoutePort int // cluster port; 0 = no cluster
	Routes    []string
	StoreDir  string
	cmd       *exec.Cmd
	LogPath   string
}

// ClusterProcesses prepares n processes of bin forming one cluster; call
// Start on each.
func ClusterProcesses(t testing.TB, bin string, n int) []*Process {
	t.Helper()
	ports := FreePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	ps := make([]*Process, n)
	for i := range n {
		dir := t.TempDir()
		ps[i] = &Process{
			Bin: bin, Name: fmt.Sprintf("n%d", i+1),
			Port: ports[i], RoutePort: ports[n+i], Routes: routes,
			StoreDir: filepath.Join(dir, "js"), LogPath: filepath.Join(dir, "nats.log"),
		}
		t.Cleanup(ps[i].Kill)
	}
	return ps
}

// URL is the process's client URL.
func (p *Process) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", p.Port) }

// Start runs the process and waits until it accepts connections.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	args := []string{"-a", "127.0.0.1", "-p", fmt.Sprint(p.Port), "-js", "-sd", p.StoreDir,
		"-n", p.Name, "-l", p.LogPath}
	if p.RoutePort != 0 {
		args = append(args, "--cluster_name", "tgbot",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", p.RoutePort),
			"--routes", strings.Join(p.Routes, ","))
	}
	p.cmd = exec.Command(p.Bin, args...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.Port)); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(p.LogPath)
	t.Fatalf("natstest: %s not listening in 15s\n%s", p.Name, log)
}

// Kill sends SIGKILL and waits for the process to end; a no-op when it is
// not running.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}
