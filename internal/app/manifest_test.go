package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestAStartNamingAMissingManifestIsRefused: like a service the gateway does not know, a
// manifest the workers' sandbox does not have is refused at start, naming the parameter,
// when this process sees the sandbox; a file that is there passes the check.
func TestAStartNamingAMissingManifestIsRefused(t *testing.T) {
	sandbox := t.TempDir()
	if err := os.MkdirAll(filepath.Join(sandbox, "manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sandbox, "manifests", "orders.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Services: []string{"orders"}, Sandbox: sandbox})
	writer := Caller{Name: "rita", Scopes: []string{ScopeWrite}}
	_, err := s.Start(context.Background(), writer, StartRequest{Process: "deployment",
		Parameters: []byte(`{"service":"orders","version":"1.2.3","environment":"staging","manifest":"manifests/nope.json"}`)})
	var arg *ArgError
	if !errors.As(err, &arg) || arg.Field != "parameters.manifest" || !strings.Contains(err.Error(), `no file "manifests/nope.json" in the sandbox`) {
		t.Fatalf("start with a missing manifest: %v", err)
	}
	for _, manifest := range []string{`"manifests/orders.json"`, ``} {
		params := `{"service":"orders","version":"1.2.3","environment":"staging"`
		if manifest != "" {
			params += `,"manifest":` + manifest
		}
		start, err := PrepareStart(workflows.KindDeployment, []byte(params+"}"), workflows.Request{RequestedBy: "rita"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.checkServiceParams(start.Input); err != nil {
			t.Errorf("manifest %s: %v", manifest, err)
		}
	}
}
