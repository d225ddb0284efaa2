package mcpserver

import (
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestTheAnswerSaysWhatTheDecisionDid: advance_workflow's answer says what happened in
// words for every action: a remind names itself, and an approval that leaves a quorum
// waiting says how many approvals it has of how many.
func TestTheAnswerSaysWhatTheDecisionDid(t *testing.T) {
	gate := &workflows.Waiting{Step: "finance_approval", For: "approval", Quorum: 2, Approvals: []string{"fin-ann"}}
	waiting := workflows.StatusView{Status: workflows.StatusWaitingApproval, CurrentStep: "finance_approval", Waiting: gate}
	for _, tc := range []struct {
		action string
		v      workflows.StatusView
		want   string
	}{
		{"approve", waiting, "approved, now waiting at step finance_approval for approval (1 of 2 approvals so far)"},
		{"remind", waiting, "reminded its approvers, now waiting at step finance_approval for approval (1 of 2 approvals so far)"},
		{"approve", workflows.StatusView{Status: workflows.StatusInProgress, CurrentStep: "issue_refund"}, "approved, now at step issue_refund"},
	} {
		if got := decided(tc.action, tc.v); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
		}
	}
}
