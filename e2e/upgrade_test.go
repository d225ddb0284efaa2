package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// previousBinary builds the previous release's cmd/flowgate. Its source is unpacked once,
// into the user's cache folder at a path named by the commit, so that Go's build cache
// keeps its packages and its executable: a later run copies the binary instead of
// compiling and linking it (40 s on a loaded two-core machine).
func previousBinary(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	src := filepath.Join(cache, "flowgate-e2e", "release-"+previousRelease)
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
			t.Fatal(err)
		}
		// Unpacked beside it and renamed into place: a folder at src is always whole.
		tmp, err := os.MkdirTemp(filepath.Dir(src), "unpack-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		archive := exec.Command("sh", "-c", fmt.Sprintf("git -C .. archive %s | tar -x -C %s", previousRelease, tmp))
		if out, err := archive.CombinedOutput(); err != nil {
			t.Fatalf("unpack the previous release: %v %s", err, out)
		}
		// Another test process may have put it there meanwhile: either copy will do.
		if err := os.Rename(tmp, src); err != nil {
			if _, statErr := os.Stat(filepath.Join(src, "go.mod")); statErr != nil {
				t.Fatalf("unpack the previous release: %v", err)
			}
		}
	}
	bin, err := buildFlowgate(t.Context(), src)
	if err != nil {
		t.Fatalf("build the previous release: %v", err)
	}
	return bin
}

// previousRelease is the last commit whose three processes were Go code: runs it started
// carry typed parameters and no definition.
const previousRelease = "94829227a2905a38fdd5890332e823cafebb1b2f"

// TestAnUpgradeFinishesWhatThePreviousReleaseStarted builds the previous release from this
// repository's history, lets it start a deployment, an onboarding and an audit that wait at
// their gates, stops it, and starts this build on the same data folder: every run is
// approved through MCP and completes, each side effect applied once.
func TestAnUpgradeFinishesWhatThePreviousReleaseStarted(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the previous release; skipped in -short mode")
	}
	if out, err := exec.Command("git", "-C", "..", "cat-file", "-e", previousRelease+"^{commit}").CombinedOutput(); err != nil {
		if shallow, _ := exec.Command("git", "-C", "..", "rev-parse", "--is-shallow-repository").Output(); strings.TrimSpace(string(shallow)) == "true" {
			t.Skipf("this clone is shallow and lacks the previous release %s", previousRelease)
		}
		t.Fatalf("the previous release %s is not in this repository: %v %s", previousRelease, err, out)
	}
	old := previousBinary(t)

	dir := t.TempDir()
	args, mcpAddr, demoPort := devOnFreePorts(t, dir)
	before := startDevOf(t, old, args...)
	before.waitReady(t, mcpAddr)
	cs := connectHTTP(t, before.mcpURL)
	type run struct{ id, kind, gate string }
	var runs []run
	for _, start := range []struct {
		kind, gate string
		params     map[string]any
	}{
		{"deployment", "approval", map[string]any{"service": "orders", "version": "3.1.0", "environment": "staging"}},
		{"onboarding", "manager_approval", map[string]any{"email": "upgrade-ada@example.com", "name": "Ada Upgrade", "role": "editor"}},
		{"audit", "auditor_signoff", map[string]any{"tables": []string{"orders"}}},
	} {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", map[string]any{"workflow_type": start.kind, "parameters": start.params}).decode(t, &s)
		runs = append(runs, run{s.WorkflowID, start.kind, start.gate})
	}
	for _, r := range runs {
		waitForMCPStatus(t, cs, r.id, workflows.StatusWaitingApproval)
		waitIdle(t, args, r.id)
	}
	before.stop(t, syscall.SIGTERM)

	after := startDev(t, args...)
	after.waitReady(t, mcpAddr)
	cs = connectHTTP(t, after.mcpURL)
	for _, r := range runs {
		// The run has no definition in its input: it goes on as the Go code it began on.
		var v workflows.StatusView
		callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": r.id}).decode(t, &v)
		if v.Status != workflows.StatusWaitingApproval || v.Process != nil {
			t.Errorf("%s after the upgrade: %s, process %+v; want waiting_approval with no definition", r.id, v.Status, v.Process)
		}
		if res := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": r.id, "action": "approve", "step": r.gate, "comment": "after the upgrade"}); res.IsError {
			t.Fatalf("approve %s after the upgrade: %s", r.id, res.Text)
		}
	}
	for _, r := range runs {
		testenv.WaitFor(t, 60*time.Second, r.id+" completed", func() (bool, error) {
			var st mcpserver.StatusResult
			callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": r.id}).decode(t, &st)
			return st.Status == workflows.StatusCompleted, fmt.Errorf("status %s, error %q", st.Status, st.Error)
		})
	}
	var ledger map[string]struct{ Applied int }
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/_ledger", demoPort), &ledger)
	// The Go code keys its calls by activity id: each of the run's calls, applied once
	// (a deploy for the deployment; provision, grant and welcome for the onboarding).
	for _, r := range runs[:2] {
		calls := 0
		for k, e := range ledger {
			if strings.HasPrefix(k, r.id+"/") {
				calls++
				if e.Applied != 1 {
					t.Errorf("ledger %s = %+v, want applied once", k, e)
				}
			}
		}
		if want := map[string]int{"deployment": 1, "onboarding": 3}[r.kind]; calls != want {
			t.Errorf("%s made %d calls to the backends, want %d: %v", r.id, calls, want, ledger)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sandbox", "reports")); err != nil {
		t.Errorf("the audit published no report: %v", err)
	}
}
