package webhook_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	driver "github.com/tgbotsvc/tgbot/internal/receiver/driver/webhook"
)

// readmePython returns the Python block of the README's "Verifying the
// signature" section.
func readmePython(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(data), "### Verifying the signature")
	require.True(t, ok, "README has no signature section")
	section, _, _ = strings.Cut(section, "\n### ")
	_, code, ok := strings.Cut(section, "```python\n")
	require.True(t, ok, "the signature section has no python block")
	code, _, ok = strings.Cut(code, "```")
	require.True(t, ok)
	return code
}

// TestReadmePythonVerify runs the README's Python verify() with python3
// against deliveries signed by the receiver's webhook driver.
func TestReadmePythonVerify(t *testing.T) {
	py, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is required to check the README's Python snippet (apt-get install python3-minimal)")
	script := readmePython(t) + `
import json, sys
for c in json.load(sys.stdin):
    print(verify(c["secret"], c["headers"], c["body"].encode()))
`
	const secret = "whsec_c2VjcmV0LWNoYW5nZS1tZS1wbGVhc2UtMzItYnl0ZXM="
	body := `{"type":"message","id":"evt_1"}`
	type delivery struct {
		Name    string            `json:"name"`
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		Want    bool              `json:"-"`
	}
	signed := func(name, secret string, ts time.Time, body string, want bool) delivery {
		key, err := driver.ParseSecret(secret)
		require.NoError(t, err)
		return delivery{Name: name, Secret: secret, Body: body, Want: want, Headers: map[string]string{
			"webhook-id":        "msg_1",
			"webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
			"webhook-signature": "v0,bogus " + driver.Sign(key, "msg_1", ts.Unix(), []byte(body)),
		}}
	}
	now := time.Now()
	cases := []delivery{
		signed("valid", secret, now, body, true),
		signed("raw secret", "plain-secret-used-as-bytes", now, body, true),
		signed("clock skew within 5 minutes", secret, now.Add(-4*time.Minute), body, true),
		signed("too old", secret, now.Add(-6*time.Minute), body, false),
		signed("from the future", secret, now.Add(6*time.Minute), body, false),
	}
	tampered := signed("tampered body", secret, now, body, false)
	tampered.Body = strings.Replace(body, "evt_1", "evt_2", 1)
	wrongKey := signed("other secret", "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0zMmJ5dGVz", now, body, false)
	wrongKey.Secret = secret
	cases = append(cases, tampered, wrongKey)

	in, err := json.Marshal(cases)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "python3: %s", out)
	got := strings.Fields(string(out))
	require.Len(t, got, len(cases), "%s", out)
	for i, c := range cases {
		want := "False"
		if c.Want {
			want = "True"
		}
		require.Equal(t, want, got[i], c.Name)
	}
}
