package main

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestCompletionScriptCompletes: the bash script bash itself runs completes commands,
// runs subcommands, their flags (read from -h, so a new flag is completed without
// editing the script) and --status values; every command it offers is one run knows.
func TestCompletionScriptCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	var script, stderr bytes.Buffer
	if code := run([]string{"completion", "bash"}, &script, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, c := range []struct{ line, want string }{
		{"flowgate ap", "approvals"},
		{"flowgate runs ap", "approve"},
		{"flowgate runs approve run-1 --in", "--input"},
		{"flowgate runs reas", "reassign"},
		{"flowgate runs reassign run-1 --to-", "--to-scope"},
		{"flowgate runs list --status waiting_a", "waiting_approval"},
		{"flowgate dev --api-k", "--api-keys"},
		{"flowgate completion z", "zsh"},
	} {
		words := strings.Fields(c.line)
		prog := script.String() + "\nCOMP_WORDS=(" + strings.Join(words, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_flowgate\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%q completes to %q (%v), want %q", c.line, out, err, c.want)
		}
	}
	for _, cmd := range commands {
		var stdout, stderr bytes.Buffer
		if run([]string{cmd, "-h"}, &stdout, &stderr); strings.Contains(stderr.String(), "unknown command") {
			t.Errorf("completion offers %q, which flowgate does not know", cmd)
		}
	}
	var zsh bytes.Buffer
	if run([]string{"completion", "zsh"}, &zsh, &stderr); !strings.HasPrefix(zsh.String(), "#compdef flowgate\n") {
		t.Errorf("zsh script starts %q", zsh.String()[:min(40, zsh.Len())])
	}
}
