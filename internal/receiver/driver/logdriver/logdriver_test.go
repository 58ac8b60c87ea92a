package logdriver

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

func TestWritesJSONLines(t *testing.T) {
	var buf bytes.Buffer
	d := New(zaptest.NewLogger(t), &buf)
	for _, id := range []string{"1:m1", "1:m2"} {
		require.NoError(t, d.Deliver(context.Background(), event.Event{ID: id, Type: event.TypeMessage}))
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var ev event.Event
	require.NoError(t, json.Unmarshal(lines[1], &ev))
	require.Equal(t, "1:m2", ev.ID)
	require.NoError(t, New(zaptest.NewLogger(t), nil).Deliver(context.Background(), ev))
}
