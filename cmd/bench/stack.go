package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// Bounds of the process handling: every wait ends.
const (
	readyTimeout = 30 * time.Second
	stopGrace    = 15 * time.Second
)

// stack is the emulator and the two services as child processes on
// 127.0.0.1, each with its own data directory under work.
type stack struct {
	opts   Options
	work   string
	logDir string

	emu     *procrun.Process
	emuHTTP string // base URL of the control API
	emuMT   string // MTProto host:port
	pubKey  string // the emulator's public key file

	botToken string
	apiToken string // the sender's bearer token
	whSecret string // the receiver's signing secret (whsec_ form)

	sender   *service
	receiver *service
	// gateway is the minimal HTTP gateway baseline, running only during
	// the send load.
	gateway *service
	// replicas are the senders in NATS mode (the scale-out load).
	replicas []*service
}

// service is one of our binaries, restartable on the same data dir.
type service struct {
	name    string
	bin     string
	addr    string
	dataDir string
	env     []string
	args    []string
	proc    *procrun.Process
}

// url is the service's base URL.
func (s *service) url() string { return "http://" + s.addr }

func newStack(opts Options, work string) (*stack, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	st := &stack{
		opts:     opts,
		work:     work,
		logDir:   filepath.Join(work, "logs"),
		botToken: "7000001:bench-secret",
		apiToken: hex.EncodeToString(tok),
		whSecret: "whsec_" + base64.StdEncoding.EncodeToString(key),
	}
	for _, name := range []string{"tgemu", "sender", "receiver"} {
		if _, err := os.Stat(st.bin(name)); err != nil {
			return nil, fmt.Errorf("binary %s: %w (run `make build` or pass -bin)", name, err)
		}
	}
	return st, nil
}

func (st *stack) bin(name string) string {
	return filepath.Join(st.opts.BinDir, name)
}

// botID is the numeric part of the bot token.
func (st *stack) botID() int64 {
	t := config.Telegram{BotToken: st.botToken}
	return t.BotID()
}

// startEmulator starts bin/tgemu with no limits and waits for its control API.
func (st *stack) startEmulator(ctx context.Context) error {
	mt, err := procrun.FreeAddr()
	if err != nil {
		return err
	}
	httpAddr, err := procrun.FreeAddr()
	if err != nil {
		return err
	}
	dir := filepath.Join(st.work, "tgemu")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tgemu dir: %w", err)
	}
	st.emuMT = mt
	st.emuHTTP = "http://" + httpAddr
	st.pubKey = filepath.Join(dir, "tgemu.pub")
	env := []string{
		"TGEMU_MTPROTO_ADDR=" + mt,
		"TGEMU_HTTP_ADDR=" + httpAddr,
		"TGEMU_KEY_FILE=" + filepath.Join(dir, "tgemu.key"),
		"TGEMU_PUBLIC_KEY_FILE=" + st.pubKey,
		"LOG_LEVEL=" + st.opts.LogLevel,
		"LOG_FORMAT=json",
	}
	st.emu, err = procrun.Start("tgemu", st.bin("tgemu"), env, st.logDir)
	if err != nil {
		return err
	}
	if _, err := st.emu.WaitReady(ctx, st.emuHTTP+"/healthz", readyTimeout); err != nil {
		return err
	}
	if _, err := os.Stat(st.pubKey); err != nil {
		return fmt.Errorf("tgemu did not write its public key: %w", err)
	}
	return nil
}

// telegramEnv points a service at the emulator, logged in as the bench bot.
func (st *stack) telegramEnv(dataDir string) []string {
	return []string{
		"TG_APP_ID=1",
		"TG_APP_HASH=emulator",
		"TG_BOT_TOKEN=" + st.botToken,
		"TG_DC_ADDR=" + st.emuMT,
		"TG_DC_ID=2",
		"TG_PUBLIC_KEY_FILE=" + st.pubKey,
		"DATA_DIR=" + dataDir,
		"LOG_LEVEL=" + st.opts.LogLevel,
		"LOG_FORMAT=json",
	}
}

