// Package metrics defines the sender's Prometheus metrics on a registry of
// its own (never the global one), so several services can run in one
// process (the demo, the benchmarks) without colliding.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the sender's collectors. Label values never carry secrets or
// recipients: routes are chi patterns, methods are TL names, codes are
// Telegram error types.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // route, status
	HTTPDuration *prometheus.HistogramVec // route

	RPCs             *prometheus.CounterVec   // method, code ("OK" or Telegram's error type)
	RPCDuration      *prometheus.HistogramVec // method
	FloodWaits       *prometheus.CounterVec   // method
	FloodWaitSeconds prometheus.Counter
	RateLimitWait    *prometheus.HistogramVec // bucket ("global", "chat", "group")

	MessagesSent   *prometheus.CounterVec // kind ("message", "document")
	MessagesFailed *prometheus.CounterVec // code
	JobQueueDepth  prometheus.Gauge
	JobsFinished   *prometheus.CounterVec // status
	Ready          prometheus.Gauge

	http series[httpKey, httpSeries]
	rpc  series[rpcKey, rpcSeries]
	sent series[string, prometheus.Counter]
}

// New builds and registers the collectors, plus the Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sender_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
		RPCs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_telegram_rpc_total", Help: "Telegram RPCs by method and result (OK or the error type).",
		}, []string{"method", "code"}),
		RPCDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sender_telegram_rpc_duration_seconds", Help: "Telegram RPC latency by method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"method"}),
		FloodWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_telegram_flood_waits_total", Help: "FLOOD_WAIT errors received from Telegram, by method.",
		}, []string{"method"}),
		FloodWaitSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sender_telegram_flood_wait_seconds_total", Help: "Sum of the waits Telegram asked for in FLOOD_WAIT errors.",
		}),
		RateLimitWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sender_rate_limit_wait_seconds", Help: "Time sends waited for a token of the proactive rate limits.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}, []string{"bucket"}),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_messages_sent_total", Help: "Messages and documents delivered to Telegram.",
		}, []string{"kind"}),
		MessagesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_messages_failed_total", Help: "Sends that failed, by error code.",
		}, []string{"code"}),
		JobQueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sender_job_queue_depth", Help: "Recipients of unfinished bulk jobs still to be sent.",
		}),
		JobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_jobs_finished_total", Help: "Bulk jobs finished, by final status.",
		}, []string{"status"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sender_telegram_ready", Help: "1 when the Telegram client is connected and authorized.",
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration, m.RPCs, m.RPCDuration, m.FloodWaits, m.FloodWaitSeconds,
		m.RateLimitWait, m.MessagesSent, m.MessagesFailed, m.JobQueueDepth, m.JobsFinished, m.Ready,
	)
	return m
}
