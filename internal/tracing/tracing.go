// Package tracing turns OpenTelemetry traces on when the standard OTEL_* variables ask
// for them, and off (a nil provider: nothing is wrapped, nothing is exported) otherwise.
// One trace then follows a run from the MCP request through the Temporal calls, the
// workflow and its activities to the gateway's backends.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Propagator carries a trace across processes: W3C traceparent/tracestate and baggage.
// Every hop uses it explicitly, so nothing depends on OpenTelemetry's global propagator,
// which is a no-op until someone sets it.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// ScopeName names the tracers Flowgate's own spans come from.
const ScopeName = "github.com/flowgate/flowgate"

// Requested says whether the environment asks for traces: an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), or
// OTEL_TRACES_EXPORTER names an exporter (Setup refuses any but otlp);
// OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turns them off whatever else is set.
func Requested(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	switch exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exporter {
	case "none":
		return false
	case "":
	default:
		return true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup reads the OTEL_* variables and, when they ask for traces, returns a provider
// that batches spans to the OTLP exporter they configure (http/protobuf unless
// OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL says grpc), and sets it and Propagator as
// OpenTelemetry's globals. Otherwise it returns a nil provider: tracing is off. Call
// shutdown before exiting, to send the spans still in the batch.
func Setup(ctx context.Context, logger *slog.Logger) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !Requested(os.Getenv) {
		return nil, noop, nil
	}
	if e := strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))); e != "" && e != "otlp" && e != "none" {
		return nil, noop, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: Flowgate exports traces with otlp only (or none)", e)
	}
	protocol := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if protocol == "" {
		protocol = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	var exporter sdktrace.SpanExporter
	switch protocol {
	case "", "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, noop, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: allowed are http/protobuf and grpc", protocol)
	}
	if err != nil {
		return nil, noop, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	// resource.Default reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; without a
	// service name the spans say flowgate.
	res := resource.Default()
	if os.Getenv("OTEL_SERVICE_NAME") == "" && !strings.Contains(os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.name=") {
		if merged, err := resource.Merge(res, resource.NewSchemaless(semconv.ServiceName("flowgate"))); err == nil {
			res = merged
		}
	}
	// The sampler is OTEL_TRACES_SAMPLER's (parent-based, always on by default).
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(Propagator)
	logger.Info("tracing on: spans go to the OTLP exporter", "protocol", cmpOr(protocol, "http/protobuf"),
		"endpoint", cmpOr(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "the exporter's default"))
	return provider, provider.Shutdown, nil
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// TemporalInterceptor is the Temporal SDK's OpenTelemetry interceptor over tp. Set on a
// client, it also intercepts every worker made from that client (the SDK hands a client
// interceptor that is a worker interceptor to its workers), so it spans the start, update
// and query calls, the workflow (RunWorkflow) and each activity (StartActivity,
// RunActivity), joined through the runs' Temporal headers.
func TemporalInterceptor(tp trace.TracerProvider) (interceptor.Interceptor, error) {
	if tp == nil {
		return nil, errors.New("tracing: no tracer provider")
	}
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            tp.Tracer("temporal-sdk-go"),
		TextMapPropagator: Propagator,
	})
}

// Transport wraps base (nil: http.DefaultTransport) so each request is a client span
// that sends its traceparent to the server; with a nil tp it returns base unchanged.
func Transport(tp trace.TracerProvider, base http.RoundTripper) http.RoundTripper {
	if tp == nil {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(Propagator))
}

// TraceID is the id of the trace ctx's span belongs to, or "" when there is none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.TraceID().IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