// senderLimitEnv sets the sender's rate limits: rate 0 lifts them all for
// the throughput loads; a positive rate is the bulk configuration (R/s
// overall, Telegram's 1/s per chat and 20/min per group). The job workers
// stay at the sender's default: a worker sends one message at a time, so
// SENDER_WORKERS / (send latency) must exceed R.
func senderLimitEnv(rate int) []string {
	if rate <= 0 {
		return []string{
			"SENDER_RATE_PER_SECOND=0",
			"SENDER_RATE_PER_CHAT_PER_SECOND=0",
			"SENDER_RATE_GROUP_PER_MINUTE=0",
		}
	}
	return []string{
		"SENDER_RATE_PER_SECOND=" + strconv.Itoa(rate),
		"SENDER_RATE_PER_CHAT_PER_SECOND=1",
		"SENDER_RATE_GROUP_PER_MINUTE=20",
	}
}

func (st *stack) newSender() (*service, error) {
	return st.newService("sender", "SENDER_ADDR", "SENDER_API_TOKENS="+st.apiToken)
}

func (st *stack) newReceiver(downstreamURL string) (*service, error) {
	return st.newService("receiver", "RECEIVER_ADDR",
		"DRIVER=http",
		"DRIVER_HTTP_URL="+downstreamURL,
		"DRIVER_HTTP_SECRET="+st.whSecret,
	)
}

// newMinimalGateway prepares the minimal gateway baseline: this binary
// again (see minigw.go), with a session dir of its own and the users' access
// hashes in a file, as the sender has them cached after the first sends.
func (st *stack) newMinimalGateway(users []emuUser) (*service, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", minimalGatewayName, err)
	}
	addr, err := procrun.FreeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(st.work, minimalGatewayName)
	c := minimalGatewayConfig{Addr: addr, DCAddr: st.emuMT, PublicKey: st.pubKey, SessionDir: dir,
		PeersFile: filepath.Join(dir, "peers.json")}
	if err := writePeers(c.PeersFile, users); err != nil {
		return nil, err
	}
	return &service{name: minimalGatewayName, bin: exe, addr: addr, dataDir: dir,
		env: []string{minimalGatewayTokenEnv + "=" + st.botToken}, args: c.args()}, nil
}

// newService prepares one of our binaries: a free address in addrVar, a
// data dir of its own, the emulator's Telegram settings, and env.
func (st *stack) newService(name, addrVar string, env ...string) (*service, error) {
	addr, err := procrun.FreeAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(st.work, name)
	all := append(st.telegramEnv(dataDir), addrVar+"="+addr)
	return &service{name: name, bin: st.bin(name), addr: addr, dataDir: dataDir, env: append(all, env...)}, nil
}

// start starts the service with extra env on top of its own and waits for
// /readyz; it returns the time from process start to the first 200.
func (st *stack) start(ctx context.Context, s *service, extra ...string) (time.Duration, error) {
	return st.startWithin(ctx, s, readyTimeout, extra...)
}

// startWithin is start with its own bound on the wait for /readyz.
func (st *stack) startWithin(ctx context.Context, s *service, timeout time.Duration, extra ...string) (time.Duration, error) {
	if s.proc != nil {
		return 0, fmt.Errorf("%s already running", s.name)
	}
	env := append(append([]string{}, s.env...), extra...)
	p, err := procrun.Start(s.name, s.bin, env, st.logDir, s.args...)
	if err != nil {
		return 0, err
	}
	s.proc = p
	return p.WaitReady(ctx, s.url()+"/readyz", timeout)
}

// stop stops the service gracefully (SIGTERM).
func (s *service) stop() error {
	if s == nil || s.proc == nil {
		return nil
	}
	err := s.proc.Stop(stopGrace)
	s.proc = nil
	return err
}

// restart stops the service and starts it again on the same data dir: the
// second start reuses the saved session.
func (st *stack) restart(ctx context.Context, s *service, extra ...string) (time.Duration, error) {
	if err := s.stop(); err != nil {
		return 0, err
	}
	return st.start(ctx, s, extra...)
}

