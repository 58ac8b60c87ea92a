package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/procrun"
	"github.com/tgbotsvc/tgbot/internal/receiver"
	"github.com/tgbotsvc/tgbot/internal/sender"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
)

// The services serve no pprof endpoint, so a missed throughput goal is
// explained by running the same load again with the emulator, the service
// and the load generator inside this process, under one CPU profile. pprof
// labels (proc=tgemu|sender|receiver|minimal-gateway) are inherited by every goroutine a
// component starts, so `go tool pprof -tagfocus proc=sender` shows the
// sender's share alone, and unlabelled samples are the load generator.

// profileLabel is the pprof label key naming the component.
const profileLabel = "proc"

// profiled is one CPU profile and its top functions per component.
type profiled struct {
	name string // "send" or "receive"
	path string
	top  map[string]string // component -> `go tool pprof -top` output
	took time.Duration
	load string // one-line description of the load
}

// inproc is the emulator and the services running inside the bench process.
type inproc struct {
	dir  string
	emu  *tgemu.Server
	tg   map[string]string // TG_* variables pointing at emu
	stop []func()
	wg   sync.WaitGroup
}

// labelled runs f in a goroutine carrying the component's pprof label.
func (ip *inproc) labelled(ctx context.Context, component string, f func(ctx context.Context)) {
	ip.wg.Add(1)
	go func() {
		defer ip.wg.Done()
		pprof.Do(ctx, pprof.Labels(profileLabel, component), f)
	}()
}

func (ip *inproc) close() {
	for i := len(ip.stop) - 1; i >= 0; i-- {
		ip.stop[i]()
	}
	ip.wg.Wait()
}

