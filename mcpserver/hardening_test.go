package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/internal/signing"
)

// shorten sets a transport timeout for one test.
func shorten(t *testing.T, v *time.Duration, d time.Duration) {
	t.Helper()
	old := *v
	*v = d
	t.Cleanup(func() { *v = old })
}

func hashKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// listen starts s on a loopback port and returns its host:port.
func listen(t *testing.T, s *Server) (string, *HTTPServer) {
	t.Helper()
	h, err := s.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	u, _ := url.Parse(h.URL())
	return u.Host, h
}

// closedWithin says whether the server closed c (EOF, or an answer then EOF) within d.
func closedWithin(c net.Conn, d time.Duration) (bool, string) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	got, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false, string(got)
	}
	return true, string(got)
}

// mcpCall posts one JSON-RPC message with headers (key: X-API-Key; sid: Mcp-Session-Id).
func mcpCall(t *testing.T, endpoint string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(raw)
}

func initBody(name string) string {
	return `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"` + name + `","version":"1"}}}`
}

const toolsList = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`

func inSession(sid string, more ...string) map[string]string {
	h := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return h
}

// TestStalledBodiesAndIdleConnectionsAreClosed: a POST whose body stalls is answered 408
// and its connection closed once the body deadline passes; a keep-alive connection left
// idle is closed after the idle timeout. (Before: both stayed open indefinitely, 50 of 50
// of each still open after 5 s, with no deadline at all.)
func TestStalledBodiesAndIdleConnectionsAreClosed(t *testing.T) {
	shorten(t, &bodyReadTimeout, 300*time.Millisecond)
	shorten(t, &httpIdleTimeout, 300*time.Millisecond)
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := listen(t, s)
	const n = 20
	var stalled, idle []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":", addr)
		stalled = append(stalled, c)
	}
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /healthz: %v %v", resp, err)
		}
		resp.Body.Close()
		idle = append(idle, c)
	}
	open := func(conns []net.Conn, answer string) int {
		still := 0
		for _, c := range conns {
			closed, got := closedWithin(c, 3*time.Second)
			if !closed {
				still++
			}
			if answer != "" && closed && !strings.Contains(got, answer) {
				t.Errorf("stalled body answered %q, want %q", got, answer)
				answer = ""
			}
		}
		return still
	}
	if still := open(stalled, "408 Request Timeout"); still > 0 {
		t.Errorf("%d of %d POSTs with stalled bodies still open after the body deadline", still, n)
	}
	if still := open(idle, ""); still > 0 {
		t.Errorf("%d of %d idle keep-alive connections still open after the idle timeout", still, n)
	}
}

// TestStalledBodyAnswerNamesTheDeadline: the 408 says what was wrong and what is allowed.
func TestStalledBodyAnswerNamesTheDeadline(t *testing.T) {
	shorten(t, &bodyReadTimeout, 200*time.Millisecond)
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := listen(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", addr)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "did not arrive within 200ms") {
		t.Errorf("stalled body: %d %s; want 408 naming the deadline", resp.StatusCode, body)
	}
}

// TestLongResponsesOutliveTheBodyDeadline: only reading the body is bounded; a tool call
// that runs past the body deadline answers, and an SSE stream stays open.
func TestLongResponsesOutliveTheBodyDeadline(t *testing.T) {
	shorten(t, &bodyReadTimeout, 200*time.Millisecond)
	shorten(t, &httpIdleTimeout, 200*time.Millisecond)
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s.MCP().AddTool(mcp.NewTool("slow_test"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-time.After(time.Second):
			return mcp.NewToolResultText("finished after 1s"), nil
		case <-ctx.Done():
			return nil, fmt.Errorf("cut: %w", ctx.Err())
		}
	})
	addr, h := listen(t, s)
	resp, _ := mcpCall(t, h.URL(), nil, initBody("slow"))
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}

	// The stream: opened before the call, still open after it.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /mcp HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nMcp-Session-Id: %s\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n", addr, sid)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	stream, err := http.ReadResponse(br, nil)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("GET stream: %v %v", stream, err)
	}

	start := time.Now()
	resp, body := mcpCall(t, h.URL(), inSession(sid), `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow_test","arguments":{}}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "finished after 1s") {
		t.Errorf("tool call running past the body deadline: %d %s after %s", resp.StatusCode, body, time.Since(start).Round(time.Millisecond))
	}
	if closed, _ := closedWithin(c, 300*time.Millisecond); closed {
		t.Errorf("the SSE stream was closed %s after it opened; streams have no deadline", time.Since(start).Round(time.Millisecond))
	}
}

