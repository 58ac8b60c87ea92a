package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// startNATSCluster runs n JetStream servers in the bench process forming one
// cluster (n > 1; one plain server for n = 1), and returns them once
// JetStream has a meta leader.
func startNATSCluster(dir string, n int) ([]*server.Server, error) {
	if n == 1 {
		s, err := startNATS(dir)
		if err != nil {
			return nil, err
		}
		return []*server.Server{s}, nil
	}
	ports := make([]int, n)
	for i := range ports {
		a, err := procrun.FreeAddr()
		if err != nil {
			return nil, err
		}
		_, p, _ := strings.Cut(a, ":")
		_, _ = fmt.Sscan(p, &ports[i])
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	var out []*server.Server
	stop := func() {
		for _, s := range out {
			s.Shutdown()
		}
	}
	for i := range n {
		s, err := server.NewServer(&server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1",
			Port: server.RANDOM_PORT, JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprint(i+1)), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ","))})
		if err != nil {
			stop()
			return nil, fmt.Errorf("nats: %w", err)
		}
		go s.Start()
		out = append(out, s)
	}
	for _, s := range out {
		if !s.ReadyForConnections(10 * time.Second) {
			stop()
			return nil, errors.New("nats: not ready in 10s")
		}
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, s := range out {
			if s.JetStreamIsLeader() {
				return out, nil
			}
		}
	}
	stop()
	return nil, errors.New("nats: no JetStream meta leader in 20s")
}

// rxLeaseTTL is RECEIVER_LEASE_TTL of the receivers on NATS here.
const rxLeaseTTL = 2 * time.Second

// benchReceiverNATS runs the receiver on NATS with 1 and 3 stream replicas
// (DRIVER=http to the bench's downstream): events/s into TG_EVENTS and
// push-to-delivery p99 with M pushes; with 3, the takeover time after
// kill -9 of the active replica. The bbolt receiver is stopped meanwhile
// (one receiving session per bot).
func benchReceiverNATS(ctx context.Context, emu *emuClient, ds *downstream, st *stack, users []emuUser, res *result) {
	const metric = "receiver on NATS"
	if err := st.receiver.stop(); err != nil {
		errRow(res, metric, "", err)
		return
	}
	defer func() {
		if _, err := st.start(ctx, st.receiver); err != nil {
			res.note("Restarting the bbolt receiver: %v", err)
		}
	}()
	for _, replicas := range []int{1, 3} {
		if err := rxNATSRun(ctx, emu, ds, st, users, replicas, res); err != nil {
			errRow(res, fmt.Sprintf("%s, %d stream replica(s)", metric, replicas), "", err)
		}
	}
}

func rxNATSRun(ctx context.Context, emu *emuClient, ds *downstream, st *stack, users []emuUser, replicas int, res *result) error {
	servers, err := startNATSCluster(filepath.Join(st.work, fmt.Sprintf("nats-rx%d", replicas)), replicas)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}()
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	env := []string{"NATS_URL=" + strings.Join(urls, ","), fmt.Sprintf("NATS_STREAM_REPLICAS=%d", replicas),
		"RECEIVER_LEASE_TTL=" + rxLeaseTTL.String(), "DRIVER=http", "DRIVER_HTTP_URL=" + ds.url(),
		"DRIVER_HTTP_SECRET=" + st.whSecret}
	var rs []*service
	defer func() {
		for _, r := range rs {
			_ = r.stop()
		}
	}()
	count := 1
	if replicas == 3 {
		count = 2
	}
	for i := range count {
		r, err := st.newService(fmt.Sprintf("receiver-nats%d-%d", replicas, i+1), "RECEIVER_ADDR", env...)
		if err != nil {
			return err
		}
		r.bin = st.bin("receiver")
		rs = append(rs, r)
		if _, err := st.start(ctx, r); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		if i == 0 {
			if err := waitRole(ctx, r, "active", 60*time.Second); err != nil {
				return err
			}
		}
	}

	run, took, err := pushIntoStream(ctx, emu, ds, st, users, strings.Join(urls, ","), replicas)
	if err != nil {
		return err
	}
	m := st.opts.M
	res.note("receiver on NATS, %d stream replica(s): %d pushes at %.0f/s; in TG_EVENTS after %s; delivered %s",
		replicas, run.push.N, run.push.Rate(), fmtD(took), run.delivered)
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("receiver on NATS, %d stream replica(s): events/s into TG_EVENTS", replicas),
		Measured: fmt.Sprintf("%.0f/s", float64(m)/took.Seconds()),
		Baseline: fmt.Sprintf("%.0f/s", run.push.Rate()),
		Compare:  "push rate (emulator)",
		Status:   procrun.Info,
		Note:     "push to stored: each event published with Nats-Msg-Id and acknowledged before the bot's state moves; servers in the bench process, file storage, default sync_interval",
	})
	res.table.Add(procrun.Row{
		Metric:   fmt.Sprintf("receiver on NATS, %d stream replica(s): push to delivery p50 / p99", replicas),
		Measured: fmtD(run.delivered.P50) + " / " + fmtD(run.delivered.P99),
		Status:   procrun.Info,
		Note:     fmt.Sprintf("%d pushes as fast as possible, delivered from TG_DELIVERY's 16 partitions; %d missing", m, run.missing),
	})
	if len(rs) < 2 {
		return nil
	}
	return takeoverRow(ctx, rs[0], rs[1], res)
}

