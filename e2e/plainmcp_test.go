package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// plainMCP is a minimal JSON-RPC client for the Streamable HTTP transport: one POST per
// call, no schema validation. It measures what the server adds, apart from any client
// library's own costs.
type plainMCP struct {
	url, session, version, apiKey string
	id                            atomic.Int64
}

// newPlainMCPWith initializes a session that authenticates with an API key.
func newPlainMCPWith(t testing.TB, url, apiKey string) *plainMCP {
	t.Helper()
	p := &plainMCP{url: url, apiKey: apiKey}
	p.init(t, "2025-11-25")
	return p
}

func newPlainMCP(t testing.TB, url string) *plainMCP { return newPlainMCPVersion(t, url, "2025-11-25") }

// newPlainMCPVersion initializes a session with the given protocol version and fails
// unless the server agrees to it.
func newPlainMCPVersion(t testing.TB, url, version string) *plainMCP {
	t.Helper()
	p := &plainMCP{url: url}
	p.init(t, version)
	return p
}

func (p *plainMCP) init(t testing.TB, version string) {
	t.Helper()
	resp, err := p.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},"clientInfo":{"name":"plain","version":"1"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	p.session = resp.Header.Get("Mcp-Session-Id")
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(raw, []byte(`"protocolVersion":"`+version+`"`)) {
		t.Fatalf("initialize with %s answered %s", version, raw)
	}
	p.version = version
	if _, err := p.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		t.Fatal(err)
	}
}

func (p *plainMCP) post(body string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, p.url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if p.apiKey != "" {
		req.Header.Set("X-API-Key", p.apiKey)
	}
	if p.session != "" {
		req.Header.Set("Mcp-Session-Id", p.session)
		req.Header.Set("MCP-Protocol-Version", p.version)
	}
	return http.DefaultClient.Do(req)
}

// call invokes a tool and returns its structured content, or an error with its text.
func (p *plainMCP) call(name string, args any) (json.RawMessage, error) {
	params, _ := json.Marshal(map[string]any{"name": name, "arguments": args})
	resp, err := p.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":%s}`, p.id.Add(1), params))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if i := bytes.Index(raw, []byte("data: ")); i >= 0 { // an SSE-framed answer
		raw = raw[i+6:]
	}
	var msg struct {
		Result struct {
			IsError    bool            `json:"isError"`
			Structured json.RawMessage `json:"structuredContent"`
			Content    []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		return nil, fmt.Errorf("answer %q: %w", raw, err)
	}
	if msg.Error != nil {
		return nil, fmt.Errorf("protocol error: %s", msg.Error.Message)
	}
	if msg.Result.IsError {
		return nil, fmt.Errorf("tool error: %v", msg.Result.Content)
	}
	return msg.Result.Structured, nil
}

func base64URL(b []byte) string { return base64.URLEncoding.EncodeToString(b) }

// read reads a resource and returns its text.
func (p *plainMCP) read(uri string) (string, error) {
	resp, err := p.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"resources/read","params":{"uri":%q}}`, p.id.Add(1), uri))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if i := bytes.Index(raw, []byte("data: ")); i >= 0 {
		raw = raw[i+6:]
	}
	var msg struct {
		Result struct {
			Contents []struct{ Text string } `json:"contents"`
		} `json:"result"`
		Error *struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		return "", fmt.Errorf("%v: %s", err, raw)
	}
	if msg.Error != nil {
		return "", errors.New(msg.Error.Message)
	}
	if len(msg.Result.Contents) == 0 {
		return "", fmt.Errorf("no contents: %s", raw)
	}
	return msg.Result.Contents[0].Text, nil
}

// modernAnswer is a JSON-RPC answer to a 2026-07-28 request.
type modernAnswer struct {
	Result map[string]any `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// modernMeta is the _meta of a 2026-07-28 request from a client with capabilities.
func modernMeta(capabilities map[string]any) map[string]any {
	return map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": capabilities,
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "plain-2026", "version": "1"}}
}

// postModern sends one 2026-07-28 request (no session; name goes in Mcp-Name) and reads
// its answer, plain or SSE-framed.
func postModern(t testing.TB, url, method, name string, params map[string]any, headers ...string) modernAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if i := bytes.Index(raw, []byte("data: ")); i >= 0 {
		raw = raw[i+6:]
	}
	var msg modernAnswer
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatalf("%s answered %d %s", method, resp.StatusCode, raw)
	}
	return msg
}