// TestConnectionsAreCapped: past MaxConnections a new connection waits until one closes.
func TestConnectionsAreCapped(t *testing.T) {
	const limit = 4
	s, err := New(Config{Logger: quiet(), MaxConnections: limit})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := listen(t, s)
	var held []net.Conn
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr) // the kernel's backlog takes it
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	fmt.Fprintf(extra, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	if closed, got := closedWithin(extra, 500*time.Millisecond); closed || got != "" {
		t.Fatalf("connection %d of a cap of %d was served: %q", limit+1, limit, got)
	}
	held[0].Close()
	_, got := closedWithin(extra, 3*time.Second)
	if !strings.Contains(got, "200 OK") {
		t.Errorf("once a connection closed, the waiting one got %q; want 200", got)
	}
}

// TestHeadersAreCapped: a 100 KiB header is refused with 431 (the default allowed 1 MiB).
func TestHeadersAreCapped(t *testing.T) {
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := listen(t, s)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB header: %d, want 431", resp.StatusCode)
	}
}

// TestRequestBodiesAreCapped: a POST larger than MaxRequestBytes is refused with 413 and
// a JSON-RPC error naming the limit, with auth off and on.
func TestRequestBodiesAreCapped(t *testing.T) {
	for _, auth := range []*AuthConfig{nil, {APIKeys: []APIKey{{Name: "alice", SHA256: hashKey("alice-key"), Scopes: AllScopes}}}} {
		s, err := New(Config{Logger: quiet(), Auth: auth})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.HTTPHandler())
		resp, body := mcpCall(t, srv.URL+EndpointPath, map[string]string{"X-API-Key": "alice-key"}, initBody(strings.Repeat("a", 1500_000)))
		srv.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"jsonrpc":"2.0"`) || !strings.Contains(body, "larger than 1048576 bytes (1 MiB)") {
			t.Errorf("auth %v: 1.5 MB initialize: %d %.300s; want 413 naming the limit", auth != nil, resp.StatusCode, body)
		}
	}
}

// TestSessionsKeepBoundedClientInfo: an initialize near the body cap leaves no more than
// a few KiB with its session (before: all of it, 900 KB per session for a 900 KB body).
func TestSessionsKeepBoundedClientInfo(t *testing.T) {
	s, err := New(Config{Logger: quiet(), SessionIdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	defer srv.Close()
	big := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"x":"` +
		strings.Repeat("e", 300_000) + `"}},"clientInfo":{"name":"` + strings.Repeat("n", 300_000) + `","version":"1","description":"` +
		strings.Repeat("d", 300_000) + `","icons":[{"src":"data:` + strings.Repeat("i", 50_000) + `"}]}}}`
	const sessions = 50
	initialize := func(i int) {
		if resp, body := mcpCall(t, srv.URL+EndpointPath, nil, big); resp.StatusCode != 200 {
			t.Fatalf("initialize %d: %d %.200s", i, resp.StatusCode, body)
		}
	}
	initialize(-2) // the first requests' buffers are garbage by the measurement, not sessions
	initialize(-1)
	before := heapInUse()
	for i := range sessions {
		initialize(i)
	}
	perSession := (int64(heapInUse()) - int64(before)) / sessions
	t.Logf("heap per session after a %d-byte initialize: %d bytes", len(big), perSession)
	if perSession > 32<<10 {
		t.Errorf("each session holds %d bytes after a %d-byte initialize; want under 32 KiB", perSession, len(big))
	}
}

