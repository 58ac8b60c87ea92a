package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

func value(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var d dto.Metric
	require.NoError(t, m.Write(&d))
	return &d
}

func TestSeriesMatchTheVectors(t *testing.T) {
	m := New().ForBot("1")
	m.ObserveHTTP("/api_v1/send_message", 200, 0.002)
	m.ObserveHTTP("/api_v1/send_message", 200, 0.004)
	m.ObserveHTTP("/api_v1/send_message", 400, 0.001)
	m.ObserveRPC("messages.sendMessage", "OK", 0.001)
	m.ObserveRPC("messages.sendMessage", "FLOOD_WAIT", 0.001)
	m.Sent("message")
	m.Sent("message")
	m.Sent("document")

	require.Equal(t, 2.0, value(t, m.HTTPRequests.WithLabelValues("/api_v1/send_message", "200")).GetCounter().GetValue())
	require.Equal(t, 1.0, value(t, m.HTTPRequests.WithLabelValues("/api_v1/send_message", "400")).GetCounter().GetValue())
	require.Equal(t, uint64(3), value(t, m.HTTPDuration.WithLabelValues("/api_v1/send_message").(prometheus.Histogram)).GetHistogram().GetSampleCount())
	require.Equal(t, uint64(2), value(t, m.RPCDuration.WithLabelValues("messages.sendMessage").(prometheus.Histogram)).GetHistogram().GetSampleCount())
	require.Equal(t, 1.0, value(t, m.RPCs.WithLabelValues("messages.sendMessage", "OK")).GetCounter().GetValue())
	require.Equal(t, 1.0, value(t, m.RPCs.WithLabelValues("messages.sendMessage", "FLOOD_WAIT")).GetCounter().GetValue())
	require.Equal(t, 2.0, value(t, m.MessagesSent.WithLabelValues("message")).GetCounter().GetValue())
	require.Equal(t, 1.0, value(t, m.MessagesSent.WithLabelValues("document")).GetCounter().GetValue())

	require.Zero(t, testing.AllocsPerRun(100, func() {
		m.ObserveHTTP("/api_v1/send_message", 200, 0.002)
		m.ObserveRPC("messages.sendMessage", "OK", 0.001)
		m.Sent("message")
	}), "a seen label tuple costs no allocation")
}
