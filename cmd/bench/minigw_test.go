package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

func TestParseMinimalGateway(t *testing.T) {
	c := minimalGatewayConfig{Addr: "127.0.0.1:1", DCAddr: "127.0.0.1:2", PublicKey: "k.pub", SessionDir: "s", PeersFile: "p.json"}
	args := c.args()
	require.True(t, isMinimalGateway(args))
	require.False(t, isMinimalGateway([]string{"-quick"}))

	_, err := parseMinimalGateway(args[1:])
	require.ErrorContains(t, err, minimalGatewayTokenEnv)

	t.Setenv(minimalGatewayTokenEnv, "1:tok")
	got, err := parseMinimalGateway(args[1:])
	require.NoError(t, err)
	c.BotToken = "1:tok"
	require.Equal(t, c, got)

	_, err = parseMinimalGateway([]string{"-addr", "x"})
	require.Error(t, err)
}

func TestPeersRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw", "peers.json")
	require.NoError(t, writePeers(path, []emuUser{{ID: 5, AccessHash: -7, Username: "u"}, {ID: 6, AccessHash: 9}}))
	peers, err := readPeers(path)
	require.NoError(t, err)
	require.Equal(t, map[int64]int64{5: -7, 6: 9}, peers)
}

// The handler answers bad input before it reaches Telegram; a real send is
// covered by TestQuickRun, against the emulator.
func TestMinimalGatewayRejects(t *testing.T) {
	h := minimalGatewayHandler(nil, map[int64]int64{5: 1})
	post := func(body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/send_message", strings.NewReader(body)))
		return w
	}
	w := post(`{"chat_id":`)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), `"error"`)
	w = post(`{"chat_id":6,"text":"hi"}`)
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Contains(t, w.Body.String(), "unknown chat_id 6")

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, w.Code)
}

func TestSentMessageID(t *testing.T) {
	require.Equal(t, 3, sentMessageID(&tg.UpdateShortSentMessage{ID: 3}, 1))
	u := &tg.Updates{Updates: []tg.UpdateClass{
		&tg.UpdateMessageID{ID: 8, RandomID: 2},
		&tg.UpdateMessageID{ID: 9, RandomID: 1},
	}}
	require.Equal(t, 9, sentMessageID(u, 1))
	require.Zero(t, sentMessageID(u, 4))
}

// The note blames CPU only when the measured ratio is near what the CPU per
// message allows.
func TestCPUBoundNote(t *testing.T) {
	at := time.Unix(1000, 0)
	run := func(label string, perCall time.Duration) cpuRun {
		return cpuRun{
			sum:   procrun.Summary{N: 1000, Elapsed: time.Second},
			from:  cpuSample{at: at, used: map[string]time.Duration{"p": 0}},
			to:    cpuSample{at: at.Add(time.Second), used: map[string]time.Duration{"p": 1000 * perCall}},
			label: label, procs: []string{"p"},
		}
	}
	gw, base := run("the sender", 500*time.Microsecond), run("the minimal gateway", 400*time.Microsecond)
	note := cpuBoundNote(gw, base, 0.8)
	require.Contains(t, note, "a ratio of 0.80x: the measured 0.80x follows the CPU the sender adds")
	require.Contains(t, note, "p 500 µs")
	note = cpuBoundNote(gw, base, 0.6)
	require.Contains(t, note, "the measured 0.60x is below that")
	require.NotContains(t, note, "follows the CPU")
}