// TestBoundInitializeKeepsWhatIsNeeded: the rewrite clips clientInfo, drops icons and large
// experimental capabilities, and keeps everything a normal client sends.
func TestBoundInitializeKeepsWhatIsNeeded(t *testing.T) {
	raw := []byte(`{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25",
		"capabilities":{"elicitation":{"form":{}},"roots":{"listChanged":true},"experimental":{"big":"` + strings.Repeat("x", 5000) + `"}},
		"clientInfo":{"name":"` + strings.Repeat("n", 500) + `","version":"1.2","title":"T","icons":[{"src":"data:x"}]},"junk":"` + strings.Repeat("j", 5000) + `"}}`)
	out, ok := boundInitialize(parseMessage(raw, &decodeCounts{}))
	if !ok {
		t.Fatal("not rewritten")
	}
	var msg struct {
		ID     int `json:"id"`
		Method string
		Params struct {
			ProtocolVersion string                 `json:"protocolVersion"`
			Capabilities    mcp.ClientCapabilities `json:"capabilities"`
			ClientInfo      mcp.Implementation     `json:"clientInfo"`
			Junk            string                 `json:"junk"`
		}
	}
	if err := json.Unmarshal(out, &msg); err != nil {
		t.Fatal(err)
	}
	p := msg.Params
	switch {
	case msg.ID != 7 || msg.Method != "initialize" || p.ProtocolVersion != "2025-11-25":
		t.Errorf("envelope changed: %s", out)
	case p.Capabilities.Elicitation == nil || p.Capabilities.Elicitation.Form == nil || p.Capabilities.Roots == nil || !p.Capabilities.Roots.ListChanged:
		t.Errorf("known capabilities lost: %s", out)
	case p.Capabilities.Experimental != nil || p.Junk != "" || len(p.ClientInfo.Icons) != 0:
		t.Errorf("unbounded parts kept: %.300s", out)
	case len(p.ClientInfo.Name) != maxClientInfoField || p.ClientInfo.Version != "1.2" || p.ClientInfo.Title != "T":
		t.Errorf("clientInfo = %+v", p.ClientInfo)
	}
}

// TestUnknownAndExpiredSessionsAre404: a session id that expired or was closed here is
// answered 404 (the Streamable HTTP transport's rule), telling the client to initialize.
// (An id this copy never issued may be another copy's behind a load balancer: it passes.)
// The clock is synctest's, so the session's idle second takes no time.
func TestUnknownAndExpiredSessionsAre404(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Config{Logger: quiet(), SessionIdleTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		h := s.HTTPHandler()
		defer s.Close(context.Background())
		want404 := func(what, sid string) {
			t.Helper()
			resp, body := serve(h, http.MethodPost, inSession(sid), toolsList)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "start a new session with initialize") || !strings.Contains(body, `"jsonrpc":"2.0"`) {
				t.Errorf("%s: %d %.300s; want 404 saying to initialize", what, resp.StatusCode, body)
			}
		}

		open := func() string {
			resp, _ := serve(h, http.MethodPost, nil, initBody("c"))
			sid := resp.Header.Get("Mcp-Session-Id")
			if resp, body := serve(h, http.MethodPost, inSession(sid), toolsList); resp.StatusCode != 200 {
				t.Fatalf("tools/list in an open session: %d %.200s", resp.StatusCode, body)
			}
			return sid
		}
		closed := open()
		if resp, _ := serve(h, http.MethodDelete, inSession(closed), ""); resp.StatusCode != 200 {
			t.Fatalf("DELETE: %d", resp.StatusCode)
		}
		want404("a closed session", closed)

		expired := open()
		time.Sleep(2 * time.Second) // the idle timeout, and the sweep after it (mcp-go sweeps every second at least)
		synctest.Wait()
		if total, _ := s.sessions.open(""); total > 0 {
			t.Fatal("the session did not expire")
		}
		want404("an expired session", expired)
	})
}

// TestSessionBelongsToItsIdentity: with auth on, a session id presented with another
// identity's key is answered 404 (as an unknown one: ids cannot be probed), for POST, GET
// and DELETE, and the session goes on working for its owner.
func TestSessionBelongsToItsIdentity(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Config{Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)), Auth: &AuthConfig{APIKeys: []APIKey{
		{Name: "alice", SHA256: hashKey("alice-key"), Scopes: AllScopes},
		{Name: "bob", SHA256: hashKey("bob-key"), Scopes: AllScopes},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	defer srv.Close()
	endpoint := srv.URL + EndpointPath
	resp, _ := mcpCall(t, endpoint, map[string]string{"X-API-Key": "alice-key"}, initBody("alice"))
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("alice's initialize: %d", resp.StatusCode)
	}
	// Bob's own session, closed: what an ended session answers him.
	resp, _ = mcpCall(t, endpoint, map[string]string{"X-API-Key": "bob-key"}, initBody("bob"))
	ended := resp.Header.Get("Mcp-Session-Id")
	del, _ := http.NewRequest(http.MethodDelete, endpoint, nil)
	for k, v := range inSession(ended, "X-API-Key", "bob-key") {
		del.Header.Set(k, v)
	}
	if resp, err := http.DefaultClient.Do(del); err != nil || resp.StatusCode != 200 {
		t.Fatalf("bob's DELETE of his own session: %v %v", resp, err)
	}
	_, endedBody := mcpCall(t, endpoint, inSession(ended, "X-API-Key", "bob-key"), toolsList)
	resp, body := mcpCall(t, endpoint, inSession(sid, "X-API-Key", "bob-key"), toolsList)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob's POST in alice's session: %d %.200s; want 404", resp.StatusCode, body)
	}
	if strings.ReplaceAll(body, sid, "ID") != strings.ReplaceAll(endedBody, ended, "ID") {
		t.Errorf("another identity's session answers unlike an ended one:\n%s\n%s", body, endedBody)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(method, endpoint, nil)
		for k, v := range inSession(sid, "X-API-Key", "bob-key", "Accept", "text/event-stream") {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob's %s of alice's session: %d, want 404", method, resp.StatusCode)
		}
	}
	if resp, body := mcpCall(t, endpoint, inSession(sid, "X-API-Key", "alice-key"), toolsList); resp.StatusCode != 200 {
		t.Errorf("alice's own session after bob's attempts: %d %.200s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "session id used by another identity") || !strings.Contains(logs.String(), "caller=bob") {
		t.Errorf("the attempt was not logged: %s", logs.String())
	}
}

