package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestExpectedUserErrorsAreNotLoggedAsErrors: a 404 from a service, a file with the wrong
// extension, a missing file and a record that does not exist are answers to an agent,
// not faults: flowgate dev logs none of them at ERROR level.
func TestExpectedUserErrorsAreNotLoggedAsErrors(t *testing.T) {
	mcpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dev := startDev(t, "--memory", "--data-dir", t.TempDir(), "--port", fmt.Sprint(freePort(t)), "--no-ui",
		"--mcp-addr", mcpAddr, "--demo-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--log-level", "info")
	dev.waitReady(t, mcpAddr)
	cs := connectHTTP(t, dev.mcpURL)
	for _, call := range []struct {
		tool string
		args map[string]any
	}{
		{"call_service", map[string]any{"service": "deploy", "endpoint": "deployments/nothing/dev"}},
		{"parse_file", map[string]any{"file_path": "evidence/users.txt"}},
		{"parse_file", map[string]any{"file_path": "evidence/missing.csv"}},
		{"execute_query", map[string]any{"query": "DELETE FROM users"}},
	} {
		if r := callTool(t, cs, call.tool, call.args); !r.IsError {
			t.Fatalf("%s %v succeeded: %s", call.tool, call.args, r.Text)
		}
	}
	for _, line := range strings.Split(dev.out.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("expected user error logged as ERROR: %s", line)
		}
	}
}
