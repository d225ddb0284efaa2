package tracing

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestTracingIsOffUnlessTheEnvironmentAsks guards "off by default": without OTEL_*
// variables nothing is exported, and the standard switches turn it off again.
func TestTracingIsOffUnlessTheEnvironmentAsks(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_SERVICE_NAME": "flowgate"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false},
	} {
		if got := Requested(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("Requested(%v) = %v, want %v", c.env, got, c.want)
		}
	}
}

// TestSetupWithoutVariablesWrapsNothing: off means a nil provider, and a nil provider
// leaves the gateway's transport as it was.
func TestSetupWithoutVariablesWrapsNothing(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
		t.Setenv(k, "")
	}
	tp, shutdown, err := Setup(t.Context(), nil)
	if err != nil || tp != nil {
		t.Fatalf("Setup = %v, %v; want a nil provider", tp, err)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := &http.Transport{}
	if Transport(nil, base) != http.RoundTripper(base) {
		t.Fatal("Transport(nil) wrapped the base transport")
	}
}

// TestSetupRefusesWhatItCannotExport names an exporter Flowgate does not ship rather
// than running without the traces that were asked for.
func TestSetupRefusesWhatItCannotExport(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	if _, _, err := Setup(t.Context(), nil); err == nil {
		t.Fatal("OTEL_TRACES_EXPORTER=zipkin was accepted")
	}
}

// TestSetupExportsToTheConfiguredEndpoint: with OTEL_EXPORTER_OTLP_ENDPOINT set, the
// spans reach an OTLP/HTTP receiver there as protobuf, sent at the latest on shutdown.
func TestSetupExportsToTheConfiguredEndpoint(t *testing.T) {
	got := make(chan string, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + strconv.Itoa(len(body))
	}))
	defer receiver.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
	tp, shutdown, err := Setup(t.Context(), nil)
	if err != nil || tp == nil {
		t.Fatalf("Setup = %v, %v", tp, err)
	}
	_, span := tp.Tracer(ScopeName).Start(t.Context(), "tools/call start_workflow")
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-got:
		if !strings.HasPrefix(req, "POST /v1/traces application/x-protobuf ") || strings.HasSuffix(req, " 0") {
			t.Fatalf("the receiver got %q", req)
		}
	default:
		t.Fatal("the receiver got nothing")
	}
}
