package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestACommandCarriesItsTrace: a client command's requests carry traceparent, so the
// server's spans join the caller's trace. With traces off, the TRACEPARENT a CI job hands
// on is sent as it is; with the OTEL_* variables on, the command is a span of its own in
// that trace (the requests name it as parent), exported to the OTLP endpoint when it ends.
func TestACommandCarriesItsTrace(t *testing.T) {
	t.Setenv("FLOWGATE_CONFIG_FILE", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, v := range []string{"FLOWGATE_SERVER", "FLOWGATE_API_KEY", "FLOWGATE_TOKEN", "FLOWGATE_PROFILE",
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "TRACESTATE"} {
		t.Setenv(v, "")
	}
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	t.Setenv("TRACEPARENT", "00-"+traceID+"-"+parent+"-01")
	var mu sync.Mutex
	var sent []string
	exported := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/v1/traces" {
			exported++
			w.WriteHeader(http.StatusOK)
			return
		}
		sent = append(sent, r.Header.Get("traceparent"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_token","error_description":"no key"}`))
	}))
	t.Cleanup(srv.Close)
	approvals := func() {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run([]string{"approvals", "--server", srv.URL + "/mcp"}, &stdout, &stderr); code != 1 {
			t.Fatalf("exit %d, %s", code, stderr.String())
		}
	}

	approvals()
	mu.Lock()
	if len(sent) == 0 || sent[0] != "00-"+traceID+"-"+parent+"-01" {
		t.Errorf("with traces off the requests carried %q, want TRACEPARENT as given", sent)
	}
	sent = nil
	mu.Unlock()

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	approvals()
	mu.Lock()
	defer mu.Unlock()
	for _, tp := range sent {
		f := strings.Split(tp, "-")
		if len(f) != 4 || f[1] != traceID || f[2] == parent {
			t.Errorf("with traces on a request carried %q, want trace %s under the command's own span", tp, traceID)
		}
	}
	if len(sent) == 0 || exported != 1 {
		t.Errorf("%d requests, %d exports of the command's span; want some requests and one export", len(sent), exported)
	}
}
