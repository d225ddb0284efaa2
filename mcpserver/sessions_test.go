package mcpserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func initialize(t *testing.T, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"leaky","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// serve sends one request to h in the process, without a network, so that it can run in
// a synctest bubble; a POST carries body as JSON.
func serve(h http.Handler, method string, headers map[string]string, body string) (*http.Response, string) {
	req := httptest.NewRequest(method, "http://127.0.0.1"+EndpointPath, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}

// TestSessionsAreBoundedAndExpire: initialize requests that never come back cannot grow
// the server without bound: one identity may hold MaxSessionsPerIdentity sessions (then
// 429 with Retry-After), idle sessions expire once idle for the idle timeout (mcp-go
// sweeps every half timeout), their memory comes back, and Close stops the sweeper (the
// bubble ends only when every goroutine it started has). The clock is synctest's: 30
// minutes of idleness take no time.
func TestSessionsAreBoundedAndExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const opened = 2000
		const idle = DefaultSessionIdleTimeout
		s, err := New(Config{SessionIdleTimeout: idle, MaxSessions: opened + 10, MaxSessionsPerIdentity: opened, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		h := s.HTTPHandler()
		defer func() {
			if err := s.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		initialize := func() *http.Response {
			resp, _ := serve(h, http.MethodPost, nil, initBody("leaky"))
			return resp
		}

		before := heapInUse()
		for i := 0; i < opened; i++ {
			if resp := initialize(); resp.StatusCode != http.StatusOK || resp.Header.Get("Mcp-Session-Id") == "" {
				t.Fatalf("initialize %d: %d", i, resp.StatusCode)
			}
		}
		full := heapInUse()
		resp := initialize()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("initialize past the cap: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if total, _ := s.sessions.open(""); total != opened {
			t.Fatalf("%d sessions open, want %d", total, opened)
		}
		// Not before their idle timeout...
		time.Sleep(idle - time.Second)
		synctest.Wait()
		if total, _ := s.sessions.open(""); total != opened {
			t.Fatalf("%d sessions open %s into a %s idle timeout, want %d", total, idle-time.Second, idle, opened)
		}
		// ...but by the sweep after it, idle sessions expire, and a new one is welcome.
		time.Sleep(idle/2 + time.Second)
		synctest.Wait()
		if total, _ := s.sessions.open(""); total != 0 {
			t.Fatalf("%d sessions still open %s after their idle timeout", total, idle/2)
		}
		if resp := initialize(); resp.StatusCode != http.StatusOK {
			t.Errorf("initialize after expiry: %d", resp.StatusCode)
		}
		if os.Getenv("FLOWGATE_PROOF") == "" {
			return // the heap comparison below is a measurement: FLOWGATE_PROOF=ci runs it (CI does)
		}
		after := heapInUse()
		perSession := (int64(full) - int64(before)) / opened
		t.Logf("heap in use: %d KiB before, %d KiB with %d idle sessions (%d bytes each), %d KiB after they expired",
			before>>10, full>>10, opened, perSession, after>>10)
		if grown, kept := int64(full)-int64(before), int64(after)-int64(before); grown <= 0 || kept > grown/2 {
			t.Errorf("memory did not come back: grew %d bytes for %d sessions, %d still held after expiry", grown, opened, kept)
		}
	})
}

// TestServerSessionCap: past MaxSessions in all, an initialize gets 503 with Retry-After.
func TestServerSessionCap(t *testing.T) {
	s, err := New(Config{MaxSessions: 3, MaxSessionsPerIdentity: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	defer srv.Close()
	for i := 0; i < 3; i++ {
		initialize(t, srv.URL+EndpointPath)
	}
	resp := initialize(t, srv.URL+EndpointPath)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("initialize past the server's cap: %d, Retry-After %q; want 503 with Retry-After 30", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestShutdownStopsTheSessionSweeper: mcp-go runs an idle-session sweeper for each
// transport until the transport's Shutdown (TestSessionsAreBoundedAndExpire shows the
// goroutine outliving a handler that is not closed); HTTPServer.Shutdown stops its own.
func TestShutdownStopsTheSessionSweeper(t *testing.T) {
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := mcpCall(t, h.URL(), nil, initBody("c")); resp.StatusCode != 200 {
		t.Fatalf("initialize: %d %.200s", resp.StatusCode, body)
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.transportsMu.Lock()
	defer s.transportsMu.Unlock()
	if len(s.transports) != 0 {
		t.Errorf("%d transports still running after Shutdown", len(s.transports))
	}
	if total, _ := s.sessions.open(""); total != 0 {
		t.Errorf("%d sessions still open after Shutdown", total)
	}
}
