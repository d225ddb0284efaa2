package mcpserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestToolCallsAreSpansOverEitherTransport: with tracing on, a tool call is one server
// span "tools/call TOOL" continuing the client's params._meta.traceparent, over stdio
// (which has no HTTP request to wrap; before, stdio calls made no span and the agent's
// trace stopped there) as over HTTP, where the request's span is the call's and no
// second one is made.
func TestToolCallsAreSpansOverEitherTransport(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s, err := New(Config{Logger: quiet(), Tracing: tp})
	if err != nil {
		t.Fatal(err)
	}
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"describe_process","arguments":{"name":"deployment"},` +
		`"_meta":{"traceparent":"00-` + traceID + `-` + parent + `-01"}}}`

	stdio := serveStdio(t, s)
	stdio.call(t, "0", stdioInit)
	stdio.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if got := stdio.call(t, "1", call); !strings.Contains(got, `"result"`) {
		t.Fatalf("describe_process over stdio answered %s", got)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	defer srv.Close()
	resp, _ := mcpCall(t, srv.URL+EndpointPath, nil, initBody("t"))
	sid := resp.Header.Get("Mcp-Session-Id")
	if _, body := mcpCall(t, srv.URL+EndpointPath, map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}, call); !strings.Contains(body, `"result"`) {
		t.Fatalf("describe_process over HTTP answered %s", body)
	}

	var calls int
	for _, sp := range spans.GetSpans() {
		if sp.Name != "tools/call describe_process" {
			continue
		}
		calls++
		if sp.SpanContext.TraceID().String() != traceID || sp.Parent.SpanID().String() != parent || !sp.Parent.IsRemote() {
			t.Errorf("span %q is in trace %s under %s; want trace %s under the client's span %s",
				sp.Name, sp.SpanContext.TraceID(), sp.Parent.SpanID(), traceID, parent)
		}
	}
	if calls != 2 {
		t.Errorf("%d spans named tools/call describe_process, want 2 (one a transport); spans: %v", calls, spanNames(spans.GetSpans()))
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name)
	}
	return out
}
