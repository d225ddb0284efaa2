// Package metrics collects a process's Prometheus metrics: the Temporal SDK's (through
// tally) and the MCP server's own (tool calls, latency, errors), served on /metrics.
package metrics

import (
	"net/http"
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
	reg      *prometheus.Registry
	sdk      client.MetricsHandler
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a registry with Go runtime, process, Temporal SDK and MCP tool metrics.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg})
	scope, _ := tally.NewRootScope(tally.ScopeOptions{
		Prefix:          "temporal",
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	m := &Metrics{
		reg: reg,
		sdk: sdktally.NewMetricsHandler(scope),
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
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
