package devserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestUIRefusesARebindingHost: a page of another site whose name now points at this
// machine (DNS rebinding) reaches the web UI's port under its own Host; the UI answers 421
// and shows neither its page nor its API's data. Loopback names and a configured origin
// get the UI.
func TestUIRefusesARebindingHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx, Options{UI: true, UIOrigins: []string{"https://temporal.example.com"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	base, err := url.Parse(srv.UIURL())
	if err != nil {
		t.Fatal(err)
	}
	port := base.Port()
	get := func(path, host string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.UIURL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s with Host %s: %v", path, host, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// The UI server starts beside the proxy: wait until it answers.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _ := get("/", "127.0.0.1:"+port); code == http.StatusOK {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the web UI at %s does not answer: last status %d", srv.UIURL(), code)
		}
	}
	for _, path := range []string{"/", "/api/v1/namespaces"} {
		for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "temporal.example.com"} {
			code, body := get(path, host)
			if code != http.StatusOK {
				t.Errorf("GET %s with Host %s: %d, want 200 (%.200s)", path, host, code, body)
			} else if strings.HasPrefix(path, "/api/") && !strings.Contains(body, `"default"`) {
				t.Errorf("GET %s with Host %s does not list the default namespace: %.200s", path, host, body)
			}
		}
		for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.nip.io:" + port} {
			code, body := get(path, host)
			if code != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %s: %d, want 421", path, host, code)
			}
			if low := strings.ToLower(body); strings.Contains(low, "<html") || strings.Contains(low, "namespace") {
				t.Errorf("GET %s with Host %s shows the UI's content: %.200s", path, host, body)
			}
		}
	}
}
