package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
)

// TestAGuardAndATimerOnTheEmbeddedServer runs the vendor access example, its days made 5
// seconds, on a real server (and records the histories the replay tests keep): approved,
// it waits in status waiting on a real timer, which get_workflow_status and the search
// attributes say, then revokes the access by itself; a second grant for the same vendor
// while the first waits is stopped by the guard with its reason.
func TestAGuardAndATimerOnTheEmbeddedServer(t *testing.T) {
	env := testenv.Shared(t)
	c := env.Client
	src, err := os.ReadFile("../examples/processes/vendor_access.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "vendor_access.yaml")
	short := strings.Replace(string(src), `for: "{{params.days}}d"`, `for: 5s`, 1)
	if short == string(src) {
		t.Fatal("the example has no wait of params.days to shorten")
	}
	if err := os.WriteFile(file, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	email := "vendor." + uuid.NewString()[:8] + "@acme.example"
	params := `{"email": "` + email + `", "name": "Acme support", "role": "editor", "days": 1}`
	vera := workflows.Request{RequestedBy: "vera"}

	revoked := startProcess(t, c, file, params, vera)
	testenv.WaitForStatus(t, c, revoked, workflows.StatusWaitingApproval)
	if _, err := advance(t, c, revoked, workflows.AdvanceRequest{Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Scopes: approverScopes}); err != nil {
		t.Fatal(err)
	}
	v := testenv.WaitForStatus(t, c, revoked, workflows.StatusWaiting)
	if w := v.Waiting; w == nil || w.Step != "access_period" || w.For != "timer" || time.Until(w.Deadline) > 5*time.Second {
		t.Fatalf("waiting = %+v", w)
	}
	if a := env.Backends.Account(email); a["status"] != "active" || a["access"] != "editor" {
		t.Errorf("account while waiting: %v", a)
	}
	cs := connectHTTP(t, env.MCPURL)
	if text := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": revoked}).Text; !strings.Contains(text, "is waiting") ||
		!strings.Contains(text, "It waits at step access_period until "+v.Waiting.Deadline.Format(time.RFC3339)+", then goes on by itself") {
		t.Errorf("get_workflow_status while waiting: %s", text)
	}
	if status := searchAttr(t, c, revoked, "FlowgateStatus"); status != string(workflows.StatusWaiting) {
		t.Errorf("while waiting the search attribute says %s", status)
	}

	stopped := startProcess(t, c, file, params, vera)
	st, err := result(t, c, stopped)
	want := "step no_active_account stopped the run: " + email + " already has an active account"
	if err == nil || st.Status != workflows.StatusFailed || !strings.HasPrefix(st.Error, want) {
		t.Fatalf("second grant ended %s with %q (%v); want failed with %q", st.Status, st.Error, err, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("the run's failure says %v", err)
	}
	saveHistory(t, c, stopped, "vendor_access_stopped")

	st, err = result(t, c, revoked)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("first grant ended %s: %v", st.Status, err)
	}
	if a := env.Backends.Account(email); a["status"] != "deprovisioned" {
		t.Errorf("account after the wait: %v", a)
	}
	if hold := stepOf(st, "access_period"); hold.Status != workflows.StepCompleted || hold.FinishedAt.Sub(*hold.StartedAt) < 5*time.Second {
		t.Errorf("access_period = %+v", hold)
	}
	saveHistory(t, c, revoked, "vendor_access_revoked")
}
