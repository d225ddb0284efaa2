package processes_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/workflows"
)

func example(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestCatalogKeepsTheLastGoodVersionAndDropsDeletedFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "refund.yaml")
	good := example(t)
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := processes.NewCatalog([]string{dir}, workflows.DefinitionRules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var changes atomic.Int32
	c.OnChange(func() { changes.Add(1) })
	p, ok := c.Get("refund_approval")
	if !ok || p.Definition.Version != 3 || len(p.Source.Hash) != 64 {
		t.Fatalf("loaded %+v %t", p, ok)
	}
	firstHash := p.Source.Hash

	// An edit that breaks the file is refused with file:line; the last good version stays.
	broken := strings.Replace(good, "quorum: 2", "quorum: 0\n      bogus: 1", 1)
	os.WriteFile(file, []byte(broken), 0o644)
	changed, err := c.Reload()
	if changed || err == nil || !strings.Contains(err.Error(), file+":") {
		t.Fatalf("broken edit: changed %t, err %v", changed, err)
	}
	if p, _ := c.Get("refund_approval"); p.Source.Hash != firstHash {
		t.Error("a broken edit replaced the good version")
	}

	// A good edit replaces it and tells the listeners.
	os.WriteFile(file, []byte(strings.Replace(good, "version: 3", "version: 4", 1)), 0o644)
	if changed, err := c.Reload(); !changed || err != nil {
		t.Fatalf("good edit: changed %t, err %v", changed, err)
	}
	if p, _ := c.Get("refund_approval"); p.Definition.Version != 4 || p.Source.Hash == firstHash {
		t.Errorf("after the edit: v%d", p.Definition.Version)
	}
	if changes.Load() != 1 {
		t.Errorf("%d change notifications, want 1", changes.Load())
	}

	// A built-in name is refused; deleting the file removes the process.
	os.WriteFile(filepath.Join(dir, "tool_call.yaml"), []byte(strings.Replace(good, "name: refund_approval", "name: tool_call", 1)), 0o644)
	os.Remove(file)
	_, err = c.Reload()
	if err == nil || !strings.Contains(err.Error(), `process name "tool_call" is a built-in process`) {
		t.Errorf("built-in name: %v", err)
	}
	if names := c.FileNames(); len(names) != 0 {
		t.Errorf("after deleting the file: %v", names)
	}
	if names := c.Names(); strings.Join(names, ",") != "audit,deployment,onboarding" {
		t.Errorf("after deleting the file, loaded %v; want the shipped definitions only", names)
	}
}

// TestShippedDefinitionsAreLoadedAndAFileOverridesThem: the deployment definition in the
// binary is loaded without any folder; a file of that name takes its place for new runs,
// and deleting the file brings the shipped one back.
func TestShippedDefinitionsAreLoadedAndAFileOverridesThem(t *testing.T) {
	c, err := processes.NewCatalog(nil, workflows.DefinitionRules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	shipped, ok := c.Get("deployment")
	if !ok || !shipped.Builtin() || shipped.Path != "builtin:deployment.yaml" {
		t.Fatalf("shipped deployment: %+v %t", shipped, ok)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "deployment.yaml")
	own := regexp.MustCompile(`(?m)^version: \d+$`).ReplaceAllString(shipped.Source.Source, "version: 7")
	if err := os.WriteFile(file, []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = processes.NewCatalog([]string{dir}, workflows.DefinitionRules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Get("deployment"); p.Builtin() || p.Definition.Version != 7 || p.Path != file {
		t.Fatalf("override: %s v%d", p.Path, p.Definition.Version)
	}
	os.Remove(file)
	if _, err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Get("deployment"); !p.Builtin() || p.Source.Hash != shipped.Source.Hash {
		t.Errorf("after deleting the override: %s", p.Path)
	}
}

func TestParamsAreCheckedAgainstTheSchemaWithDefaults(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "refund.yaml"), []byte(strings.Replace(example(t), "      minLength: 3\n", "      minLength: 3\n      default: none given\n", 1)), 0o644)
	c, err := processes.NewCatalog([]string{dir}, workflows.DefinitionRules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Get("refund_approval")
	out, err := p.Params.Check([]byte(`{"order_id": "ORD-01001", "amount_cents": 100}`))
	if err != nil || !strings.Contains(string(out), `"reason":"none given"`) {
		t.Errorf("defaults: %s %v", out, err)
	}
	for params, want := range map[string]string{
		`{"order_id": "ORD-1", "amount_cents": 100}`:                       `parameters.order_id: 'ORD-1' does not match pattern '^ORD-[0-9]{5}$'; allowed: string, matching ^ORD-[0-9]{5}$ — The order's reference`,
		`{"order_id": "ORD-01001", "amount_cents": 0}`:                     "parameters.amount_cents: minimum: got 0, want 1; allowed: integer, from 1 to 10000000",
		`{"order_id": "ORD-01001", "amount_cents": 1.5}`:                   "parameters.amount_cents: got number, want integer",
		`{"order_id": "ORD-01001", "amount_cents": 5, "refund_all": true}`: "parameters.refund_all: is not a known parameter",
		`[]`: "parameters: got array, want object",
	} {
		if _, err := p.Params.Check([]byte(params)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", params, err, want)
		}
	}
}
