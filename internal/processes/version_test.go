package processes_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/workflows"
)

// TestAnEditThatKeepsItsVersionIsWarnedOf: two contents under one version cannot be told
// apart by runs or the web UI but by hash. An edit that keeps the version, or a file that
// overrides the shipped definition under its version, is warned of once at load and
// recorded on the process; raising the version clears it.
func TestAnEditThatKeepsItsVersionIsWarnedOf(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	dir := t.TempDir()
	file := filepath.Join(dir, "refund.yaml")
	good := example(t)
	os.WriteFile(file, []byte(good), 0o644)
	c, err := processes.NewCatalog([]string{dir}, workflows.DefinitionRules{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := c.Get("refund_approval")
	if len(first.SameVersion) != 0 || strings.Contains(log.String(), "kept its version") {
		t.Fatalf("a first load is warned of: %v\n%s", first.SameVersion, log.String())
	}
	os.WriteFile(file, []byte(strings.Replace(good, "quorum: 2", "quorum: 1", 1)), 0o644)
	if _, err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	edited, _ := c.Get("refund_approval")
	if edited.Definition.Version != first.Definition.Version || len(edited.SameVersion) != 1 || edited.SameVersion[0] != first.Source.Hash {
		t.Fatalf("edited v%d: same version as %v, want [%s]", edited.Definition.Version, edited.SameVersion, first.Source.Hash)
	}
	if n := strings.Count(log.String(), "kept its version"); n != 1 || !strings.Contains(log.String(), "same_version_as="+first.Source.Hash[:12]) {
		t.Fatalf("%d warnings:\n%s", n, log.String())
	}
	c.Reload() // nothing changed: no second warning
	if n := strings.Count(log.String(), "kept its version"); n != 1 {
		t.Errorf("an unchanged file is warned of again (%d):\n%s", n, log.String())
	}
	os.WriteFile(file, []byte(strings.Replace(good, "version: 3", "version: 4", 1)), 0o644)
	c.Reload()
	if p, _ := c.Get("refund_approval"); len(p.SameVersion) != 0 {
		t.Errorf("a raised version still lists %v", p.SameVersion)
	}

	// A file that overrides the shipped definition without raising its version.
	shipped, _ := c.Get("deployment")
	override := filepath.Join(t.TempDir(), "deployment.yaml")
	os.WriteFile(override, []byte(strings.Replace(shipped.Source.Source, "Deploy ", "Ship ", 1)), 0o644)
	c, err = processes.NewCatalog([]string{override}, workflows.DefinitionRules{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Get("deployment"); p.Builtin() || len(p.SameVersion) != 1 || p.SameVersion[0] != shipped.Source.Hash {
		t.Errorf("override of the shipped deployment under its version: %s, same version as %v", p.Path, p.SameVersion)
	}
}