// syncWriter serializes writes from the server's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestRefusalsDoNotEchoUnboundedInput: a huge or control-laden tool name, method or
// origin is clipped wherever a refusal repeats it: WWW-Authenticate, the body, the log.
// (Before: a 3 MiB tool name came back as a 3 MiB header and a 3 MiB body.)
func TestRefusalsDoNotEchoUnboundedInput(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Config{Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)), Auth: &AuthConfig{APIKeys: []APIKey{
		{Name: "reader", SHA256: hashKey("reader-key"), Scopes: []string{ScopeRead}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	defer srv.Close()
	endpoint := srv.URL + EndpointPath
	huge := strings.Repeat("z", 900_000)
	for name, tool := range map[string]string{"a 900 kB tool name": huge, "a tool name with CR LF": "x\r\nX-Injected: 1\u0000"} {
		raw, _ := json.Marshal(tool)
		resp, body := mcpCall(t, endpoint, map[string]string{"X-API-Key": "reader-key"},
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":`+string(raw)+`}}`)
		challenge := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(challenge, `scope="admin"`) {
			t.Errorf("%s: %d %q", name, resp.StatusCode, challenge)
		}
		if len(challenge) > 1024 || len(body) > 1024 || resp.Header.Get("X-Injected") != "" || strings.ContainsAny(challenge, "\r\n\x00") || strings.Contains(body, `\r\n`) {
			t.Errorf("%s: echoed %d bytes of header and %d of body: %.200q", name, len(challenge), len(body), challenge)
		}
	}
	if logs.Len() > 4096 || strings.Contains(logs.String(), `\r\n`) {
		t.Errorf("the log took %d bytes for two refusals", logs.Len())
	}
	// Without auth: a huge method without a session, and a huge origin.
	open, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(open.HTTPHandler())
	defer srv2.Close()
	resp, body := mcpCall(t, srv2.URL+EndpointPath, nil, `{"jsonrpc":"2.0","id":1,"method":"`+huge+`"}`)
	if resp.StatusCode != http.StatusBadRequest || len(body) > 1024 {
		t.Errorf("a 900 kB method without a session: %d, %d bytes of body", resp.StatusCode, len(body))
	}
	resp, body = mcpCall(t, srv2.URL+EndpointPath, map[string]string{"Origin": "https://" + strings.Repeat("o", 40_000) + ".example"}, initBody("x"))
	if resp.StatusCode != http.StatusForbidden || len(body) > 1024 {
		t.Errorf("a 40 kB origin: %d, %d bytes of body", resp.StatusCode, len(body))
	}
}

// TestBearerSchemeIsCaseInsensitive: RFC 7235 auth schemes are case-insensitive; another
// scheme is refused with a sentence that names it and says what to send.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	s, err := New(Config{Logger: quiet(), Auth: &AuthConfig{APIKeys: []APIKey{{Name: "alice", SHA256: hashKey("alice-key"), Scopes: AllScopes}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	defer srv.Close()
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		if resp, body := mcpCall(t, srv.URL+EndpointPath, map[string]string{"Authorization": scheme + " alice-key"}, initBody("x")); resp.StatusCode != 200 {
			t.Errorf("%s scheme: %d %.200s", scheme, resp.StatusCode, body)
		}
	}
	resp, body := mcpCall(t, srv.URL+EndpointPath, map[string]string{"Authorization": "Basic YWxpY2U6a2V5"}, initBody("x"))
	if resp.StatusCode != 401 || !strings.Contains(body, `scheme \"Basic\" is not supported`) || !strings.Contains(body, "Bearer") {
		t.Errorf("Basic scheme: %d %s", resp.StatusCode, body)
	}
}

// TestFailedAuthenticationsAreRateLimited: past FailedAuthPerMinute failures an address is
// refused with 429 and Retry-After before its credential is checked, valid or not; a
// request without credentials is not counted; the inbox sign-in counts too.
func TestFailedAuthenticationsAreRateLimited(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("k1 "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	linkKeys, err := signing.LoadOrCreate(keys)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 5
	newServer := func() *httptest.Server {
		s, err := New(Config{Logger: quiet(), LinkKeys: linkKeys, Auth: &AuthConfig{FailedAuthPerMinute: limit,
			APIKeys: []APIKey{{Name: "alice", SHA256: hashKey("alice-key"), Scopes: AllScopes}}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.HTTPHandler())
		t.Cleanup(srv.Close)
		return srv
	}
	srv := newServer()
	endpoint := srv.URL + EndpointPath
	for i := range 3 {
		if resp, _ := mcpCall(t, endpoint, nil, initBody("x")); resp.StatusCode != 401 {
			t.Fatalf("request %d without credentials: %d, want 401", i, resp.StatusCode)
		}
	}
	for i := range limit {
		if resp, body := mcpCall(t, endpoint, map[string]string{"X-API-Key": fmt.Sprint("guess-", i)}, initBody("x")); resp.StatusCode != 401 {
			t.Fatalf("failure %d of %d allowed: %d %s", i+1, limit, resp.StatusCode, body)
		}
	}
	for name, key := range map[string]string{"another guess": "guess-x", "the right key": "alice-key"} {
		resp, body := mcpCall(t, endpoint, map[string]string{"X-API-Key": key}, initBody("x"))
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(body, "too many failed authentications from 127.0.0.1 (more than 5 a minute); retry after") {
			t.Errorf("%s past the limit: %d Retry-After %q %s; want 429", name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp, _ := mcpCall(t, endpoint, map[string]string{"Authorization": "bearer guess"}, initBody("x")); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a bearer guess past the limit: %d, want 429", resp.StatusCode)
	}

	// The inbox sign-in form, on a server of its own.
	srv = newServer()
	signIn := func(key string) *http.Response {
		resp, err := http.PostForm(srv.URL+InboxPath, url.Values{"api_key": {key}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range limit {
		if resp := signIn(fmt.Sprint("guess-", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("sign-in failure %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	if resp := signIn("alice-key"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("sign-in past the limit: %d, want 429 with Retry-After", resp.StatusCode)
	}
	// The failures count against the sign-in form's address on /mcp too.
	if resp, _ := mcpCall(t, srv.URL+EndpointPath, map[string]string{"X-API-Key": "alice-key"}, initBody("x")); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("/mcp after failed sign-ins: %d, want 429", resp.StatusCode)
	}
}

// TestFailureLimiterIsPerAddress: one address's failures do not limit another, and a
// failure comes back after 60/N seconds.
func TestFailureLimiterIsPerAddress(t *testing.T) {
	l := newFailureLimiter(3)
	now := time.Now()
	for range 3 {
		l.failed("192.0.2.1", now)
	}
	if blocked, wait := l.blocked("192.0.2.1", now); !blocked || wait <= 0 || wait > 20*time.Second {
		t.Errorf("after 3 failures: blocked %v for %s; want blocked up to 20 s", blocked, wait)
	}
	if blocked, _ := l.blocked("192.0.2.2", now); blocked {
		t.Error("another address is blocked")
	}
	if blocked, _ := l.blocked("192.0.2.1", now.Add(21*time.Second)); blocked {
		t.Error("still blocked after 60/N seconds")
	}
	if newFailureLimiter(-1) != nil {
		t.Error("a negative limit is not off")
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "[2001:db8:1:2:3:4:5:6]:443"
	if got := remoteAddr(r); got != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 address counted as %q, want its /64", got)
	}
}

// TestClipEcho: control characters go, long input is cut with its length.
func TestClipEcho(t *testing.T) {
	if got := clipEcho("a\r\nb\x00c", 10); got != "a??b?c" {
		t.Errorf("control characters: %q", got)
	}
	if got := clipEcho(strings.Repeat("é", 100), 4); got != "éééé... (200 bytes)" {
		t.Errorf("long: %q", got)
	}
}
