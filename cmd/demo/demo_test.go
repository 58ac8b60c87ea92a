package main

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/procrun"
)

func testConfig(t *testing.T, binDir string) Config {
	// Ports 0: every service on a free loopback port.
	return Config{
		Once:         true,
		BinDir:       binDir,
		DataDir:      t.TempDir(),
		StartTimeout: 20 * time.Second,
		StepTimeout:  10 * time.Second,
		UserName:     "Alice",
	}
}

func TestDemoNeedsTheBinaries(t *testing.T) {
	err := run(context.Background(), testConfig(t, t.TempDir()), &procrun.Buffer{})
	require.ErrorContains(t, err, "start tgemu")
	require.ErrorContains(t, err, "make build")
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := config.LoadFrom[Config](map[string]string{})
	require.NoError(t, err)
	require.False(t, cfg.Once)
	require.Equal(t, []int{9443, 9080, 8002, 8001, 8003},
		[]int{cfg.EmuMTProtoPort, cfg.EmuHTTPPort, cfg.ReceiverPort, cfg.SenderPort, cfg.DownstreamPort})

	cfg, err = config.LoadFrom[Config](map[string]string{"DEMO_ONCE": "1"})
	require.NoError(t, err)
	require.True(t, cfg.Once)

	_, err = config.LoadFrom[Config](map[string]string{"DEMO_SENDER_PORT": "70000"})
	require.ErrorContains(t, err, "DEMO_SENDER_PORT")
}

func TestPickPortsReplacesBusyPorts(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	var out procrun.Buffer
	ports, err := pickPorts(&out, []namedPort{{"busy one", busyPort}, {"any", 0}, {"any too", 0}})
	require.NoError(t, err)
	require.Len(t, ports, 3)
	require.NotEqual(t, busyPort, ports[0])
	require.NotEqual(t, ports[1], ports[2])
	require.Contains(t, out.String(), fmt.Sprintf("port %d (busy one) is busy", busyPort))
	for _, p := range ports {
		l, err := net.Listen("tcp", hostPort(p))
		require.NoError(t, err, "picked ports are released for the services")
		l.Close()
	}
}
