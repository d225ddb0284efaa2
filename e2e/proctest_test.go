package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
)

// TestProcessesTestGatesCIWithTheBinary: the CI recipe of docs/testing.md, run with the
// built binary: `flowgate processes test --junit` on examples/processes exits 0 and
// writes a JUnit file of every case; a test file with a wrong expectation exits 1, says
// which case failed, and its JUnit file counts the failure.
func TestProcessesTestGatesCIWithTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junit := filepath.Join(dir, "examples.xml")
	r := cli(t, "", "", "processes", "test", "--cover", "--junit", junit, "../examples/processes")
	if r.code != 0 || !strings.Contains(r.stdout, " passed, 0 failed") || !strings.Contains(r.stdout, "cover ../examples/processes/refund_approval.yaml: every step") {
		t.Fatalf("examples: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	x, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(x), `<testsuite name="../examples/processes/refund_approval.test.yaml" tests="`) || !strings.Contains(string(x), `failures="0"`) {
		t.Errorf("junit: %v\n%s", err, x)
	}

	def, err := os.ReadFile("../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "refund.yaml"), def, 0o644)
	os.WriteFile(filepath.Join(dir, "refund.test.yaml"), []byte(`cases:
  - name: a refunded order is refused
    params: {order_id: ORD-01001, amount_cents: 100, reason: twice}
    mocks:
      find_order: [{output: {rows_returned: 1, row: {status: refunded}}}]
    expect: {status: completed}
`), 0o644)
	junit = filepath.Join(dir, "failing.xml")
	r = cli(t, "", "", "processes", "test", "--junit", junit, dir)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL "+dir+"/refund.test.yaml:2: a refunded order is refused") || !strings.Contains(r.stdout, "0 passed, 1 failed") {
		t.Errorf("failing case: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if x, err := os.ReadFile(junit); err != nil || !strings.Contains(string(x), `tests="1" failures="1"`) {
		t.Errorf("failing junit: %v\n%s", err, x)
	}
}

// TestAHistoryDownloadedFromTheServerReplays: `processes history RUN_ID` writes a run's
// history from a live Temporal server, and `processes test --replay` replays it on this
// build, as an operator checks runs in flight before an upgrade.
func TestAHistoryDownloadedFromTheServerReplays(t *testing.T) {
	env := testenv.Shared(t)
	id := startProcess(t, env.Client, "../examples/processes/refund_approval.yaml",
		`{"order_id": "ORD-01005", "amount_cents": 1200, "reason": "late"}`, workflows.Request{RequestedBy: "rita"})
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
	r := cli(t, "", "", "processes", "history", "--temporal-address", env.Server.FrontendAddress(), "--namespace", env.Server.Namespace(), id)
	if r.code != 0 || !strings.Contains(r.stdout, `"WorkflowExecutionStarted"`) && !strings.Contains(r.stdout, `"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"`) {
		t.Fatalf("history: exit %d\n%.500s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	r = cli(t, "", "", "processes", "test", "--replay", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "1 replayed, 0 failed") {
		t.Errorf("replay: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
