package proctest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/proctest"
)

// TestStarterOfEveryShippedDefinitionPasses writes the starter test file of each shipped
// definition (as `processes test --init` does) and runs it: every case must pass as
// written, and every gate must have its approve, reject and timeout case.
func TestStarterOfEveryShippedDefinitionPasses(t *testing.T) {
	var defs []string
	for _, dir := range shippedTests {
		m, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			if !strings.HasSuffix(p, proctest.Suffix) {
				defs = append(defs, p)
			}
		}
	}
	if len(defs) < 7 {
		t.Fatalf("%d shipped definitions: %v", len(defs), defs)
	}
	for _, def := range defs {
		t.Run(filepath.Base(def), func(t *testing.T) {
			start := time.Now()
			dir := t.TempDir()
			data, err := os.ReadFile(def)
			if err != nil {
				t.Fatal(err)
			}
			copied := filepath.Join(dir, filepath.Base(def))
			if err := os.WriteFile(copied, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := proctest.WriteStarter(copied)
			if err != nil {
				t.Fatal(err)
			}
			written := time.Since(start)
			f, err := proctest.Load(out)
			if err != nil {
				text, _ := os.ReadFile(out)
				t.Fatalf("%v\n%s", err, text)
			}
			gates := 0
			for _, s := range f.Process.Steps {
				if s.Approval != nil {
					gates++
				}
			}
			if want := max(3*gates, 1); len(f.Cases) != want {
				text, _ := os.ReadFile(out)
				t.Errorf("%d cases, want %d\n%s", len(f.Cases), want, text)
			}
			for _, res := range f.Run(nil) {
				for _, p := range res.Problems {
					t.Errorf("%s: %s", res.Case, p)
				}
			}
			t.Logf("%d cases: written in %s, run in %s", len(f.Cases), written.Round(time.Millisecond), (time.Since(start) - written).Round(time.Millisecond))
			if _, err := proctest.WriteStarter(copied); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Errorf("a second --init: %v, want a refusal", err)
			}
		})
	}
}
