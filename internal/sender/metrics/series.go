package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// The methods below are the hot path's way to the vectors: each keeps the
// series of a label tuple it has seen, so a request costs a read-locked map
// lookup instead of hashing its label values into the vector every time.
// Label tuples are few (route patterns and status codes, TL methods and
// error types, two kinds), so the maps stay small.

type httpKey struct {
	route  string
	status int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

type rpcKey struct{ method, code string }

type rpcSeries struct {
	calls    prometheus.Counter
	duration prometheus.Observer
}

// series caches one vector's children by their label values.
type series[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

func (s *series[K, V]) get(k K, resolve func(K) V) V {
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	v = resolve(k) // WithLabelValues returns the same child every time
	s.mu.Lock()
	if s.m == nil {
		s.m = map[K]V{}
	}
	s.m[k] = v
	s.mu.Unlock()
	return v
}

// ObserveHTTP counts a request to route answered with status and records
// its latency.
func (m *Metrics) ObserveHTTP(route string, status int, seconds float64) {
	s := m.http.get(httpKey{route, status}, func(k httpKey) httpSeries {
		return httpSeries{
			requests: m.HTTPRequests.WithLabelValues(k.route, strconv.Itoa(k.status)),
			duration: m.HTTPDuration.WithLabelValues(k.route),
		}
	})
	s.requests.Inc()
	s.duration.Observe(seconds)
}

// ObserveRPC counts a Telegram RPC by method and result code and records
// its latency.
func (m *Metrics) ObserveRPC(method, code string, seconds float64) {
	s := m.rpc.get(rpcKey{method, code}, func(k rpcKey) rpcSeries {
		return rpcSeries{
			calls:    m.RPCs.WithLabelValues(k.method, k.code),
			duration: m.RPCDuration.WithLabelValues(k.method),
		}
	})
	s.duration.Observe(seconds)
	s.calls.Inc()
}

// Sent counts a delivered message of kind ("message", "document").
func (m *Metrics) Sent(kind string) {
	m.sent.get(kind, func(k string) prometheus.Counter { return m.MessagesSent.WithLabelValues(k) }).Inc()
}
