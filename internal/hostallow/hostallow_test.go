package hostallow

import "testing"

// TestAllowedNamesLoopbackAndTheConfiguredOriginsOnly: loopback names with any port and
// the exact host[:port] of a configured origin pass; a rebinding name does not.
func TestAllowedNamesLoopbackAndTheConfiguredOriginsOnly(t *testing.T) {
	origins := []string{"https://flowgate.example.com", "http://ui.example.com:8233"}
	for host, want := range map[string]bool{
		"127.0.0.1:8233":          true,
		"localhost":               true,
		"LOCALHOST.:8233":         true,
		"[::1]:8233":              true,
		"Flowgate.Example.com":    true,
		"ui.example.com:8233":     true,
		"ui.example.com":          false,
		"flowgate.example.com:80": false,
		"evil.example:8233":       false,
		"127.0.0.1.nip.io:8233":   false,
		"":                        false,
	} {
		if got := Allowed(host, origins); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", host, got, want)
		}
	}
	if o := Origin("https://flowgate.example.com/mcp?x=1"); o != "https://flowgate.example.com" {
		t.Errorf("Origin = %q", o)
	}
	if o := Origin("/mcp"); o != "" {
		t.Errorf("Origin of a URL without host = %q, want empty", o)
	}
}
