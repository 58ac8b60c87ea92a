package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// buildBinaries builds the services into a temp dir, as `make build` would.
func buildBinaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries and runs them as processes (go test -short skips it)")
	}
	dir := t.TempDir()
	require.NoError(t, procrun.Build(dir, "github.com/tgbotsvc/tgbot/cmd/tgemu", "github.com/tgbotsvc/tgbot/cmd/sender",
		"github.com/tgbotsvc/tgbot/cmd/receiver"))
	return dir
}

// TestQuickRun runs the whole benchmark with -quick sizes against freshly
// built binaries and checks that every row was measured and the report
// written.
func TestQuickRun(t *testing.T) {
	start := time.Now()
	bin := buildBinaries(t)
	t.Logf("binaries built in %s", time.Since(start).Round(time.Millisecond))
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	opts := Options{BinDir: bin, Out: out, WorkDir: t.TempDir(), Quick: true}
	start = time.Now()
	table, err := Run(ctx, opts, &stdout)
	require.NoError(t, err, "output:\n%s", stdout.String())
	t.Logf("quick run in %s", time.Since(start).Round(time.Millisecond))

	wantRows := []string{
		"sender start-up to /readyz",
		"receiver start-up to /readyz",
		"sender RSS idle",
		"receiver RSS idle",
		"receiver events/s",
		"receiver push to delivery p50",
		"receiver push to delivery p99",
		"receiver events lost",
		"receiver peak RSS under receive load",
		"receiver catch-up after a restart",
		"receiver peak RSS, ",
		"sender peak RSS under send load",
		"send_message msg/s",
		"send_message p50 latency",
		"send_message p99 latency",
		"send_message msg/s, sender vs minimal Go HTTP gateway",
		"send_message p50 latency, sender vs minimal gateway",
		"send_message p99 latency, sender vs minimal gateway",
		"send_message errors",
		"bulk send to",
		"bulk send FLOOD_WAITs",
		"bulk send recipients failed",
		"send_message p50 / p99, NATS mode vs bbolt mode",
		"bulk to ",
		"create_document",
		"sender peak RSS growth during create_document",
		"sender peak RSS, large document over small",
		"10 bots in one receiver: ready after a restart",
		"10 bots in one receiver: RSS per extra bot",
		"10 bots in one receiver: events/s over all bots",
		"quiet bot p99 delivery while another has",
	}
	number := regexp.MustCompile(`[0-9]`)
	for _, want := range wantRows {
		var found *procrun.Row
		for i := range table.Rows {
			if strings.HasPrefix(table.Rows[i].Metric, want) {
				found = &table.Rows[i]
				break
			}
		}
		require.NotNil(t, found, "row %q missing; output:\n%s", want, stdout.String())
		require.NotEqual(t, procrun.Failed, found.Status, "row %q: %s", want, found.Note)
		require.Regexp(t, number, found.Measured, "row %q has no number", want)
	}

	doc, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Contains(t, string(doc), "| metric | measured | baseline | ratio/diff | goal | result |")
	require.Contains(t, string(doc), "Go: go1.")
	require.Contains(t, stdout.String(), "send_message msg/s")
}

// TestProfileLoads records the in-process CPU profiles of small send and
// receive loads (the send load also through the minimal gateway) and checks
// each component shows up with its own code.
func TestProfileLoads(t *testing.T) {
	opts := Options{Quick: true, N: 100, M: 100, WorkDir: t.TempDir()}
	opts.setDefaults()
	st := &stack{opts: opts, work: opts.WorkDir, botToken: "7000001:bench-secret", apiToken: "profile-test-token",
		whSecret: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	start := time.Now()
	profiles, err := profileLoads(ctx, st, []string{"send", "receive"})
	require.NoError(t, err)
	t.Logf("profiled in %s", time.Since(start).Round(time.Millisecond))
	require.Len(t, profiles, 3)
	send, mini, recv := profiles[0], profiles[1], profiles[2]
	require.Contains(t, send.load, "100 ok, 0 errors")
	require.Contains(t, mini.load, "minimal Go HTTP gateway")
	require.Contains(t, mini.load, "100 ok, 0 errors")
	require.Contains(t, mini.top[minimalGatewayName], "tagfocus=proc=minimal-gateway")
	require.Contains(t, recv.load, "0 not delivered")
	require.Contains(t, send.top["sender"], "tagfocus=proc=sender")
	require.Contains(t, recv.top["receiver"], "tagfocus=proc=receiver")
	require.Contains(t, send.top["load generator"], "tagignore=proc=.")
	for _, p := range profiles {
		info, err := os.Stat(p.path)
		require.NoError(t, err)
		require.Positive(t, info.Size())
	}
}
