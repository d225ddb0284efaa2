package mcpserver

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestPagesRefuseARebindingHost: a page of another site whose name now points at this
// machine (DNS rebinding) reaches the approval page and the inbox under its own Host;
// they answer 421 and show nothing. Loopback names and the configured public origin work,
// and a form posted from a foreign origin is not taken even when the Host matches it.
func TestPagesRefuseARebindingHost(t *testing.T) {
	keys, err := workflows.ParseDecisionKeys([]byte("k " + strings.Repeat("QUJD", 11) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{LinkKeys: keys, AllowedOrigins: []string{"https://flowgate.example.com"}, Logger: slog.New(slog.DiscardHandler)})
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
