package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// exampleMark precedes each fenced shell block of the README that runs as it
// is against `make demo`.
const exampleMark = "<!-- demo-example -->\n```sh\n"

// readmeExamples returns the README's marked shell blocks, in order.
func readmeExamples(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	var blocks []string
	rest := string(data)
	for {
		var ok bool
		if _, rest, ok = strings.Cut(rest, exampleMark); !ok {
			break
		}
		block, after, ok := strings.Cut(rest, "```")
		require.True(t, ok, "an unterminated demo example in README.md")
		blocks = append(blocks, block)
		rest = after
	}
	return blocks
}

func TestReadmeExamplesAreTheDemosCommands(t *testing.T) {
	blocks := readmeExamples(t)
	require.GreaterOrEqual(t, len(blocks), 3, "README.md: the demo section, the sender API and the dead letters")
	require.Equal(t, howToCommands, blocks[0], "the demo section shows the commands the demo prints")
	// Short URLs (curl :8002/...) fail with the curl of Debian 12; every
	// example names the service by its variable.
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	require.NotRegexp(t, `curl[^\n]* :\d+/`, string(readme))
	vars := map[string]bool{}
	for _, v := range (&stack{}).shellVars(&script{}) {
		vars[v[0]] = true
	}
	// Besides those, an example may only use the variables it sets itself.
	assigned := regexp.MustCompile(`(?m)(?:^\s*|;\s*)([A-Za-z_][A-Za-z0-9_]*)=`)
	for _, b := range blocks {
		local := map[string]bool{}
		for _, m := range assigned.FindAllStringSubmatch(b, -1) {
			local[m[1]] = true
		}
		for _, m := range regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(b, -1) {
			require.True(t, vars[m[1]] || local[m[1]], "README example uses $%s, which the demo does not print:\n%s", m[1], b)
		}
	}
}

// TestReadmeExamples starts the demo (it keeps running), pastes the shell
// variables it prints into bash and runs every marked README example with
// curl: each curl must get a 2xx, and the messages must reach the user.
func TestReadmeExamples(t *testing.T) {
	bin := builtServices(t)
	curl, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is required to run the README's examples (apt-get install curl)")
	bash, err := exec.LookPath("bash")
	require.NoError(t, err)
	blocks := readmeExamples(t)
	require.GreaterOrEqual(t, len(blocks), 3)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := testConfig(t, bin)
	cfg.Once = false
	var out procrun.Buffer
	done := make(chan error, 1)
	runCtx, stopDemo := context.WithCancel(ctx)
	defer stopDemo()
	go func() { done <- run(runCtx, cfg, &out) }()
	defer func() {
		stopDemo()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(time.Minute):
			t.Error("the demo did not stop within a minute")
		}
		t.Logf("demo output:\n%s", out.String())
	}()

	vars := waitShellVars(t, ctx, &out, done)

	// curl as the examples call it, but failing on HTTP errors and bounded.
	wrapDir := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s --fail-with-body -sS --max-time 20 \"$@\"\n", curl)
	require.NoError(t, os.WriteFile(filepath.Join(wrapDir, "curl"), []byte(wrapper), 0o700))
	work := t.TempDir()
	// The wrapper makes an HTTP error fail the script.
	probe := exec.CommandContext(ctx, bash, "-c", vars+"curl $EMU/no-such-route")
	probe.Env = append(os.Environ(), "PATH="+wrapDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	probeOut, err := probe.CombinedOutput()
	require.Error(t, err, "a 404 must fail the examples: %s", probeOut)
	script := "set -euo pipefail\n" + vars + "set -x\n" + strings.Join(blocks, "\n")
	require.NoError(t, os.WriteFile(filepath.Join(work, "examples.sh"), []byte(script), 0o600))
	shCtx, shCancel := context.WithTimeout(ctx, 90*time.Second)
	defer shCancel()
	cmd := exec.CommandContext(shCtx, bash, "examples.sh")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+wrapDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	shOut, err := cmd.CombinedOutput()
	t.Logf("README examples:\n%s", shOut)
	require.NoError(t, err, "a README example failed (see its output above)")
	require.FileExists(t, filepath.Join(work, "report.txt"), "the examples make the file they upload")

	waitChat(t, ctx, vars, map[string]int{
		"Hi from curl": 1, "You said: Hello bot": 1, "Shipped!": 1, "hi": 1, "news": 1, "one": 1, "two": 1,
		"[report.txt] Q3 report": 1, "[report.txt] ": 1, "You said: lost and found": 1,
	})
}

// waitShellVars waits until the demo has printed its shell variables and
// returns their lines as printed.
func waitShellVars(t *testing.T, ctx context.Context, out *procrun.Buffer, done <-chan error) string {
	t.Helper()
	const head, tail = "the README's examples use them:\n\n", "\n\nThen try:"
	for {
		s := out.String()
		if _, rest, ok := strings.Cut(s, head); ok {
			if lines, _, ok := strings.Cut(rest, tail); ok {
				require.Regexp(t, `^(?:[A-Z_]+=\S+\n)+$`, lines+"\n")
				return lines + "\n"
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the demo ended before printing its shell variables: %v", err)
		case <-ctx.Done():
			t.Fatalf("the demo printed no shell variables in time")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitChat waits until the user's chat has, from the bot, at least the
// given number of messages with each text ("[name] caption" for a document).
func waitChat(t *testing.T, ctx context.Context, vars string, want map[string]int) {
	t.Helper()
	get := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindStringSubmatch(vars)
		require.NotNil(t, m, name)
		return m[1]
	}
	url := fmt.Sprintf("%s/v1/users/%s/messages", get("EMU"), get("USER_ID"))
	client := &http.Client{Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var chat struct {
			Messages []chatMessage `json:"messages"`
		}
		require.NoError(t, procrun.DoJSON(ctx, client, http.MethodGet, url, "", nil, &chat))
		got := map[string]int{}
		for _, m := range chat.Messages {
			if !m.Out {
				continue
			}
			if m.Document != nil {
				got["["+m.Document.Name+"] "+m.Text]++
			} else {
				got[m.Text]++
			}
		}
		missing := map[string]int{}
		for text, n := range want {
			if got[text] < n {
				missing[text] = n - got[text]
			}
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the chat lacks bot messages %v (it has %v)", missing, got)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
