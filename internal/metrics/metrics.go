// Package metrics collects a process's Prometheus metrics: the Temporal SDK's (through
// tally) and the MCP server's own (tool calls, latency, errors), served on /metrics.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Metrics is one process's registry.
type Metrics struct {
	reg *prometheus.Registry
	// sdkReg holds the Temporal SDK's metrics alone, so reading the workflow cache's
	// figures does not run the other collectors (the pile's counts among them).
	sdkReg   *prometheus.Registry
	sdk      client.MetricsHandler
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a registry with Go runtime, process, Temporal SDK and MCP tool metrics.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sdkReg := prometheus.NewRegistry()
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: sdkReg})
	scope, _ := tally.NewRootScope(tally.ScopeOptions{
		// No prefix: the SDK's metric names start with temporal_ already.
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	m := &Metrics{
		reg:    reg,
		sdkReg: sdkReg,
		sdk:    sdktally.NewMetricsHandler(scope),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowgate_mcp_tool_calls_total", Help: "MCP tool calls by tool and outcome (ok, tool_error).",
		}, []string{"tool", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flowgate_mcp_tool_call_seconds", Help: "MCP tool call latency by tool.",
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"tool"}),
	}
	reg.MustRegister(m.calls, m.duration)
	return m
}

// SDKHandler is the Temporal client's metrics handler.
func (m *Metrics) SDKHandler() client.MetricsHandler { return m.sdk }

// ObserveToolCall records one MCP tool call.
func (m *Metrics) ObserveToolCall(tool string, d time.Duration, isError bool) {
	outcome := "ok"
	if isError {
		outcome = "tool_error"
	}
	m.calls.WithLabelValues(tool, outcome).Inc()
	m.duration.WithLabelValues(tool).Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{m.reg, m.sdkReg}, promhttp.HandlerOpts{})
}

// WorkerCache is what the process's workflow cache has done since the process started,
// read from the Temporal SDK's own metrics (summed over workflow types).
type WorkerCache struct {
	// Runs is how many runs the cache holds now.
	Runs int64 `json:"runs"`
	// Hits are workflow tasks that found their run in the cache.
	Hits int64 `json:"hits"`
	// Misses are workflow tasks whose run had been evicted: each rebuilt it by replaying
	// its history from the start.
	Misses int64 `json:"misses"`
	// ForcedEvictions are runs pushed out, still running, to make room for others.
	ForcedEvictions int64 `json:"forced_evictions"`
	// HitRate is Hits over Hits+Misses, 0 before any task.
	HitRate float64 `json:"hit_rate"`
}

// WorkerCache reads the workflow cache's figures (zero before a worker in this process
// has reported any).
func (m *Metrics) WorkerCache() WorkerCache {
	families, _ := m.sdkReg.Gather()
	var wc WorkerCache
	for _, f := range families {
		var into *int64
		switch f.GetName() {
		case "temporal_sticky_cache_size":
			into = &wc.Runs
		case "temporal_sticky_cache_hit":
			into = &wc.Hits
		case "temporal_sticky_cache_miss":
			into = &wc.Misses
		case "temporal_sticky_cache_total_forced_eviction":
			into = &wc.ForcedEvictions
		default:
			continue
		}
		for _, metric := range f.GetMetric() {
			switch {
			case metric.GetGauge() != nil:
				// The size is one figure for the whole cache, reported under each type.
				*into = max(*into, int64(metric.GetGauge().GetValue()))
			case metric.GetCounter() != nil:
				*into += int64(metric.GetCounter().GetValue())
			}
		}
	}
	if wc.Hits+wc.Misses > 0 {
		wc.HitRate = float64(wc.Hits) / float64(wc.Hits+wc.Misses)
	}
	return wc
}

// CacheUse is what one of the embedded Temporal server's caches has done since the server
// started: lookups, and those that had to read the database.
type CacheUse struct {
	// Requests are lookups of a run in the cache.
	Requests int64 `json:"requests"`
	// Misses are lookups that did not find it and read it from the database.
	Misses int64 `json:"misses"`
	// HitRate is the share of lookups that found their run, 0 before any.
	HitRate float64 `json:"hit_rate"`
}

// ServerCaches are the embedded history service's caches: runs' mutable state and their
// history events.
type ServerCaches struct {
	MutableState CacheUse `json:"mutable_state"`
	Events       CacheUse `json:"events"`
}

// WatchServerCaches serves the embedded server's caches on /metrics as
// flowgate_server_cache_requests_total{cache} and flowgate_server_cache_misses_total{cache}.
func (m *Metrics) WatchServerCaches(read func() ServerCaches) error {
	return m.reg.Register(serverCacheCollector(read))
}

var (
	serverCacheRequestsDesc = prometheus.NewDesc("flowgate_server_cache_requests_total",
		"Lookups of a run in a cache of the embedded Temporal history service, by cache.", []string{"cache"}, nil)
	serverCacheMissesDesc = prometheus.NewDesc("flowgate_server_cache_misses_total",
		"Lookups that missed a cache of the embedded Temporal history service and read the database, by cache.", []string{"cache"}, nil)
)

type serverCacheCollector func() ServerCaches

func (c serverCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- serverCacheRequestsDesc
	ch <- serverCacheMissesDesc
}

func (c serverCacheCollector) Collect(ch chan<- prometheus.Metric) {
	caches := c()
	for name, use := range map[string]CacheUse{"mutable_state": caches.MutableState, "events": caches.Events} {
		ch <- prometheus.MustNewConstMetric(serverCacheRequestsDesc, prometheus.CounterValue, float64(use.Requests), name)
		ch <- prometheus.MustNewConstMetric(serverCacheMissesDesc, prometheus.CounterValue, float64(use.Misses), name)
	}
}

// Pile is the runs waiting for a person: by process and gate, and when the one that has
// waited longest started (nil when none waits).
type Pile struct {
	Waiting map[string]map[string]int64
	Oldest  *time.Time
}

// WatchPile serves the pile on /metrics as flowgate_waiting_approval_runs{process,gate}
// and flowgate_oldest_waiting_approval_age_seconds, read with read at each scrape (at most
// once every cacheFor, since a read costs a few dozen visibility counts).
// A registry serves one pile: a second is refused.
func (m *Metrics) WatchPile(read func(context.Context) (Pile, error), cacheFor time.Duration) error {
	return m.reg.Register(&pileCollector{read: read, cacheFor: cacheFor})
}

var (
	waitingDesc = prometheus.NewDesc("flowgate_waiting_approval_runs",
		"Runs waiting for a person's decision, by process and gate.", []string{"process", "gate"}, nil)
	oldestDesc = prometheus.NewDesc("flowgate_oldest_waiting_approval_age_seconds",
		"How long ago the longest-waiting run waiting for a decision started (0 when none waits).", nil, nil)
)

type pileCollector struct {
	read     func(context.Context) (Pile, error)
	cacheFor time.Duration
	mu       sync.Mutex
	last     Pile
	at       time.Time
}

func (c *pileCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- waitingDesc
	ch <- oldestDesc
}

func (c *pileCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) >= c.cacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := c.read(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(waitingDesc, err)
			return
		}
		c.last, c.at = p, time.Now()
	}
	for process, gates := range c.last.Waiting {
		for gate, n := range gates {
			ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(n), process, gate)
		}
	}
	age := 0.0
	if c.last.Oldest != nil {
		age = time.Since(*c.last.Oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}
