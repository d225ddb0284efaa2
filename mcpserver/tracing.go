package mcpserver

import (
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowgate/flowgate/internal/tracing"
)

// traceHTTP makes each JSON-RPC request posted to /mcp a server span, the root of the
// trace of what it does: the Temporal calls, and through them the run's workflow,
// activities and gateway calls. The span continues the client's trace: the request's
// params._meta.traceparent (how MCP 2026-07-28 carries it, so it names this request and
// not the connection), else the HTTP traceparent header. It reads the message bufferBody
// parsed; without a tracer provider (tracing off) it is next itself, costing nothing.
// A GET's stream is not a span: it lasts as long as the session.
func (s *Server) traceHTTP(next http.Handler) http.Handler {
	if s.cfg.Tracing == nil {
		return next
	}
	tracer := s.cfg.Tracing.Tracer(tracing.ScopeName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := messageFrom(r.Context())
		if r.Method != http.MethodPost || !m.clean() || m.Method == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		p, _ := m.paramsOf()
		if tp, ok := p.Meta["traceparent"].(string); ok {
			carrier := propagation.MapCarrier{"traceparent": tp}
			if ts, ok := p.Meta["tracestate"].(string); ok {
				carrier["tracestate"] = ts
			}
			if meta := tracing.Propagator.Extract(r.Context(), carrier); trace.SpanContextFromContext(meta).IsValid() {
				ctx = meta
			}
		}
		// Span names follow OpenTelemetry's MCP conventions: "{method} {target}".
		name := clipEcho(m.Method, maxEcho)
		attrs := []attribute.KeyValue{attribute.String("mcp.method.name", name)}
		if m.isRequest() {
			attrs = append(attrs, attribute.String("jsonrpc.request.id", clipEcho(string(m.ID), maxEcho)))
		}
		if sid := r.Header.Get(server.HeaderKeySessionID); sid != "" {
			attrs = append(attrs, attribute.String("mcp.session.id", clipEcho(sid, maxEcho)))
		}
		switch {
		case m.is(mcp.MethodToolsCall) && p.Name != "":
			tool := clipEcho(p.Name, maxEcho)
			name += " " + tool
			attrs = append(attrs, attribute.String("gen_ai.tool.name", tool), attribute.String("gen_ai.operation.name", "execute_tool"))
		case p.URI != "":
			attrs = append(attrs, attribute.String("mcp.resource.uri", clipEcho(p.URI, 256)))
		}
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
}

// statusRecorder remembers the status a handler wrote. It unwraps for
// http.ResponseController, so the SSE responses still flush.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
