package workflows_test

import (
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestMayApproveIsTheGatesRule: who a gate waits on, as the inbox and approvals://pending
// list it: the gate's approvers or scope, never the requester under separation of duties
// (however they case their name), never someone who approved already.
func TestMayApproveIsTheGatesRule(t *testing.T) {
	open := &workflows.Waiting{Step: "approval", For: "approval", NotBy: "Rita"}
	named := &workflows.Waiting{Step: "approval", For: "approval", Approvers: []string{"bob"}, Scope: "group:finance", Quorum: 2, Approvals: []string{"Fin-Ann"}}
	for _, tc := range []struct {
		name   string
		w      *workflows.Waiting
		actor  string
		scopes []string
		all    bool
		want   bool
	}{
		{"anyone at an open gate", open, "bob", nil, false, true},
		{"the requester", open, "rita", nil, true, false},
		{"a named approver", named, "bob", nil, false, true},
		{"a holder of the gate's scope", named, "fin-bob", []string{"group:finance"}, false, true},
		{"someone outside the gate", named, "carol", []string{"approve"}, false, false},
		{"every scope, without authentication", named, "local", nil, true, true},
		{"an approver who approved, cased otherwise", named, "fin-ann", []string{"group:finance"}, false, false},
		{"an input gate", &workflows.Waiting{Step: "deploy", For: "input"}, "bob", nil, true, false},
		{"no gate", nil, "bob", nil, true, false},
	} {
		if got := tc.w.MayApprove(tc.actor, tc.scopes, tc.all); got != tc.want {
			t.Errorf("%s: MayApprove(%s) = %v, want %v", tc.name, tc.actor, got, tc.want)
		}
	}
}