// takeoverRow kills the active replica a with SIGKILL and times until b is
// active.
func takeoverRow(ctx context.Context, a, b *service, res *result) error {
	if err := syscall.Kill(a.proc.PID(), syscall.SIGKILL); err != nil {
		return err
	}
	<-a.proc.Exited()
	killed := time.Now()
	a.proc = nil
	if err := waitRole(ctx, b, "active", rxLeaseTTL+30*time.Second); err != nil {
		return err
	}
	took := time.Since(killed)
	res.table.Add(procrun.Row{
		Metric:   "receiver on NATS: takeover after kill -9 of the active replica",
		Measured: fmtD(took),
		Goal:     fmt.Sprintf("<= %s (RECEIVER_LEASE_TTL + 1 s)", fmtD(rxLeaseTTL+time.Second)),
		Status:   procrun.Check(took <= rxLeaseTTL+time.Second),
		Note:     "until the standby's /readyz says active: lease expired and taken, state loaded, client connecting",
	})
	return nil
}

// pushIntoStream pushes M messages and returns the push run and how long
// until TG_EVENTS held them all.
func pushIntoStream(ctx context.Context, emu *emuClient, ds *downstream, st *stack, users []emuUser, url string, replicas int) (pushRun, time.Duration, error) {
	var run pushRun
	nc, err := nats.Connect(url)
	if err != nil {
		return run, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return run, 0, err
	}
	stream, err := js.Stream(ctx, "TG_EVENTS")
	if err != nil {
		return run, 0, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return run, 0, err
	}
	m := st.opts.M
	want := info.State.Msgs + uint64(m)
	inStream := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		for ctx.Err() == nil && time.Since(start) < loadTimeout {
			if i, err := stream.Info(ctx); err == nil && i.State.Msgs >= want {
				inStream <- time.Since(start)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		inStream <- 0
	}()
	run = pushAndWait(ctx, st, emu, ds, users, fmt.Sprintf("bench nats%d push", replicas), m, st.opts.Concurrency*2, 0)
	took := <-inStream
	if took == 0 {
		return run, 0, fmt.Errorf("TG_EVENTS did not get %d events in %s", m, loadTimeout)
	}
	return run, took, nil
}

// waitRole waits until the receiver's /readyz gives its bot role.
func waitRole(ctx context.Context, r *service, role string, timeout time.Duration) error {
	hc := procrun.NewClient(1, 2*time.Second)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var body struct {
			Bots []struct {
				Role string `json:"role"`
			} `json:"bots"`
		}
		if err := procrun.DoJSON(ctx, hc, "GET", r.url()+"/readyz", "", nil, &body); err == nil && len(body.Bots) == 1 && body.Bots[0].Role == role {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s: not %s in %s", r.name, role, timeout)
}
