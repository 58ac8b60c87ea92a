package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

func TestParseFlags(t *testing.T) {
	var out bytes.Buffer
	opts, exit, err := parseFlags([]string{"-quick", "-n", "42", "-out", ""}, &out)
	require.NoError(t, err)
	require.False(t, exit)
	require.True(t, opts.Quick)
	require.Equal(t, 42, opts.N)
	require.Empty(t, opts.Out)
	require.Equal(t, DefaultOptions(true).M, opts.M)

	opts, exit, err = parseFlags(nil, &out)
	require.NoError(t, err)
	require.False(t, exit)
	require.Equal(t, DefaultOptions(false).N, opts.N)
	require.Equal(t, "docs/BENCHMARKS.md", opts.Out)

	out.Reset()
	_, exit, err = parseFlags([]string{"-h"}, &out)
	require.NoError(t, err)
	require.True(t, exit)
	require.Contains(t, out.String(), "-bulk-rate")

	_, exit, err = parseFlags([]string{"-nope"}, &out)
	require.Error(t, err)
	require.True(t, exit)
}

func TestNewStackNeedsBinaries(t *testing.T) {
	_, err := newStack(Options{BinDir: t.TempDir()}, t.TempDir())
	require.ErrorContains(t, err, "make build")
}

func TestDownstreamVerifiesAndRecords(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	ds, err := startDownstream("whsec_" + base64.StdEncoding.EncodeToString(key))
	require.NoError(t, err)
	defer func() { require.NoError(t, ds.close()) }()

	body := []byte(`{"id":"e1","type":"message","message":{"id":7,"text":"hi"}}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	post := func(sig string) int {
		req, err := http.NewRequest(http.MethodPost, ds.url(), bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("webhook-id", "e1")
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("e1." + ts + "."))
	mac.Write(body)
	good := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))

	require.Equal(t, http.StatusUnauthorized, post("v1,AAAA"))
	require.Equal(t, 1, ds.waitAll(context.Background(), []string{"hi"}, 10*time.Millisecond))
	require.Equal(t, http.StatusOK, post("v1,bm9wZQ== "+good))
	require.Zero(t, ds.waitAll(context.Background(), []string{"hi"}, time.Second))
	a, ok := ds.lookup("hi")
	require.True(t, ok)
	require.Equal(t, 7, a.messageID)
	events, bad, badBody := ds.counters()
	require.Equal(t, 1, events)
	require.Equal(t, 1, bad)
	require.Zero(t, badBody)
}

func TestToProfile(t *testing.T) {
	var tb procrun.Table
	tb.Add(procrun.Row{Metric: "send_message msg/s, sender vs bare client", Status: procrun.Miss})
	tb.Add(procrun.Row{Metric: "receiver peak RSS under receive load (now)", Status: procrun.Miss})
	tb.Add(procrun.Row{Metric: "receiver events/s, push to signed delivery", Status: procrun.Pass})
	require.Equal(t, []string{"send"}, toProfile("auto", &tb))
	require.Equal(t, []string{"send", "receive"}, toProfile("always", &tb))
	require.Empty(t, toProfile("never", &tb))
	tb.Add(procrun.Row{Metric: "receiver push to delivery p99", Status: procrun.Miss})
	require.Equal(t, []string{"send", "receive"}, toProfile("auto", &tb))
}
