// Package metrics holds the receiver's Prometheus collectors, registered on
// a registry of their own (not the global one), so several services can run
// in one process (tests, the demo) and /metrics shows only ours.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the receiver's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	// Updates counts Telegram updates received, by kind.
	Updates *prometheus.CounterVec
	// EventsQueued counts events committed to the outbox, by type.
	EventsQueued *prometheus.CounterVec
	// Delivered counts events delivered downstream.
	Delivered prometheus.Counter
	// Retried counts failed delivery attempts that will be retried.
	Retried prometheus.Counter
	// DeadLettered counts events moved to the dead letters.
	DeadLettered prometheus.Counter
	// DeliveryLatency is the time from an event entering the outbox to its
	// delivery.
	DeliveryLatency prometheus.Histogram
	// AttemptLatency is the duration of one driver call.
	AttemptLatency prometheus.Histogram
	// CommitLatency is the duration of one outbox commit (fsync'ed bbolt
	// transaction carrying a batch of events, acks and update state).
	CommitLatency prometheus.Histogram
	// CommitOps is the number of operations per commit.
	CommitOps prometheus.Histogram
	// HandlerRuns counts handler runs by handler and result (ok, error, panic).
	HandlerRuns *prometheus.CounterVec
	// HandlerPanics counts recovered handler panics.
	HandlerPanics prometheus.Counter
	// HandlerDropped counts updates not handled because a chat's queue was full.
	HandlerDropped prometheus.Counter
}

// New creates the collectors on a new registry. depth reports the outbox
// depth at scrape time.
func New(depth func() float64) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_updates_total", Help: "Telegram updates received, by kind.",
		}, []string{"kind"}),
		EventsQueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_events_queued_total", Help: "Events committed to the outbox, by type.",
		}, []string{"type"}),
		Delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "receiver_events_delivered_total", Help: "Events delivered downstream.",
		}),
		Retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "receiver_events_retried_total", Help: "Failed delivery attempts that will be retried.",
		}),
		DeadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "receiver_events_dead_lettered_total", Help: "Events moved to the dead letters.",
		}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_delivery_latency_seconds",
			Help:    "Time from an event entering the outbox to its successful delivery.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		AttemptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_driver_request_seconds",
			Help:    "Duration of one delivery attempt (driver call).",
			Buckets: prometheus.DefBuckets,
		}),
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_outbox_commit_seconds",
			Help:    "Duration of one outbox commit (a group of events, acks and update state in one fsync'ed transaction).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		CommitOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_outbox_commit_ops",
			Help:    "Operations (events added, acked, rewritten, dead-lettered) per outbox commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		HandlerRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_handler_runs_total", Help: "Handler runs by handler and result (ok, error, panic).",
		}, []string{"handler", "result"}),
		HandlerPanics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "receiver_handler_panics_total", Help: "Handler panics recovered.",
		}),
		HandlerDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "receiver_handler_dropped_total", Help: "Updates not given to handlers because their chat's queue was full.",
		}),
	}
	m.Registry.MustRegister(
		m.Updates, m.EventsQueued, m.Delivered, m.Retried, m.DeadLettered,
		m.DeliveryLatency, m.AttemptLatency, m.CommitLatency, m.CommitOps, m.HandlerRuns, m.HandlerPanics, m.HandlerDropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "receiver_outbox_depth", Help: "Events waiting in the outbox for delivery.",
		}, depth),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}
