package procrun

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Free ports are distinct, bindable, and below the ephemeral range, where
// no outgoing connection can take them before the child binds.
func TestFreePortsAvoidEphemeralRange(t *testing.T) {
	ports, err := FreePorts(50)
	require.NoError(t, err)
	more, err := FreePorts(50)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range append(ports, more...) {
		require.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		require.Less(t, p, ephemeralLow())
		require.GreaterOrEqual(t, p, 1024)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err, "port %d", p)
		require.NoError(t, l.Close())
	}
	addr, err := FreeAddr()
	require.NoError(t, err)
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
}
