package mcpserver

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/workflows"
)

// TestSurfacesComeFromTheCatalogAndConfiguration: what an agent reads about the server
// (start_workflow's list of processes and their parameters, call_service's services, the
// server's instructions) says what this server was given, not what the demo ships: an
// outside definition is listed with its parameters, configured services replace the
// demo's, and the instructions name no process.
func TestSurfacesComeFromTheCatalogAndConfiguration(t *testing.T) {
	services := []string{"users", "deploy", "notifications", "crm"}
	cat, err := processes.NewCatalog([]string{"../examples/processes/access_request.yaml"}, workflows.DefinitionRules{Services: services}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Logger: quiet(), Processes: cat, Services: services})
	if err != nil {
		t.Fatal(err)
	}
	start := s.mcp.GetTool("start_workflow").Tool.Description
	for _, want := range []string{"- access_request (", "- onboarding (Onboarding, v", `"role" ("viewer" | "editor" | "admin", required)`, "- deployment (", "- audit ("} {
		if !strings.Contains(start, want) {
			t.Errorf("start_workflow's description lacks %q:\n%s", want, start)
		}
	}
	call := s.mcp.GetTool("call_service").Tool.Description
	if !strings.Contains(call, "Services: users, deploy, notifications, crm.") || strings.Contains(call, "GET accounts") {
		t.Errorf("call_service's description does not list the configured services only:\n%s", call)
	}
	if strings.Contains(instructions, "onboarding") {
		t.Errorf("the instructions name a process this server may not run: %s", instructions)
	}
}
