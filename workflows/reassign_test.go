package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

func reassign(actor, comment string, to workflows.Reassignment, scopes ...string) workflows.AdvanceRequest {
	return workflows.AdvanceRequest{Action: workflows.ActionReassign, Step: "finance_approval", Actor: actor, Comment: comment, Reassign: &to, Scopes: scopes}
}

// A gate is handed to other people by an approver it names or an admin, with a reason;
// it keeps its deadline and the approvals it has, and only the new people may decide.
func TestAGateIsReassignedByItsApproverOrAnAdmin(t *testing.T) {
	h := newHarness(t)
	// The large-refund gate escalates to the CFO, whom it names.
	d, src := refundSource(t, "      scope: group:finance\n      quorum: 2", "      approvers: [fin-ann, fin-bob]\n      quorum: 2")
	var outsider, bare, tooFew, toSelf, byApprover, byAdmin, stale, approve *outcome
	var deadline time.Time
	var after workflows.StatusView
	h.at(time.Hour, func() {
		deadline = h.status().Waiting.Deadline
		h.advance(decide(workflows.ActionApprove, "finance_approval", "fin-ann", "approve"))
	})
	h.at(2*time.Hour, func() {
		outsider = h.advance(reassign("mallory", "mine now", workflows.Reassignment{Approvers: []string{"mallory"}}, "approve"))
		bare = h.advance(reassign("fin-bob", "", workflows.Reassignment{Approvers: []string{"fin-cy"}}, "approve"))
		tooFew = h.advance(reassign("fin-bob", "away", workflows.Reassignment{Approvers: []string{"fin-ann"}}, "approve"))
		toSelf = h.advance(reassign("fin-bob", "away", workflows.Reassignment{Approvers: []string{"alice"}}, "approve"))
		byApprover = h.advance(reassign("fin-bob", "I am on leave", workflows.Reassignment{Approvers: []string{"fin-ann", "fin-cy"}}, "approve"))
	})
	h.at(3*time.Hour, func() {
		after = h.status()
		stale = h.advance(decide(workflows.ActionApprove, "finance_approval", "fin-bob", "approve"))
		byAdmin = h.advance(reassign("root", "fin-cy is out too", workflows.Reassignment{Scope: "group:finance"}, "admin"))
	})
	h.at(4*time.Hour, func() { approve = h.advance(decide(workflows.ActionApprove, "finance_approval", "fin-dee", finance)) })
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)
	if err != nil {
		t.Fatal(err)
	}
	outsider.refused(t, "mallory may not reassign step finance_approval; allowed: an approver it names (fin-ann, fin-bob) or anyone holding the admin scope")
	bare.refused(t, "a reassign of step finance_approval needs a comment saying why")
	tooFew.refused(t, "needs 1 more approvals, and reassign_to names 0 people who have not approved")
	toSelf.refused(t, "alice requested this workflow and cannot approve it")
	byApprover.accepted(t)
	if w := after.Waiting; w == nil || strings.Join(w.Approvers, ",") != "fin-ann,fin-cy" || strings.Join(w.Approvals, ",") != "fin-ann" || !w.Deadline.Equal(deadline) {
		t.Errorf("after the reassign the gate waits %+v, want fin-ann and fin-cy, fin-ann's approval kept, the same deadline %v", w, deadline)
	}
	stale.refused(t, "fin-bob may not decide at step finance_approval")
	byAdmin.accepted(t)
	approve.accepted(t)
	if st.Status != workflows.StatusCompleted || stepOf(st, "finance_approval").Actor != "fin-ann, fin-dee" {
		t.Errorf("ended %s with %+v", st.Status, stepOf(st, "finance_approval"))
	}
	re := st.Events("reassigned")
	if len(re) != 2 || re[0].Actor != "fin-bob" || re[0].Detail != "from fin-ann, fin-bob to fin-ann, fin-cy — I am on leave" ||
		re[1].Actor != "root" || !strings.Contains(re[1].Detail, "to anyone holding the scope group:finance — fin-cy is out too") {
		t.Errorf("reassigned events = %+v", re)
	}
}
