package deployments

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
)

type scaleFile struct {
	Services map[string]struct {
		Image       string                       `json:"image"`
		Command     []string                     `json:"command"`
		Build       *struct{ Dockerfile string } `json:"build"`
		Environment map[string]string            `json:"environment"`
		Volumes     []string                     `json:"volumes"`
		Ports       []string                     `json:"ports"`
		DependsOn   map[string]any               `json:"depends_on"`
	} `json:"services"`
	Volumes map[string]any `json:"volumes"`
}

var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

// The scaled-out stack: 3 NATS nodes with JetStream on file storage in
// their own volumes, 2 receivers and 2 senders on all three, the emulator
// and the example downstream.
func TestComposeScale(t *testing.T) {
	data, err := os.ReadFile("docker-compose.scale.yml")
	require.NoError(t, err)
	var c scaleFile
	require.NoError(t, yaml.Unmarshal(data, &c))

	for _, n := range natsNodes {
		s, ok := c.Services[n]
		require.True(t, ok, n)
		require.True(t, strings.HasPrefix(s.Image, "nats:"), "%s: official nats image, got %q", n, s.Image)
		require.Equal(t, []string{"-c", "/etc/nats/nats.conf"}, s.Command, n)
		require.Equal(t, n, s.Environment["NATS_SERVER_NAME"], n)
		require.Contains(t, s.Volumes, "./nats/nats.conf:/etc/nats/nats.conf:ro", n)
		require.Contains(t, s.Volumes, n+"-data:/data", n)
		require.Contains(t, c.Volumes, n+"-data", n)
	}
	want := "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222"
	ports := map[string]bool{}
	for _, name := range []string{"receiver-1", "receiver-2", "sender-1", "sender-2"} {
		s, ok := c.Services[name]
		require.True(t, ok, name)
		kind := strings.SplitN(name, "-", 2)[0]
		require.Equal(t, "Dockerfile."+kind, s.Build.Dockerfile, name)
		require.Equal(t, want, s.Environment["NATS_URL"], name)
		require.Equal(t, "3", s.Environment["NATS_STREAM_REPLICAS"], name)
		require.Equal(t, "tgemu:9443", s.Environment["TG_DC_ADDR"], name)
		require.Contains(t, s.Volumes, name+"-data:/data", "%s: its own volume (its session)", name)
		for _, n := range natsNodes {
			require.Contains(t, s.DependsOn, n, name)
		}
		require.Len(t, s.Ports, 1, name)
		require.False(t, ports[s.Ports[0]], "%s: port %s taken twice", name, s.Ports[0])
		ports[s.Ports[0]] = true
		addr := s.Environment[strings.ToUpper(kind)+"_ADDR"]
		require.Equal(t, strings.SplitN(s.Ports[0], ":", 2)[1], strings.TrimPrefix(addr, ":"), name)
	}
	for _, name := range []string{"receiver-1", "receiver-2"} {
		require.Equal(t, "http://downstream:8003/events", c.Services[name].Environment["DRIVER_HTTP_URL"])
	}
	require.Contains(t, c.Services, "tgemu")
	require.Contains(t, c.Services, "downstream")
}

// deployments/nats/nats.conf is a configuration the real nats-server (the
// module's, built from the module cache) accepts, with JetStream on file
// storage, the cluster's three routes, and a stated sync_interval.
func TestNATSConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server (go test -short skips it)")
	}
	conf, err := os.ReadFile(filepath.Join("nats", "nats.conf"))
	require.NoError(t, err)
	for _, want := range []string{"store_dir: /data", "sync_interval: always", "nats-route://nats-1:6222",
		"nats-route://nats-2:6222", "nats-route://nats-3:6222", "server_name: $NATS_SERVER_NAME"} {
		require.Contains(t, string(conf), want)
	}
	bin := natstest.Build(t, t.TempDir())
	cmd := exec.Command(bin, "-c", filepath.Join("nats", "nats.conf"), "-t")
	cmd.Env = append(os.Environ(), "NATS_SERVER_NAME=nats-1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}
