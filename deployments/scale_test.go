package deployments

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
)

// The receivers of the scaled-out stack: two, on all three NATS nodes, each
// with its own volume and host port, delivering to the example downstream,
// which answers through the senders' load balancer.
func TestComposeScaleReceivers(t *testing.T) {
	c := load(t, "docker-compose.scale.yml")
	ports := map[string]bool{}
	for _, name := range []string{"receiver1", "receiver2"} {
		s, ok := c.Services[name]
		require.True(t, ok, name)
		require.Equal(t, "Dockerfile.receiver", s.Build.Dockerfile, name)
		require.Equal(t, "nats://nats1:4222,nats://nats2:4222,nats://nats3:4222", s.Environment["NATS_URL"], name)
		require.Equal(t, "3", s.Environment["NATS_STREAM_REPLICAS"], name)
		require.Equal(t, "/data", s.Environment["DATA_DIR"], name)
		require.Equal(t, "http://downstream:8003/events", s.Environment["DRIVER_HTTP_URL"], name)
		require.Equal(t, []string{name + "-data:/data"}, s.Volumes, "%s: its own DATA_DIR (its session)", name)
		require.Contains(t, c.Volumes, name+"-data")
		require.Len(t, s.Ports, 1, name)
		require.False(t, ports[s.Ports[0]], "host port %s twice", s.Ports[0])
		ports[s.Ports[0]] = true
	}
	d, ok := c.Services["downstream"]
	require.True(t, ok)
	require.Equal(t, "http://sender-lb:8001", d.Environment["SENDER_URL"])
	for _, name := range []string{"nats1", "nats2", "nats3"} {
		require.Contains(t, c.Volumes, name+"-data")
	}
}

// deployments/nats/nats.conf is a configuration the real nats-server (the
// module's, built from the module cache) accepts.
func TestNATSConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server (go test -short skips it)")
	}
	conf, err := os.ReadFile(filepath.Join("nats", "nats.conf"))
	require.NoError(t, err)
	for _, want := range []string{"store_dir: /data", "nats-route://nats1:6222", "nats-route://nats2:6222", "nats-route://nats3:6222"} {
		require.Contains(t, string(conf), want)
	}
	bin := natstest.Build(t, t.TempDir())
	cmd := exec.Command(bin, "-c", filepath.Join("nats", "nats.conf"), "-t")
	cmd.Env = append(os.Environ(), "SERVER_NAME=nats1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}