// close stops everything that runs, services first.
func (st *stack) close() error {
	var first error
	for _, s := range append([]*service{st.gateway, st.sender, st.receiver}, st.replicas...) {
		if err := s.stop(); err != nil && first == nil {
			first = err
		}
	}
	if st.emu != nil {
		if err := st.emu.Stop(stopGrace); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// memory reads the service's VmRSS and VmHWM.
func (s *service) memory() (procrun.Memory, error) {
	if s.proc == nil {
		return procrun.Memory{}, fmt.Errorf("%s not running", s.name)
	}
	return s.proc.Memory()
}

// cpuSample is the CPU time used so far by each process of the run.
type cpuSample struct {
	at   time.Time
	used map[string]time.Duration
}

// cpuNow samples the emulator, the running services and the bench itself.
func (st *stack) cpuNow() cpuSample {
	s := cpuSample{at: time.Now(), used: map[string]time.Duration{}}
	add := func(name string, pid int) {
		if d, err := procrun.ReadCPUTime(pid); err == nil {
			s.used[name] = d
		}
	}
	if st.emu != nil {
		add("tgemu", st.emu.PID())
	}
	for _, svc := range append([]*service{st.sender, st.receiver, st.gateway}, st.replicas...) {
		if svc != nil && svc.proc != nil {
			add(svc.name, svc.proc.PID())
		}
	}
	add("bench", os.Getpid())
	return s
}

// cpuUsage says how many cores each process used between two samples.
func cpuUsage(from, to cpuSample) string {
	wall := to.at.Sub(from.at).Seconds()
	if wall <= 0 {
		return "no time passed"
	}
	out := fmt.Sprintf("CPU over %.1f s:", wall)
	names := []string{"tgemu", "sender", minimalGatewayName, "receiver", "bench"}
	for i := 1; ; i++ { // the NATS-mode replicas, sender-nats1...
		name := fmt.Sprintf("sender-nats%d", i)
		if _, ok := to.used[name]; !ok {
			break
		}
		names = append(names, name)
	}
	for _, name := range names {
		a, okA := from.used[name]
		b, okB := to.used[name]
		if okA && okB {
			out += fmt.Sprintf(" %s %.2f cores,", name, (b-a).Seconds()/wall)
		}
	}
	return out[:len(out)-1]
}

// cpuPerCall says how much CPU each named process spent per call between
// two samples (the bench process is the load generator or the bare client).
func cpuPerCall(from, to cpuSample, calls int, names ...string) string {
	if calls <= 0 {
		return "no calls"
	}
	var parts []string
	for _, name := range names {
		a, okA := from.used[name]
		b, okB := to.used[name]
		if okA && okB {
			parts = append(parts, fmt.Sprintf("%s %d µs", name, (b-a).Microseconds()/int64(calls)))
		}
	}
	return strings.Join(parts, ", ")
}

// cpuTotalPerCall is the CPU all sampled processes spent per call.
func cpuTotalPerCall(from, to cpuSample, calls int) time.Duration {
	if calls <= 0 {
		return 0
	}
	var total time.Duration
	for name, b := range to.used {
		if a, ok := from.used[name]; ok {
			total += b - a
		}
	}
	return total / time.Duration(calls)
}

// busy is the share of the machine's cores the sampled processes used.
func busy(from, to cpuSample) float64 {
	wall := to.at.Sub(from.at)
	if wall <= 0 {
		return 0
	}
	var total time.Duration
	for name, b := range to.used {
		if a, ok := from.used[name]; ok {
			total += b - a
		}
	}
	return total.Seconds() / wall.Seconds() / float64(runtime.NumCPU())
}

// settle waits until the services are idle (together under a tenth of a
// core, the bench process left out) or at most limit, and says how long it
// waited: a load that follows another must not pay for the background work
// the previous one left (a receiver's outbox after an outage, its garbage
// collector), or the comparison between consecutive runs is skewed.
func (st *stack) settle(ctx context.Context, limit time.Duration) time.Duration {
	const window = 250 * time.Millisecond
	start := time.Now()
	prev := st.cpuNow()
	for time.Since(start) < limit {
		select {
		case <-ctx.Done():
			return time.Since(start)
		case <-time.After(window):
		}
		now := st.cpuNow()
		var busy time.Duration
		for name, d := range now.used {
			if name != "bench" {
				busy += d - prev.used[name]
			}
		}
		prev = now
		if busy < window/10 {
			break
		}
	}
	return time.Since(start)
}
