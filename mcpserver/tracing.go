package mcpserver

import (
	"context"
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
		p, _ := m.paramsOf()
		ctx := continueTrace(tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)), p.Meta)
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
			var tool []attribute.KeyValue
			name, tool = toolSpan(p.Name)
			attrs = append(attrs, tool...)
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

// traceTool makes a tool call a server span where no transport made one: over stdio,
// which has no HTTP request for traceHTTP to wrap, the span continues the call's
// params._meta.traceparent, so an agent's trace reaches the run over stdio too. Over
// HTTP the request's span is already in ctx and the call is left to it.
func (s *Server) traceTool(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	if s.cfg.Tracing == nil {
		return next
	}
	tracer := s.cfg.Tracing.Tracer(tracing.ScopeName)
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, req)
		}
		var meta map[string]any
		if req.Params.Meta != nil {
			meta = req.Params.Meta.AdditionalFields
		}
		name, attrs := toolSpan(req.Params.Name)
		attrs = append(attrs, attribute.String("mcp.method.name", string(mcp.MethodToolsCall)))
		ctx, span := tracer.Start(continueTrace(ctx, meta), name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		defer span.End()
		res, err := next(ctx, req)
		if err != nil {
			span.SetStatus(codes.Error, "the call failed")
		}
		return res, err
	}
}

// toolSpan is the name and attributes of a tool call's span, after OpenTelemetry's MCP
// conventions: "tools/call {tool}".
func toolSpan(tool string) (string, []attribute.KeyValue) {
	tool = clipEcho(tool, maxEcho)
	return string(mcp.MethodToolsCall) + " " + tool, []attribute.KeyValue{
		attribute.String("gen_ai.tool.name", tool), attribute.String("gen_ai.operation.name", "execute_tool")}
}

// continueTrace is ctx continuing the trace a request's params._meta names (traceparent
// and tracestate, as MCP 2026-07-28 carries them); ctx itself when meta names none.
func continueTrace(ctx context.Context, meta map[string]any) context.Context {
	tp, ok := meta["traceparent"].(string)
	if !ok {
		return ctx
	}
	carrier := propagation.MapCarrier{"traceparent": tp}
	if ts, ok := meta["tracestate"].(string); ok {
		carrier["tracestate"] = ts
	}
	if next := tracing.Propagator.Extract(ctx, carrier); trace.SpanContextFromContext(next).IsValid() {
		return next
	}
	return ctx
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
