package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stdioClient talks to a server over its stdio transport, in process.
type stdioClient struct {
	in    io.Writer
	lines chan string
}

// serveStdio serves s over stdio until the test ends.
func serveStdio(t *testing.T, s *Server) *stdioClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- s.ServeStdio(ctx, inR, outW)
		outW.Close()
	}()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), 2<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		inW.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeStdio: %v", err)
		}
	})
	return &stdioClient{in: inW, lines: lines}
}

// send writes one line.
func (c *stdioClient) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatalf("write %s: %v", line, err)
	}
}

// call writes one request and returns the answer whose id is id, skipping other lines
// (notifications, answers to earlier requests).
func (c *stdioClient) call(t *testing.T, id, line string) string {
	t.Helper()
	c.send(t, line)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got, ok := <-c.lines:
			if !ok {
				t.Fatalf("stdio closed before the answer to %s", line)
			}
			var m struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal([]byte(got), &m) == nil && string(m.ID) == id {
				return got
			}
		case <-timeout:
			t.Fatalf("no answer to %s within 10 s", line)
		}
	}
}

// httpSession serves a new Server (no Temporal, no auth) over HTTP until the test ends and
// opens a session: the server, its endpoint and the session id.
func httpSession(t *testing.T) (*Server, string, string) {
	t.Helper()
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	t.Cleanup(srv.Close)
	endpoint := srv.URL + EndpointPath
	resp, _ := mcpCall(t, endpoint, nil, initBody("t"))
	return s, endpoint, resp.Header.Get("Mcp-Session-Id")
}

const stdioInit = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// TestStdioRefusesSubscriptionsItCannotKeepAsHTTPDoes: a resources/subscribe the server
// cannot keep is refused over stdio with the very answer HTTP gives. (Before: stdio had no
// subscribe guard, acknowledged it with an empty result, and dropped it.)
func TestStdioRefusesSubscriptionsItCannotKeepAsHTTPDoes(t *testing.T) {
	s, endpoint, sid := httpSession(t)
	stdio := serveStdio(t, s)
	stdio.call(t, "0", stdioInit)
	stdio.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	for i, uri := range []string{"db://users/1", "workflow:///details", "workflow://x/status"} {
		msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"resources/subscribe","params":{"uri":%q}}`, 7+i, uri)
		_, overHTTP := mcpCall(t, endpoint, inSession(sid), msg)
		overStdio := stdio.call(t, fmt.Sprint(7+i), msg)
		if !strings.Contains(overHTTP, `"code":-32602`) || !strings.Contains(overHTTP, "cannot be subscribed to") {
			t.Errorf("%s over HTTP: %s, want invalid params saying it cannot be subscribed to", uri, overHTTP)
		}
		if strings.TrimSpace(overHTTP) != overStdio {
			t.Errorf("%s: over stdio %s, over HTTP %s; want the same answer", uri, overStdio, overHTTP)
		}
	}
}

// TestEachMessageIsDecodedOnce: over HTTP (auth on, so every guard reads the message) and
// over stdio, each message's envelope is decoded once and its params at most once, by
// whichever guards read them. (Before: up to five decodes of the whole body over HTTP:
// scope, session cap, session header, tasks, subscribe.)
func TestEachMessageIsDecodedOnce(t *testing.T) {
	const key = "k-decodes"
	s, err := New(Config{Logger: quiet(), Auth: &AuthConfig{APIKeys: []APIKey{{Name: "alice", SHA256: hashKey(key), Scopes: AllScopes}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.HTTPHandler())
	defer srv.Close()
	endpoint := srv.URL + EndpointPath
	resp, _ := mcpCall(t, endpoint, map[string]string{"X-API-Key": key}, initBody("t"))
	sid := resp.Header.Get("Mcp-Session-Id")
	stdio := serveStdio(t, s)
	stdio.call(t, "0", stdioInit)

	// Messages no guard answers from Temporal: each reaches the end of the list of guards
	// or is answered by one of them without a call.
	cases := []struct {
		name, id, msg, want string
		params              bool // a guard reads its params
	}{
		{"ping", "1", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, `"result":{}`, false},
		{"tools/list", "2", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, `"tools":[`, false},
		{"tools/call", "3", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"no_such_tool","arguments":{"a":1}}}`, `"code":-32602`, true},
		{"advance_workflow", "4", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"advance_workflow","arguments":{"workflow_id":"x","action":"explode"}}}`, `"isError":true`, true},
		{"task-augmented call", "5", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_workflow_status","arguments":{},"task":{}}}`, "cannot be called as a task", true},
		{"tasks/get", "6", `{"jsonrpc":"2.0","id":6,"method":"tasks/get","params":{"taskId":""}}`, "is not a task id", true},
		{"resources/subscribe", "7", `{"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"uri":"db://users/1"}}`, "cannot be subscribed to", true},
		{"garbage", "null", `{"jsonrpc":"2.0","id":8,`, `"code":-32700`, false},
	}
	for _, c := range cases {
		for transport, send := range map[string]func() string{
			"http":  func() string { _, out := mcpCall(t, endpoint, inSession(sid, "X-API-Key", key), c.msg); return out },
			"stdio": func() string { return stdio.call(t, c.id, c.msg) },
		} {
			envelopes, params := s.decodes.envelopes.Load(), s.decodes.params.Load()
			out := send()
			if !strings.Contains(out, c.want) {
				t.Errorf("%s over %s: %.300s, want %s", c.name, transport, out, c.want)
			}
			gotEnvelopes, gotParams := s.decodes.envelopes.Load()-envelopes, s.decodes.params.Load()-params
			wantParams := int64(0)
			if c.params {
				wantParams = 1
			}
			if gotEnvelopes != 1 || gotParams != wantParams {
				t.Errorf("%s over %s: %d decodes of the envelope and %d of the params, want 1 and %d", c.name, transport, gotEnvelopes, gotParams, wantParams)
			}
		}
	}
	// What is not an object is not decoded: a batch is refused over HTTP as not a message.
	envelopes := s.decodes.envelopes.Load()
	if resp, out := mcpCall(t, endpoint, inSession(sid, "X-API-Key", key), `[{"jsonrpc":"2.0","id":9,"method":"ping"}]`); resp.StatusCode != 400 || !strings.Contains(out, `"code":-32600`) {
		t.Errorf("a batch over HTTP: %d %s, want 400 and invalid request", resp.StatusCode, out)
	}
	if d := s.decodes.envelopes.Load() - envelopes; d != 0 {
		t.Errorf("a batch was decoded %d times, want 0", d)
	}
}

