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

// New builds and registers the HTTP collectors, plus the Go and process
// collectors; the Telegram and sending collectors are per bot (ForBot).
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
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration,
	)
	return m
}

// ForBot returns the metrics of one bot: the HTTP collectors are m's, the
// Telegram and sending ones are new, labelled bot="<bot>" and registered on
// m's registry. Unregister removes them when the bot goes.
func (m *Metrics) ForBot(bot string) *Metrics {
	l := prometheus.Labels{"bot": bot}
	b := &Metrics{
		Registry:     m.Registry,
		HTTPRequests: m.HTTPRequests,
		HTTPDuration: m.HTTPDuration,
		RPCs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_telegram_rpc_total", Help: "Telegram RPCs by method and result (OK or the error type).", ConstLabels: l,
		}, []string{"method", "code"}),
		RPCDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sender_telegram_rpc_duration_seconds", Help: "Telegram RPC latency by method.", ConstLabels: l,
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"method"}),
		FloodWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_telegram_flood_waits_total", Help: "FLOOD_WAIT errors received from Telegram, by method.", ConstLabels: l,
		}, []string{"method"}),
		FloodWaitSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sender_telegram_flood_wait_seconds_total", Help: "Sum of the waits Telegram asked for in FLOOD_WAIT errors.", ConstLabels: l,
		}),
		RateLimitWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sender_rate_limit_wait_seconds", Help: "Time sends waited for a token of the proactive rate limits.", ConstLabels: l,
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}, []string{"bucket"}),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_messages_sent_total", Help: "Messages and documents delivered to Telegram.", ConstLabels: l,
		}, []string{"kind"}),
		MessagesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_messages_failed_total", Help: "Sends that failed, by error code.", ConstLabels: l,
		}, []string{"code"}),
		JobQueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sender_job_queue_depth", Help: "Recipients of unfinished bulk jobs still to be sent.", ConstLabels: l,
		}),
		JobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_jobs_finished_total", Help: "Bulk jobs finished, by final status.", ConstLabels: l,
		}, []string{"status"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sender_telegram_ready", Help: "1 when the bot's Telegram client is connected and authorized.", ConstLabels: l,
		}),
	}
	for _, c := range b.botCollectors() {
		m.Registry.MustRegister(c)
	}
	return b
}

func (m *Metrics) botCollectors() []prometheus.Collector {
	return []prometheus.Collector{m.RPCs, m.RPCDuration, m.FloodWaits, m.FloodWaitSeconds,
		m.RateLimitWait, m.MessagesSent, m.MessagesFailed, m.JobQueueDepth, m.JobsFinished, m.Ready}
}

// Unregister removes a bot's collectors (from ForBot) from the registry.
func (m *Metrics) Unregister() {
	for _, c := range m.botCollectors() {
		m.Registry.Unregister(c)
	}
}
