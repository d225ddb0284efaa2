package devserver

import (
	"sync/atomic"

	fgmetrics "github.com/flowgate/flowgate/internal/metrics"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
)

// Caches reads what the history service's caches (runs' mutable state, bounded by
// Options.HistoryCacheSize, and their history events) have done since the server started.
func (s *Server) Caches() fgmetrics.ServerCaches {
	return fgmetrics.ServerCaches{MutableState: s.caches.mutableState.use(), Events: s.caches.events.use()}
}

// cacheCounters count the lookups and misses of one cache. onRequest and onMiss are the
// counters handed to the server, made once: it asks for one at every cache lookup.
type cacheCounters struct {
	requests, misses  atomic.Int64
	onRequest, onMiss metrics.CounterFunc
}

func (c *cacheCounters) init() {
	c.onRequest = func(n int64, _ ...metrics.Tag) { c.requests.Add(n) }
	c.onMiss = func(n int64, _ ...metrics.Tag) { c.misses.Add(n) }
}

func (c *cacheCounters) use() fgmetrics.CacheUse {
	u := fgmetrics.CacheUse{Requests: c.requests.Load(), Misses: c.misses.Load()}
	if u.Requests > 0 {
		u.HitRate = float64(u.Requests-min(u.Misses, u.Requests)) / float64(u.Requests)
	}
	return u
}

// cacheMetrics is the embedded server's metrics handler: it keeps the history caches'
// lookups and misses, and drops every other metric, so the server pays for no metric
// nobody reads.
type cacheMetrics struct {
	mutableState, events cacheCounters
}

func newCacheMetrics() *cacheMetrics {
	m := &cacheMetrics{}
	m.mutableState.init()
	m.events.init()
	return m
}

// taggedCacheMetrics is the handler with the cache it counts for (nil: none).
type taggedCacheMetrics struct {
	root  *cacheMetrics
	cache *cacheCounters
}

func (m *cacheMetrics) handler() metrics.Handler { return taggedCacheMetrics{root: m} }

// WithTags picks out the cache_type tag; the other tags change nothing that is kept.
func (h taggedCacheMetrics) WithTags(tags ...metrics.Tag) metrics.Handler {
	for _, t := range tags {
		if t.Key != metrics.CacheTypeTagName {
			continue
		}
		switch t.Value {
		case metrics.MutableStateCacheTypeTagValue:
			h.cache = &h.root.mutableState
		case metrics.EventsCacheTypeTagValue:
			h.cache = &h.root.events
		default:
			h.cache = nil
		}
	}
	return h
}

// Counter counts cache_requests and cache_miss of a tagged cache.
func (h taggedCacheMetrics) Counter(name string) metrics.CounterIface {
	if h.cache == nil {
		return metrics.NoopCounterMetricFunc
	}
	switch name {
	case metrics.CacheRequests.Name():
		return h.cache.onRequest
	case metrics.CacheMissCounter.Name():
		return h.cache.onMiss
	}
	return metrics.NoopCounterMetricFunc
}

func (taggedCacheMetrics) Gauge(string) metrics.GaugeIface { return metrics.NoopGaugeMetricFunc }
func (taggedCacheMetrics) Timer(string) metrics.TimerIface { return metrics.NoopTimerMetricFunc }
func (taggedCacheMetrics) Histogram(string, metrics.MetricUnit) metrics.HistogramIface {
	return metrics.NoopHistogramMetricFunc
}
func (taggedCacheMetrics) Stop(log.Logger) {}

// StartBatch hands out the handler itself: its metrics are recorded one by one.
func (h taggedCacheMetrics) StartBatch(string) metrics.BatchHandler { return batchCacheMetrics{h} }

type batchCacheMetrics struct{ taggedCacheMetrics }

func (batchCacheMetrics) Close() error { return nil }