// TestParseMessageSortsWhatArrives: objects are decoded, valid JSON that is not an object
// is not a message, and invalid JSON is garbage, whatever surrounds it.
func TestParseMessageSortsWhatArrives(t *testing.T) {
	for _, c := range []struct {
		raw   string
		kind  messageKind
		clean bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, object, true},
		{"  \t{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n", object, true},
		{`{"jsonrpc":"2.0","id":1,"method":5}`, object, false},
		{`[1, 2, 3]`, notObject, false},
		{`"ping"`, notObject, false},
		{`null`, notObject, false},
		{`{"jsonrpc":`, garbage, false},
		{`{"jsonrpc":"2.0"} trailing`, garbage, false},
		{``, garbage, false},
		{"\n", garbage, false},
	} {
		m := parseMessage([]byte(c.raw), &decodeCounts{})
		if m.kind != c.kind || m.clean() != c.clean {
			t.Errorf("%q: kind %d clean %v, want %d %v", c.raw, m.kind, m.clean(), c.kind, c.clean)
		}
		if !bytes.Equal(m.raw, []byte(c.raw)) {
			t.Errorf("%q: raw changed to %q", c.raw, m.raw)
		}
	}
}

// TestAnEscapedTaskKeyIsStillATaskCall: a tools/call whose "task" member is written with
// a JSON escape ("\u0074ask") is the same task-augmented call, and gets the same answer,
// as one written plainly: the guard reads the decoded params, not the bytes. (Before: the
// guard looked for the text "task and let the escaped call through to mcp-go's own task
// store, which knows no identity.)
func TestAnEscapedTaskKeyIsStillATaskCall(t *testing.T) {
	_, endpoint, sid := httpSession(t)
	const call = `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_workflow_status","arguments":{"workflow_id":"x"},%s:{"ttl":60000}}}`
	_, plain := mcpCall(t, endpoint, inSession(sid), fmt.Sprintf(call, `"task"`))
	_, escaped := mcpCall(t, endpoint, inSession(sid), fmt.Sprintf(call, `"\u0074ask"`))
	if !strings.Contains(plain, `"code":-32601`) {
		t.Fatalf("a task-augmented call of a tool without task support: %s, want -32601", plain)
	}
	if escaped != plain {
		t.Errorf("with the key escaped: %s; written plainly: %s; want the same answer", escaped, plain)
	}
}
