package workflows_test

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestCompileRefusesWhatCannotRun: a definition that reaches a worker without the loader's
// checks (a run that continued as new from before they ran at start) is refused whole
// when it is compiled, with each step and field named, instead of running with a wait of
// zero or reaching a step that does nothing.
func TestCompileRefusesWhatCannotRun(t *testing.T) {
	d := workflows.Definition{Name: "p", Steps: []workflows.StepDef{
		{Name: "gate", Approval: &workflows.ApprovalStep{Scope: "approve", Deadline: "soon", Reminder: "1h"}},
		{Name: "both", Call: &workflows.CallStep{Service: "crm", Method: "GET", Endpoint: "x"}, SQL: &workflows.SQLStep{Statement: "s"}},
		{Name: "slow", Call: &workflows.CallStep{Service: "crm", Method: "GET", Endpoint: "x"}, Retry: &workflows.RetryPolicy{Timeout: "forever"}},
	}}
	_, err := workflows.Compile(d)
	if err == nil {
		t.Fatal("compiled")
	}
	for _, want := range []string{`step gate: approval.deadline "soon" is not a duration`, "step both has the kinds [call sql]", `step slow: retry.timeout "forever"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	d.Steps = d.Steps[:1]
	d.Steps[0].Approval.Deadline = "72h"
	if _, err := workflows.Compile(d); err != nil {
		t.Errorf("a valid definition does not compile: %v", err)
	}
}