// startInproc starts an emulator in this process, labelled tgemu.
func startInproc(ctx context.Context, st *stack, dir string) (*inproc, error) {
	ip := &inproc{dir: dir}
	emu, err := tgemu.New(tgemu.Config{MTProtoAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", BotTokens: []string{st.botToken}})
	if err != nil {
		return nil, fmt.Errorf("in-process emulator: %w", err)
	}
	ectx, cancel := context.WithCancel(ctx)
	started := make(chan error, 1)
	ip.labelled(ectx, "tgemu", func(ctx context.Context) { started <- emu.Start(ctx) })
	if err := <-started; err != nil {
		cancel()
		return nil, fmt.Errorf("in-process emulator: %w", err)
	}
	ip.emu = emu
	ip.stop = append(ip.stop, func() { cancel(); _ = emu.Close() })
	tg := emu.ClientConfig(dir)
	ip.tg = map[string]string{
		"TG_APP_ID":          strconv.Itoa(tg.AppID),
		"TG_APP_HASH":        tg.AppHash,
		"TG_BOT_TOKEN":       st.botToken,
		"TG_DC_ADDR":         tg.DCAddr,
		"TG_DC_ID":           strconv.Itoa(tg.DCID),
		"TG_PUBLIC_KEY_FILE": tg.PublicKeyFile,
	}
	return ip, nil
}

// vars is the environment of an in-process service: the process's own
// variables (st.telegramEnv and extra, "K=V") with the emulator swapped.
func (ip *inproc) vars(st *stack, name string, extra ...string) map[string]string {
	m := map[string]string{}
	for _, kv := range append(st.telegramEnv(filepath.Join(ip.dir, name)), extra...) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	for k, v := range ip.tg {
		m[k] = v
	}
	return m
}

// fileLogger logs like the real binaries (JSON, no sampling) into a file.
func fileLogger(path, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	cfg.OutputPaths = []string{path}
	cfg.ErrorOutputPaths = []string{path}
	return cfg.Build()
}

// startService runs one service (Run blocking) labelled with its name and
// waits for its /readyz.
func (ip *inproc) startService(ctx context.Context, name string, run func(ctx context.Context) error, addr func() string) error {
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	ip.labelled(sctx, name, func(ctx context.Context) { done <- run(ctx) })
	ip.stop = append(ip.stop, func() { cancel(); <-done })
	url := "http://" + addr() + "/readyz"
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err // for the stop func
			return fmt.Errorf("in-process %s stopped: %w", name, err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("in-process %s: not ready within %s", name, readyTimeout)
}

func (ip *inproc) startReceiver(ctx context.Context, st *stack, downstreamURL string) error {
	log, err := fileLogger(filepath.Join(ip.dir, "receiver.log"), st.opts.LogLevel)
	if err != nil {
		return err
	}
	cfg, err := receiver.LoadConfig(ip.vars(st, "receiver",
		"RECEIVER_ADDR=127.0.0.1:0", "DRIVER=http", "DRIVER_HTTP_URL="+downstreamURL, "DRIVER_HTTP_SECRET="+st.whSecret))
	if err != nil {
		return fmt.Errorf("in-process receiver: %w", err)
	}
	svc, err := receiver.New(cfg, log)
	if err != nil {
		return fmt.Errorf("in-process receiver: %w", err)
	}
	return ip.startService(ctx, "receiver", svc.Run, svc.Addr)
}

func (ip *inproc) startSender(ctx context.Context, st *stack) (string, error) {
	log, err := fileLogger(filepath.Join(ip.dir, "sender.log"), st.opts.LogLevel)
	if err != nil {
		return "", err
	}
	vars := ip.vars(st, "sender", append([]string{"SENDER_ADDR=127.0.0.1:0", "SENDER_API_TOKENS=" + st.apiToken}, senderLimitEnv(0)...)...)
	cfg, err := config.LoadFrom[sender.Config](vars)
	if err != nil {
		return "", fmt.Errorf("in-process sender: %w", err)
	}
	svc, err := sender.New(cfg, log)
	if err != nil {
		return "", fmt.Errorf("in-process sender: %w", err)
	}
	if err := ip.startService(ctx, "sender", svc.Run, svc.Addr); err != nil {
		return "", err
	}
	return "http://" + svc.Addr(), nil
}

// startMinimalGateway runs the minimal gateway in-process, labelled
// minimal-gateway, with the access hashes of users; it returns its URL.
func (ip *inproc) startMinimalGateway(ctx context.Context, st *stack, users []tgemu.User) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("in-process %s: %w", minimalGatewayName, err)
	}
	addr := ln.Addr().String()
	peers := make(map[int64]int64, len(users))
	for _, u := range users {
		peers[u.ID] = u.AccessHash
	}
	tgc := ip.emu.ClientConfig(ip.dir)
	tgc.BotToken = st.botToken
	session := tgclient.SessionFile(filepath.Join(ip.dir, minimalGatewayName), minimalGatewayName)
	run := func(ctx context.Context) error { return serveMinimalGateway(ctx, tgc, session, peers, ln) }
	if err := ip.startService(ctx, minimalGatewayName, run, func() string { return addr }); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

// hotPaths limits the cumulative view to the code that explains a cost:
// ours (the minimal gateway is package main), gotd, the HTTP stack, logging, metrics, storage, JSON, syscalls.
const hotPaths = `tgbotsvc|^main\.|gotd|go-chi|zap|bbolt|prometheus|net/http\.|encoding/json|^syscall\.`

// profileTop renders one component of a profile: the heaviest call paths
// (cumulative, our code and its libraries only) and the heaviest functions.
func profileTop(ctx context.Context, path, filter string) (string, error) {
	cum, err := procrun.PprofTop(ctx, path, 16, filter, "-cum", "-show="+hotPaths)
	if err != nil {
		return "", err
	}
	flat, err := procrun.PprofTop(ctx, path, 8, filter)
	if err != nil {
		return "", err
	}
	return "call paths (cumulative):\n" + cum + "\nfunctions (flat):\n" + flat, nil
}

// profileLoads profiles the send and the receive load in-process; which
// says which ones ("send", "receive").
func profileLoads(ctx context.Context, st *stack, which []string) ([]profiled, error) {
	dir := filepath.Join(st.work, "profile")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("profile dir: %w", err)
	}
	ip, err := startInproc(ctx, st, dir)
	if err != nil {
		return nil, err
	}
	defer ip.close()
	ds, err := startDownstream(st.whSecret)
	if err != nil {
		return nil, err
	}
	defer ds.close()
	// The receiver logs the bot in, so the bot exists before users write.
	if err := ip.startReceiver(ctx, st, ds.url()); err != nil {
		return nil, err
	}
	n := min(st.opts.N, st.opts.M, 5000)
	users := make([]tgemu.User, n)
	for i := range users {
		if users[i], err = ip.emu.CreateUser(fmt.Sprintf("P%d", i), fmt.Sprintf("prof_user_%d", i)); err != nil {
			return nil, fmt.Errorf("in-process users: %w", err)
		}
	}
	// Pushes go through the control API over HTTP, as in the process run:
	// its handlers run in goroutines the emulator started, so labelled tgemu.
	emu := &emuClient{base: "http://" + ip.emu.HTTPAddr(), c: procrun.NewClient(st.opts.Concurrency*2, 10*time.Second), botID: st.botID()}
	push := func(ctx context.Context, i int, prefix string) (string, error) {
		text := fmt.Sprintf("%s %d", prefix, i)
		_, err := emu.push(ctx, users[i%n].ID, text)
		return text, err
	}
	// Users start the bot, so the sender may message them.
	for i := range users {
		if _, err := push(ctx, i, "hello"); err != nil {
			return nil, fmt.Errorf("in-process push: %w", err)
		}
	}
	senderURL, err := ip.startSender(ctx, st)
	if err != nil {
		return nil, err
	}
	var loads []string
	var gatewayURL string
	for _, w := range which {
		loads = append(loads, w)
		if w == "send" {
			// The same load through the minimal gateway, profiled apart:
			// what the sender spends that it does not.
			loads = append(loads, "send-minimal")
			if gatewayURL, err = ip.startMinimalGateway(ctx, st, users); err != nil {
				return nil, err
			}
		}
	}
	sendLoad := func(url, token string) procrun.Summary {
		hc := procrun.NewClient(st.opts.Concurrency, 30*time.Second)
		return procrun.Run(ctx, n, st.opts.Concurrency, loadTimeout, func(ctx context.Context, i int) error {
			in := map[string]any{"chat_id": users[i].ID, "text": fmt.Sprintf("profile send %d", i)}
			return procrun.DoJSON(ctx, hc, http.MethodPost, url, token, in, nil)
		})
	}

	var out []profiled
	for _, w := range loads {
		p := profiled{name: w, path: filepath.Join(dir, w+".prof")}
		f, err := os.Create(p.path)
		if err != nil {
			return out, fmt.Errorf("profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return out, fmt.Errorf("profile: %w", err)
		}
		start := time.Now()
		switch w {
		case "send":
			sum := sendLoad(senderURL+"/api_v1/send_message", st.apiToken)
			p.load = fmt.Sprintf("%d send_message calls through the REST API from %d clients: %s", n, st.opts.Concurrency, sum)
		case "send-minimal":
			sum := sendLoad(gatewayURL+"/send_message", "")
			p.load = fmt.Sprintf("the same %d send_message calls through the minimal Go HTTP gateway from %d clients: %s", n, st.opts.Concurrency, sum)
		case "receive":
			texts := make([]string, n)
			sum := procrun.Run(ctx, n, st.opts.Concurrency*2, loadTimeout, func(ctx context.Context, i int) error {
				var err error
				texts[i], err = push(ctx, i, "profile push")
				return err
			})
			missing := ds.waitAll(ctx, texts, deliveryTimeout)
			p.load = fmt.Sprintf("%d user messages pushed from %d goroutines (%s), %d not delivered", n, st.opts.Concurrency*2, sum, missing)
		}
		p.took = time.Since(start)
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return out, fmt.Errorf("profile: %w", err)
		}
		out = append(out, p)
	}
	for i := range out {
		out[i].top = map[string]string{}
		components := []string{"tgemu", "sender"}
		switch out[i].name {
		case "receive":
			components = []string{"tgemu", "receiver"}
		case "send-minimal":
			components = []string{"tgemu", minimalGatewayName}
		}
		for _, c := range components {
			top, err := profileTop(ctx, out[i].path, "-tagfocus="+profileLabel+"="+c)
			if err != nil {
				return out, err
			}
			out[i].top[c] = top
		}
		top, err := profileTop(ctx, out[i].path, "-tagignore="+profileLabel+"=.")
		if err != nil {
			return out, err
		}
		out[i].top["load generator"] = top
	}
	return out, nil
}
