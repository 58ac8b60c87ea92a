package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// demoBotID is the bot's user ID in the emulator (the number before the
// colon of the bot token).
const demoBotID = 7000001

// stopGrace is how long a service gets to stop after SIGTERM.
const stopGrace = 10 * time.Second

// addrs are the loopback addresses of the services.
type addrs struct {
	emuMTProto, emuHTTP, receiver, sender, downstream string
}

// stack is the set of services of one demo run.
type stack struct {
	cfg   Config
	out   io.Writer
	dir   string // this run's data and logs
	addr  addrs
	http  *http.Client
	procs []*procrun.Process

	botToken, apiToken, adminToken, webhookSecret string
}

// newStack makes the run directory, picks the ports and the secrets.
func newStack(cfg Config, out io.Writer) (*stack, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("DEMO_DATA_DIR: %w", err)
	}
	dir, err := os.MkdirTemp(cfg.DataDir, "run-"+time.Now().UTC().Format("20060102-150405")+"-")
	if err != nil {
		return nil, fmt.Errorf("DEMO_DATA_DIR: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("DEMO_DATA_DIR: %w", err)
	}
	ports, err := pickPorts(out, []namedPort{
		{"emulator MTProto", cfg.EmuMTProtoPort}, {"emulator control API", cfg.EmuHTTPPort},
		{"receiver", cfg.ReceiverPort}, {"sender", cfg.SenderPort}, {"downstream", cfg.DownstreamPort},
	})
	if err != nil {
		return nil, err
	}
	s := &stack{
		cfg: cfg, out: out, dir: dir,
		addr: addrs{
			emuMTProto: hostPort(ports[0]), emuHTTP: hostPort(ports[1]),
			receiver: hostPort(ports[2]), sender: hostPort(ports[3]), downstream: hostPort(ports[4]),
		},
		http:          &http.Client{Timeout: 10 * time.Second},
		botToken:      strconv.Itoa(demoBotID) + ":" + randomHex(16),
		apiToken:      "demo-" + randomHex(12),
		adminToken:    "demo-admin-" + randomHex(12),
		webhookSecret: "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(24)),
	}
	return s, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

type namedPort struct {
	name string
	port int
}

// pickPorts returns the wanted ports, or a free one where a port is busy or
// 0. All listeners stay open until every port is chosen, so no two services
// get the same free port.
func pickPorts(out io.Writer, want []namedPort) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	ports := make([]int, len(want))
	for i, w := range want {
		var l net.Listener
		err := errors.New("no port set")
		if w.port != 0 {
			l, err = net.Listen("tcp", hostPort(w.port))
		}
		if err != nil {
			// A free port outside the kernel's ephemeral range: one the
			// kernel handed out could go to an outgoing connection before
			// the service binds it.
			var free []int
			if free, err = procrun.FreePorts(1); err == nil {
				l, err = net.Listen("tcp", hostPort(free[0]))
			}
			if err == nil && w.port != 0 {
				fmt.Fprintf(out, "port %d (%s) is busy: using %d\n", w.port, w.name, free[0])
			}
		}
		if err != nil {
			return nil, fmt.Errorf("pick a port for the %s: %w", w.name, err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// subdir makes and returns a directory of this run.
func (s *stack) subdir(name string) (string, error) {
	d := filepath.Join(s.dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return d, nil
}

// start launches the services in dependency order and waits for each.
func (s *stack) start(ctx context.Context) error {
	logs, err := s.subdir("logs")
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "data and logs of this run: %s\n", s.dir)

	emuDir, err := s.subdir("tgemu")
	if err != nil {
		return err
	}
	emu, err := s.launch(ctx, "tgemu", logs, "http://"+s.addr.emuHTTP+"/healthz", []string{
		"TGEMU_MTPROTO_ADDR=" + s.addr.emuMTProto,
		"TGEMU_HTTP_ADDR=" + s.addr.emuHTTP,
		"TGEMU_KEY_FILE=" + filepath.Join(emuDir, "tgemu.key"),
		"TGEMU_PUBLIC_KEY_FILE=" + filepath.Join(emuDir, "tgemu.pub"),
		"TGEMU_DATA_FILE=" + filepath.Join(emuDir, "tgemu.db"),
		"TGEMU_BOT_TOKENS=" + s.botToken,
	})
	if err != nil {
		return err
	}
	// The clients need the emulator's public key: take it from the control
	// API rather than rely on a file path convention.
	pubKey := filepath.Join(emuDir, "public-key.pem")
	if err := s.fetchFile(ctx, "http://"+s.addr.emuHTTP+"/v1/public-key", pubKey); err != nil {
		return fmt.Errorf("tgemu public key: %w (log: %s)", err, emu.LogPath)
	}
	tgEnv := []string{
		"TG_APP_ID=1", "TG_APP_HASH=emulator", "TG_BOT_TOKEN=" + s.botToken, "TG_DC_ID=2",
		"TG_DC_ADDR=" + s.addr.emuMTProto, "TG_PUBLIC_KEY_FILE=" + pubKey,
	}
	senderDir, err := s.subdir("sender")
	if err != nil {
		return err
	}
	if _, err := s.launch(ctx, "sender", logs, "http://"+s.addr.sender+"/readyz", append([]string{
		"DATA_DIR=" + senderDir,
		"SENDER_ADDR=" + s.addr.sender,
		"SENDER_API_TOKENS=" + s.apiToken,
	}, tgEnv...)); err != nil {
		return err
	}
	if _, err := s.launch(ctx, "downstream", logs, "http://"+s.addr.downstream+"/healthz", []string{
		"DOWNSTREAM_ADDR=" + s.addr.downstream,
		"DOWNSTREAM_WEBHOOK_SECRET=" + s.webhookSecret,
		"DOWNSTREAM_FAULTS_API=true",
		"SENDER_URL=http://" + s.addr.sender,
		"SENDER_API_TOKEN=" + s.apiToken,
	}); err != nil {
		return err
	}
	receiverDir, err := s.subdir("receiver")
	if err != nil {
		return err
	}
	_, err = s.launch(ctx, "receiver", logs, "http://"+s.addr.receiver+"/readyz", append([]string{
		"DATA_DIR=" + receiverDir,
		"RECEIVER_ADDR=" + s.addr.receiver,
		"RECEIVER_ADMIN_TOKEN=" + s.adminToken,
		"DRIVER=http",
		"DRIVER_HTTP_URL=http://" + s.addr.downstream + "/events",
		"DRIVER_HTTP_SECRET=" + s.webhookSecret,
	}, tgEnv...))
	return err
}

// launch starts one service (its output in logDir/<name>.log) and waits
// until readyURL answers 200.
func (s *stack) launch(ctx context.Context, name, logDir, readyURL string, env []string) (*procrun.Process, error) {
	bin := filepath.Join(s.cfg.BinDir, name)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("start %s: %w (run `make build` first, or set DEMO_BIN_DIR)", name, err)
	}
	// The services log to their file; settings of the caller's shell that
	// would send them elsewhere are overridden (later entries win).
	env = append([]string{"LOG_FILE=", "LOG_FORMAT=json", "LOG_LEVEL=info"}, env...)
	p, err := procrun.Start(name, bin, env, logDir)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	took, err := p.WaitReady(ctx, readyURL, s.cfg.StartTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w\n(log: %s)", err, p.LogPath)
	}
	fmt.Fprintf(s.out, "  started %-10s pid %-7d ready in %-6s log %s\n", name, p.PID(), took.Round(10*time.Millisecond), p.LogPath)
	return p, nil
}

// fetchFile GETs url into path.
func (s *stack) fetchFile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return os.WriteFile(path, b, 0o600)
}

// watch returns when ctx is done (nil) or a service exits (an error).
func (s *stack) watch(ctx context.Context) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range s.procs {
			select {
			case <-p.Exited():
				return fmt.Errorf("%s exited unexpectedly (log: %s):\n%s", p.Name, p.LogPath, p.Tail(15))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM to the services in reverse start order (the emulator
// last) and waits for each.
func (s *stack) stop() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := s.procs[i].Stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if len(s.procs) > 0 {
		fmt.Fprintf(s.out, "stopped %d services\n", len(s.procs))
	}
	return errors.Join(errs...)
}
