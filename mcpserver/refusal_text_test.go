package mcpserver

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestRefusalTextsEndEachSentence: a refusal that joins the reason to where the run stands,
// or a status that quotes a person's comment or a step's failure, ends each part before the
// next begins: no "…must approve Now: …", no "..", no "?.".
func TestRefusalTextsEndEachSentence(t *testing.T) {
	now := workflows.StatusView{Type: "vendor_access", WorkflowID: "va-1", Status: workflows.StatusWaitingApproval, TotalSteps: 4, StepsCompleted: 1, Progress: 25}
	for _, tc := range []struct{ got, want string }{
		{cannotText("approve", "va-1", "bob may not decide at step review; two of alice, carol must approve\n", &now),
			"cannot approve va-1: bob may not decide at step review; two of alice, carol must approve. Now: vendor_access va-1 is waiting_approval (25%, 1 of 4 steps done)."},
		{cannotText("approve", "va-1", "is the gate still open?", nil), "cannot approve va-1: is the gate still open?"},
		{describeStatus(workflows.StatusView{Type: "t", WorkflowID: "w", Status: workflows.StatusWaitingInput, Waiting: &workflows.Waiting{Step: "s", For: "input",
			Failure: "POST /deploy answered 503 (try later?)\n"}}), "The step failed: POST /deploy answered 503 (try later?)."},
		{describeStatus(workflows.StatusView{Type: "t", WorkflowID: "w", Status: workflows.StatusWaitingInput, Waiting: &workflows.Waiting{Step: "s", For: "approval",
			Changes: &workflows.ChangesAsked{ChangeRequest: workflows.ChangeRequest{By: "alice", Comment: "Narrow the scope."}, Round: 1, MaxRounds: 2, Requester: "bob", Revisable: []string{"scope"}}}}),
			"asked for changes (round 1 of 2): Narrow the scope. Only the requester"},
	} {
		if !strings.Contains(tc.got, tc.want) {
			t.Errorf("text = %q\nwant it to contain %q", tc.got, tc.want)
		}
		for _, glue := range []string{"..", "?.", "\n", "  "} {
			if strings.Contains(tc.got, glue) {
				t.Errorf("text %q has %q", tc.got, glue)
			}
		}
	}
}
