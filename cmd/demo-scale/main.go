// Command demo-scale runs the receiver scaled out, offline, as processes on
// loopback: nats-server (JetStream), the Telegram emulator, the sender, the
// example downstream and two receivers on NATS (one active, one standby).
// Emulated users write numbered messages from several chats; midway the
// active receiver is killed with SIGKILL. It prints how long the standby
// took to take over and whether every message reached the downstream, in
// order per chat (a message delivered again has the same webhook-id).
//
// Afterwards it keeps the services running until Ctrl-C; with DEMO_ONCE=1 it
// exits, with status 0 only if nothing was lost or reordered.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// Config is the demo's environment.
type Config struct {
	Once     bool          `env:"DEMO_ONCE" usage:"exit after the run: status 0 only if nothing was lost or reordered"`
	BinDir   string        `env:"DEMO_BIN_DIR" envDefault:"./bin" usage:"directory with nats-server, tgemu, receiver, sender and downstream"`
	DataDir  string        `env:"DEMO_DATA_DIR" envDefault:"./demo-data" usage:"each run makes a fresh scale-* directory here for data and logs"`
	LeaseTTL time.Duration `env:"DEMO_LEASE_TTL" envDefault:"3s" usage:"RECEIVER_LEASE_TTL of the receivers"`
	Chats    int           `env:"DEMO_CHATS" envDefault:"5" usage:"how many users write"`
	Messages int           `env:"DEMO_MESSAGES" envDefault:"40" usage:"messages per user"`
	Timeout  time.Duration `env:"DEMO_TIMEOUT" envDefault:"90s" usage:"how long the run may take once the services are up"`
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	if c.LeaseTTL < time.Second {
		return errors.New("DEMO_LEASE_TTL: must be at least 1s")
	}
	if c.Chats < 1 || c.Chats > 100 || c.Messages < 4 || c.Messages > 1000 {
		return errors.New("DEMO_CHATS: 1-100 and DEMO_MESSAGES: 4-1000")
	}
	if c.Timeout <= 0 {
		return errors.New("DEMO_TIMEOUT: must be positive")
	}
	return nil
}

const about = "runs nats-server, the emulator, the sender, the downstream and two receivers; kills the active receiver midway"

func main() {
	buildinfo.Main("demo-scale", about, &Config{}, func() error {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		cfg, err := config.Load[Config]()
		if err != nil {
			return err
		}
		return run(ctx, cfg, os.Stdout)
	})
}

const botToken = "7000001:demo-scale-secret"

// stack is the running processes.
type stack struct {
	cfg   Config
	out   io.Writer
	dir   string
	procs []*procrun.Process
	http  *http.Client
	ends  endpoints
}

func (s *stack) launch(ctx context.Context, name, bin, readyURL string, env []string, args ...string) (*procrun.Process, error) {
	path := filepath.Join(s.cfg.BinDir, bin)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("start %s: %w (run `make demo-scale`, or set DEMO_BIN_DIR)", name, err)
	}
	env = append([]string{"LOG_FILE=", "LOG_FORMAT=json", "LOG_LEVEL=info"}, env...)
	p, err := procrun.Start(name, path, env, filepath.Join(s.dir, "logs"), args...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	took, err := p.WaitReady(ctx, readyURL, 60*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w\n(log: %s)", err, p.LogPath)
	}
	fmt.Fprintf(s.out, "  started %-10s pid %-7d ready in %s\n", name, p.PID(), took.Round(10*time.Millisecond))
	return p, nil
}

func (s *stack) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		_ = s.procs[i].Stop(10 * time.Second)
	}
}

func addrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		a, err := procrun.FreeAddr()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// run starts the services, plays the load with the kill and reports; unless
// cfg.Once it then waits for ctx.
func run(ctx context.Context, cfg Config, out io.Writer) error {
	dir := filepath.Join(cfg.DataDir, "scale-"+time.Now().Format("20060102-150405.000"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s := &stack{cfg: cfg, out: out, dir: dir, http: procrun.NewClient(16, 10*time.Second)}
	defer s.stop()
	fmt.Fprintf(out, "data and logs of this run: %s\nstarting the services (loopback only):\n", dir)
	rs, err := s.start(ctx)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	res, err := s.play(ctx, rs)
	if err != nil {
		return err
	}
	fmt.Fprint(out, res)
	if !res.ok() {
		return errors.New("events were lost or reordered")
	}
	if cfg.Once {
		return nil
	}
	fmt.Fprintf(out, "\nThe services keep running (Ctrl-C stops everything). Receivers: http://%s/readyz (killed), http://%s/readyz\n",
		rs.addr[0], rs.addr[1])
	<-ctx.Done()
	return nil
}

// receivers are the two receiver processes and their addresses.
type receivers struct {
	procs [2]*procrun.Process
	addr  [2]string
}

// endpoints the load and the check talk to.
type endpoints struct {
	emuHTTP, downstream string
}

func (s *stack) start(ctx context.Context) (*receivers, error) {
	a, err := addrs(9)
	if err != nil {
		return nil, err
	}
	natsAddr, natsMon, emuMT, emuHTTP, senderAddr, downAddr := a[0], a[1], a[2], a[3], a[4], a[5]
	natsHost, natsPort := split(natsAddr)
	_, monPort := split(natsMon)
	if _, err := s.launch(ctx, "nats-server", "nats-server", "http://"+natsMon+"/healthz?js-enabled-only=true", nil,
		"-a", natsHost, "-p", natsPort, "-m", monPort, "-js", "-sd", filepath.Join(s.dir, "nats"), "-n", "demo"); err != nil {
		return nil, err
	}
	emuDir := filepath.Join(s.dir, "tgemu")
	if _, err := s.launch(ctx, "tgemu", "tgemu", "http://"+emuHTTP+"/healthz", []string{
		"TGEMU_MTPROTO_ADDR=" + emuMT, "TGEMU_HTTP_ADDR=" + emuHTTP,
		"TGEMU_KEY_FILE=" + filepath.Join(emuDir, "tgemu.key"), "TGEMU_PUBLIC_KEY_FILE=" + filepath.Join(emuDir, "tgemu.pub"),
		"TGEMU_DATA_FILE=" + filepath.Join(emuDir, "tgemu.db"), "TGEMU_BOT_TOKENS=" + botToken,
	}); err != nil {
		return nil, err
	}
	tg := []string{"TG_APP_ID=1", "TG_APP_HASH=emulator", "TG_BOT_TOKEN=" + botToken, "TG_DC_ID=2",
		"TG_DC_ADDR=" + emuMT, "TG_PUBLIC_KEY_FILE=" + filepath.Join(emuDir, "tgemu.pub")}
	const apiToken, secret = "demo-scale-api-token-0123456789", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if _, err := s.launch(ctx, "sender", "sender", "http://"+senderAddr+"/readyz", append([]string{
		"DATA_DIR=" + filepath.Join(s.dir, "sender"), "SENDER_ADDR=" + senderAddr, "SENDER_API_TOKENS=" + apiToken,
	}, tg...)); err != nil {
		return nil, err
	}
	if _, err := s.launch(ctx, "downstream", "downstream", "http://"+downAddr+"/healthz", []string{
		"DOWNSTREAM_ADDR=" + downAddr, "DOWNSTREAM_WEBHOOK_SECRET=" + secret,
		"SENDER_URL=http://" + senderAddr, "SENDER_API_TOKEN=" + apiToken,
	}); err != nil {
		return nil, err
	}
	rs := &receivers{addr: [2]string{a[6], a[7]}}
	for i := range 2 {
		name := fmt.Sprintf("receiver%d", i+1)
		p, err := s.launch(ctx, name, "receiver", "http://"+rs.addr[i]+"/readyz", append([]string{
			"DATA_DIR=" + filepath.Join(s.dir, name), "RECEIVER_ADDR=" + rs.addr[i],
			"NATS_URL=nats://" + natsAddr, "RECEIVER_LEASE_TTL=" + s.cfg.LeaseTTL.String(),
			"DRIVER=http", "DRIVER_HTTP_URL=http://" + downAddr + "/events", "DRIVER_HTTP_SECRET=" + secret,
		}, tg...))
		if err != nil {
			return nil, err
		}
		rs.procs[i] = p
		if i == 0 {
			if err := s.waitRole(ctx, rs.addr[0], "active", 60*time.Second); err != nil {
				return nil, err
			}
		}
	}
	s.ends = endpoints{emuHTTP: emuHTTP, downstream: downAddr}
	return rs, nil
}

func split(addr string) (host, port string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	return addr, ""
}

// role is the bot's role in a receiver's /readyz ("" when unreachable).
func (s *stack) role(ctx context.Context, addr string) string {
	var body struct {
		Bots []struct {
			Role string `json:"role"`
		} `json:"bots"`
	}
	if err := procrun.DoJSON(ctx, s.http, http.MethodGet, "http://"+addr+"/readyz", "", nil, &body); err != nil || len(body.Bots) != 1 {
		return ""
	}
	return body.Bots[0].Role
}

func (s *stack) waitRole(ctx context.Context, addr, role string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s.role(ctx, addr) == role {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("receiver %s not %s in %s", addr, role, timeout)
}
