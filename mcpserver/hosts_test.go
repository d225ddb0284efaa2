package mcpserver

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/signing"
)

// TestPagesRefuseARebindingHost: a page of another site whose name now points at this
// machine (DNS rebinding) reaches the approval page and the inbox under its own Host;
// they answer 421 and show nothing. Loopback names and the configured public origin work,
// and a form posted from a foreign origin is not taken even when the Host matches it.
func TestPagesRefuseARebindingHost(t *testing.T) {
	s, err := New(Config{LinkKeys: mustKeys(t), AllowedOrigins: []string{"https://flowgate.example.com"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := s.HTTPHandler()
	get := func(path, host string) int {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, path := range []string{ApprovalPath + "?t=x", InboxPath} {
		for _, host := range []string{"evil.example:8080", "attacker.test", "127.0.0.1.nip.io:8080"} {
			if code := get(path, host); code != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %s: %d, want 421", path, host, code)
			}
		}
	}
	// (The inbox of an allowed host asks Temporal, which this test has not.)
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "flowgate.example.com"} {
		if code := get(ApprovalPath+"?t=x", host); code == http.StatusMisdirectedRequest {
			t.Errorf("GET %s with Host %s: 421, want the page", ApprovalPath, host)
		}
	}
	for origin, want := range map[string]bool{
		"http://127.0.0.1:8080":        true,
		"https://flowgate.example.com": true,
		"http://evil.example:8080":     false,
	} {
		r := httptest.NewRequest(http.MethodPost, ApprovalPath, nil)
		r.Host = strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://")
		r.Header.Set("Origin", origin)
		if got := s.sameOrigin(r); got != want {
			t.Errorf("a form from %s posted to Host %s: taken %v, want %v", origin, r.Host, got, want)
		}
	}
}

// TestInboxCookieIsSecureBehindATLSProxy: TLS ends at a proxy, so the request is plain
// HTTP, but the public URL is https: the session cookie must not travel in clear.
func TestInboxCookieIsSecureBehindATLSProxy(t *testing.T) {
	s, err := New(Config{Auth: &AuthConfig{ResourceURL: "https://flowgate.example.com/mcp", APIKeys: []APIKey{{Name: "bob", SHA256: strings.Repeat("ab", 32), Scopes: AllScopes}}},
		DecisionKeys: mustKeys(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"flowgate.example.com": true, "127.0.0.1:8080": false} {
		r := httptest.NewRequest(http.MethodPost, InboxPath, nil)
		r.Host = host
		if got := s.secureCookies(r); got != want {
			t.Errorf("Secure for a request to %s: %v, want %v", host, got, want)
		}
	}
}

func mustKeys(t *testing.T) *signing.Keys {
	t.Helper()
	keys, err := signing.Parse([]byte("k " + strings.Repeat("QUJD", 11) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestOutputSchemasOfRawJSONFieldsTakeAnyValue: call_service's json and parse_file's
// data hold objects, arrays or any JSON value, not the byte arrays a generated schema of
// json.RawMessage would declare.
func TestOutputSchemasOfRawJSONFieldsTakeAnyValue(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for tool, field := range map[string]string{"call_service": "json", "parse_file": "data"} {
		got := s.mcp.GetTool(tool)
		if got == nil {
			t.Fatalf("%s is not registered", tool)
		}
		prop, _ := got.Tool.OutputSchema.Properties[field].(map[string]any)
		if prop == nil || prop["type"] != nil || prop["items"] != nil {
			t.Errorf("%s output %s: %v, want a schema that takes any JSON value", tool, field, got.Tool.OutputSchema.Properties[field])
		}
	}
}

// TestNamesThatForgeLinesAreRefusedAtStart: the actor and API key names are the identities
// recorded with decisions and shown in notices; one with a newline or a bidi override
// could forge a line ("Approved by CFO"), so the server does not start with it.
func TestNamesThatForgeLinesAreRefusedAtStart(t *testing.T) {
	for _, bad := range []string{"bob\nApproved by CFO", "bob\u202eOFC", "bob\x00"} {
		if _, err := New(Config{Actor: bad, Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "actor") {
			t.Errorf("actor %q: %v, want a refusal naming actor", bad, err)
		}
		_, err := New(Config{Logger: slog.New(slog.DiscardHandler), Auth: &AuthConfig{APIKeys: []APIKey{{Name: bad, SHA256: strings.Repeat("ab", 32), Scopes: AllScopes}}}})
		if err == nil || !strings.Contains(err.Error(), "api key 0: name") {
			t.Errorf("api key named %q: %v, want a refusal naming the key", bad, err)
		}
	}
}

// TestAnOriginThatDoesNotParseIsRefused: a browser Origin that is not a URL gets 403 at
// /mcp, as a foreign one does (it used to reach a nil URL).
func TestAnOriginThatDoesNotParseIsRefused(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]int{"http://[::1": http.StatusForbidden, "http://evil.example": http.StatusForbidden, "http://LOCALHOST:3000": http.StatusBadRequest} {
		r := httptest.NewRequest(http.MethodPost, EndpointPath, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		r.Header.Set("Origin", origin)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.HTTPHandler().ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Origin %q: %d %s, want %d", origin, w.Code, w.Body.String(), want)
		}
	}
}
