package mcpserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkGuardedMessage measures one message through the HTTP transport, every guard in
// place, with auth on (the scope guard reads the message too) and off: a subscription the
// guards refuse, and calls mcp-go serves, one of them with 100 KiB of arguments. The
// traced case has tracing on (every span sampled, none exported): the cost of the span
// around each request; the others are tracing off, which must cost nothing.
func BenchmarkGuardedMessage(b *testing.B) {
	const key = "bench-key"
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	for _, cfg := range []struct {
		name string
		auth *AuthConfig
		tp   trace.TracerProvider
	}{
		{"auth", &AuthConfig{APIKeys: []APIKey{{Name: "bench", SHA256: hashKey(key), Scopes: AllScopes}}}, nil},
		{"no-auth", nil, nil},
		{"no-auth-traced", nil, tp},
	} {
		auth := cfg.auth
		s, err := New(Config{Logger: quiet(), Auth: auth, Tracing: cfg.tp})
		if err != nil {
			b.Fatal(err)
		}
		h := s.HTTPHandler()
		post := func(body, sid string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, EndpointPath, strings.NewReader(body))
			req.Host = "127.0.0.1"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("X-API-Key", key)
			if sid != "" {
				req.Header.Set("Mcp-Session-Id", sid)
				req.Header.Set("MCP-Protocol-Version", "2025-11-25")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		sid := post(initBody("bench"), "").Header().Get("Mcp-Session-Id")
		if sid == "" {
			b.Fatal("initialize gave no session")
		}
		name := cfg.name
		for _, c := range []struct{ name, body, want string }{
			{"subscribe-refused", `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"db://users/1"}}`, `"code":-32602`},
			{"tools-call", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"no_such_tool","arguments":{"a":1}}}`, `"code":-32602`},
			{"tools-call-100KiB", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"no_such_tool","arguments":{"a":"` + strings.Repeat("x", 100<<10) + `"}}}`, `"code":-32602`},
		} {
			if got := post(c.body, sid).Body.String(); !strings.Contains(got, c.want) {
				b.Fatalf("%s answered %.300s, want %s", c.name, got, c.want)
			}
			b.Run(name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					post(c.body, sid)
				}
			})
		}
	}
}
