package main

import (
	"os"
	"strings"
	"testing"
)

// TestConfigurationDocsNameEveryFlag: every flag `flowgate dev`, `worker`, `mcp` and
// `demo-backends` take is in docs/configuration.md, so a flag added without its line fails
// here, and a documented flag that no command takes any more is caught too.
func TestConfigurationDocsNameEveryFlag(t *testing.T) {
	raw, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	taken := map[string]bool{}
	for _, cmd := range []string{"dev", "worker", "mcp", "demo-backends"} {
		flags := helpFlags(cmd)
		if len(flags) == 0 {
			t.Fatalf("flowgate %s -h lists no flags", cmd)
		}
		for _, f := range flags {
			taken[f] = true
			if !strings.Contains(doc, "`"+f+"`") && !strings.Contains(doc, "`"+f+" ") {
				t.Errorf("flowgate %s takes %s; docs/configuration.md does not say it", cmd, f)
			}
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		for _, cell := range strings.Split(line, "`") {
			name, _, _ := strings.Cut(cell, " ")
			if strings.HasPrefix(name, "--") && len(name) > 2 && !strings.ContainsAny(name, "=.<") && !taken[name] {
				t.Errorf("docs/configuration.md documents %s, which none of dev, worker, mcp or demo-backends takes", name)
			}
		}
	}
}
