package workflows_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// refundWithChanges is the refund example whose gates let finance send a refund back to
// its requester, to revise its amount or reason, at most twice.
func refundWithChanges(t *testing.T) (workflows.Definition, []byte) {
	return refundSource(t,
		`        deadline: 24h
      changes: {revisable: [amount_cents, reason], max_rounds: 3}`, `        deadline: 24h
      changes: {revisable: [amount_cents, reason], max_rounds: 2}`,
		`    approval:
      scope: group:finance
      deadline: 72h
      changes: {revisable: [amount_cents, reason], max_rounds: 3}`, `    approval:
      scope: group:finance
      deadline: 72h
      changes: {revisable: [amount_cents, reason], max_rounds: 2, deadline: 24h}`)
}

func revise(actor string, params map[string]any) workflows.AdvanceRequest {
	return workflows.AdvanceRequest{Action: workflows.ActionRevise, Step: "approval", Actor: actor, Parameters: params, Comment: "as asked"}
}

// An approver sends a refund back with what to change; only the requester may revise, only
// what the gate lets change, to values the parameter schema accepts; the gate then opens
// again and the refund issues the revised amount. Every round is in the record.
func TestChangesRequestedAreRevisedAndApproved(t *testing.T) {
	h := newHarness(t)
	d, src := refundWithChanges(t)
	var bare, self, ask, byOther, notRevisable, invalid, same, ok, approve *outcome
	var asked, reopened workflows.StatusView
	h.at(time.Hour, func() {
		if w := h.status().Waiting; w == nil || !strings.Contains(fmt.Sprint(w.Actions), "request_changes") || fmt.Sprint(w.Revisable) != "[amount_cents reason]" {
			t.Errorf("waiting = %+v, want request_changes offered with what may change", w)
		}
		req := decide(workflows.ActionRequestChanges, "approval", "bob", finance)
		req.Comment = ""
		bare = h.advance(req)
		self = h.advance(decide(workflows.ActionRequestChanges, "approval", "alice", finance))
		req.Comment = "we refund 1500 for a partial loss"
		ask = h.advance(req)
	})
	h.at(2*time.Hour, func() {
		asked = h.status()
		byOther = h.advance(revise("bob", map[string]any{"amount_cents": 1500}))
		notRevisable = h.advance(revise("alice", map[string]any{"order_id": "ORD-01004"}))
		invalid = h.advance(revise("alice", map[string]any{"amount_cents": -5}))
		same = h.advance(revise("alice", map[string]any{"amount_cents": 2500}))
		ok = h.advance(revise("alice", map[string]any{"amount_cents": 1500}))
	})
	h.at(3*time.Hour, func() {
		reopened = h.status()
		approve = h.advance(decide(workflows.ActionApprove, "approval", "bob", finance))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`)
	if err != nil {
		t.Fatal(err)
	}
	bare.refused(t, "a request for changes at step approval needs a comment saying what to change")
	self.refused(t, "alice requested this workflow and cannot request_changes it (separation of duties)")
	ask.accepted(t)
	if asked.Status != workflows.StatusChangesRequested || asked.Waiting == nil || asked.Waiting.For != "changes" {
		t.Fatalf("after the request: %s waiting %+v", asked.Status, asked.Waiting)
	}
	if c := asked.Waiting.Changes; c == nil || c.By != "bob" || c.Comment != "we refund 1500 for a partial loss" || c.Requester != "alice" ||
		c.Round != 1 || c.MaxRounds != 2 || fmt.Sprint(asked.Waiting.Actions) != "[revise withdraw]" {
		t.Errorf("changes = %+v, actions %v", c, asked.Waiting.Actions)
	}
	if dl := asked.Waiting.Deadline.Sub(asked.UpdatedAt); dl > 24*time.Hour || dl < 23*time.Hour {
		t.Errorf("the requester has %s to revise, want the gate's changes deadline of 24h", dl)
	}
	byOther.refused(t, "bob may not revise at step approval; only the requester, alice, may")
	notRevisable.refused(t, "parameters.order_id: may not be revised at step approval; allowed: amount_cents, reason")
	invalid.refused(t, "parameters.amount_cents: minimum: got -5, want 1; allowed: integer, from 1 to 10000000")
	same.refused(t, "the revision changes nothing")
	ok.accepted(t)
	if reopened.Status != workflows.StatusWaitingApproval || reopened.Waiting == nil || reopened.Waiting.For != "approval" || len(reopened.Waiting.Approvals) != 0 {
		t.Errorf("after the revision: %s waiting %+v", reopened.Status, reopened.Waiting)
	}
	approve.accepted(t)
	if st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s: %s", st.Status, st.Error)
	}
	if refunds := h.backends.Refunds(); len(refunds) != 1 || fmt.Sprint(refunds[0]["amount_cents"]) != "1500" {
		t.Errorf("refunds = %v, want the revised 1500", refunds)
	}
	if !strings.Contains(string(st.Parameters), `"amount_cents":1500`) {
		t.Errorf("parameters in the record = %s", st.Parameters)
	}
	asks, revs := st.Events("changes_requested"), st.Events("revised")
	if len(asks) != 1 || asks[0].Actor != "bob" || !strings.Contains(asks[0].Detail, "round 1 of 2") || !strings.Contains(asks[0].Detail, "partial loss") {
		t.Errorf("changes_requested = %+v", asks)
	}
	if len(revs) != 1 || revs[0].Actor != "alice" || !strings.Contains(revs[0].Detail, "amount_cents: 2500 → 1500") {
		t.Errorf("revised = %+v", revs)
	}
}

// A revision opens a new round: the approvals of the earlier round no longer count, and
// no more rounds than the gate allows can be asked for. A withdraw ends the run withdrawn.
func TestChangesStartANewRoundAndWithdrawEnds(t *testing.T) {
	h := newHarness(t)
	d, src := refundWithChanges(t)
	params := `{"order_id": "ORD-01003", "amount_cents": 90000, "reason": "damaged in transit"}`
	var third, withdrawByOther, withdraw *outcome
	var round2 workflows.StatusView
	step := "finance_approval"
	ask := func(by string) *outcome {
		req := decide(workflows.ActionRequestChanges, step, by, finance)
		req.Comment = "lower it"
		return h.advance(req)
	}
	rev := func(cents int) *outcome {
		req := revise("alice", map[string]any{"amount_cents": cents})
		req.Step = step
		return h.advance(req)
	}
	h.at(1*time.Hour, func() { h.advance(decide(workflows.ActionApprove, step, "bob", finance)) })
	h.at(2*time.Hour, func() { ask("carol") })
	h.at(3*time.Hour, func() { rev(80000) })
	h.at(4*time.Hour, func() { round2 = h.status(); ask("bob") })
	h.at(5*time.Hour, func() { rev(70000) })
	h.at(6*time.Hour, func() { third = ask("bob") })
	h.at(7*time.Hour, func() { h.advance(decide(workflows.ActionReject, step, "bob", finance)) })
	st, _ := h.runProcess(d, src, params)
	if w := round2.Waiting; w == nil || len(w.Approvals) != 0 || w.Quorum != 2 {
		t.Errorf("round 2 waits %+v, want no approvals of the 2 it needs", w)
	}
	third.refused(t, "step finance_approval already had 2 rounds of changes, its most; approve or reject")
	if st.Status != workflows.StatusRejected {
		t.Errorf("status %s", st.Status)
	}

	h = newHarness(t)
	h.at(1*time.Hour, func() { ask("carol") })
	h.at(2*time.Hour, func() {
		req := workflows.AdvanceRequest{Action: workflows.ActionWithdraw, Step: step, Actor: "carol", Comment: "no"}
		withdrawByOther = h.advance(req)
		req.Actor, req.Comment = "alice", "the customer kept the item"
		withdraw = h.advance(req)
	})
	st, err := h.runProcess(d, src, params)
	withdrawByOther.refused(t, "carol may not withdraw at step finance_approval; only the requester, alice, may")
	withdraw.accepted(t)
	if st.Status != workflows.StatusWithdrawn || err == nil || !strings.Contains(err.Error(), "withdrawn at step finance_approval by alice: the customer kept the item") {
		t.Errorf("status %s err %v", st.Status, err)
	}
}

// A gate without changes refuses request_changes and does not offer it.
func TestAGateWithoutChangesRefusesThem(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t, "      deadline: 72h\n      changes: {revisable: [amount_cents, reason], max_rounds: 3}\n", "      deadline: 72h\n")
	var o *outcome
	h.at(time.Hour, func() {
		if w := h.status().Waiting; w == nil || strings.Contains(fmt.Sprint(w.Actions), "request_changes") {
			t.Errorf("waiting = %+v, want no request_changes", w)
		}
		req := decide(workflows.ActionRequestChanges, "approval", "bob", finance)
		o = h.advance(req)
		h.advance(decide(workflows.ActionApprove, "approval", "bob", finance))
	})
	if _, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`); err != nil {
		t.Fatal(err)
	}
	o.refused(t, "step approval allows no changes to be requested")
}

// A run waiting for its requester's revision continues as new like any gate: the next
// run waits for the same revision, with what was asked and the round, and the revised
// parameters are what the run after a second continue-as-new carries.
func TestARunWaitingForRevisionContinuesAsNew(t *testing.T) {
	h := newHarness(t)
	d, src := refundWithChanges(t)
	h.at(time.Hour, func() {
		req := decide(workflows.ActionRequestChanges, "approval", "bob", finance)
		req.Comment = "refund 1500"
		h.advance(req)
	})
	h.at(2*time.Hour, func() {
		h.env.SetContinueAsNewSuggested(true)
		h.env.SignalWorkflow("Approve", "wakes the run")
	})
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: workflows.NewProcessSource(d, src),
		Params: json.RawMessage(`{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`)})
	var can *workflow.ContinueAsNewError
	if !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("the run ended with %v, want continue-as-new", h.env.GetWorkflowError())
	}
	var in workflows.ProcessInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	if g := in.Resume.Gate; g.Kind != "changes" || g.Round != 1 || g.Asked == nil || g.Asked.Comment != "refund 1500" {
		t.Fatalf("resume gate = %+v", g)
	}
	next := h.sibling(in.Resume.State.WorkflowID)
	next.env.SetStartTime(in.Resume.State.UpdatedAt)
	var waiting workflows.StatusView
	var ok, approve *outcome
	next.at(time.Minute, func() {
		waiting = next.status()
		ok = next.advance(revise("alice", map[string]any{"amount_cents": 1500}))
	})
	next.at(time.Hour, func() { approve = next.advance(decide(workflows.ActionApprove, "approval", "bob", finance)) })
	next.env.ExecuteWorkflow(d.Name, in)
	st, err := next.result()
	if err != nil {
		t.Fatal(err)
	}
	if waiting.Status != workflows.StatusChangesRequested || waiting.Waiting == nil || waiting.Waiting.Changes == nil || waiting.Waiting.Changes.By != "bob" {
		t.Errorf("the next run waits as %s %+v", waiting.Status, waiting.Waiting)
	}
	ok.accepted(t)
	approve.accepted(t)
	if refunds := next.backends.Refunds(); st.Status != workflows.StatusCompleted || len(refunds) != 1 || fmt.Sprint(refunds[0]["amount_cents"]) != "1500" {
		t.Errorf("ended %s with refunds %v", st.Status, refunds)
	}
}

// What a gate lets a revision change is checked when the definition loads.
func TestDeclaredChangesAreCheckedAtLoad(t *testing.T) {
	cases := map[string]string{
		`changes: {revisable: []}`:                       "changes names no revisable parameter",
		`changes: {revisable: [refund_all]}`:             `revisable parameter "refund_all" is not declared; allowed: amount_cents, order_id, reason`,
		`changes: {revisable: [reason, reason]}`:         `revisable parameter "reason" is listed twice`,
		`changes: {revisable: [reason], max_rounds: 99}`: "max_rounds 99; allowed: 1 to 20",
		`changes: {revisable: [reason], deadline: soon}`: `"soon" is not a duration`,
		`changes: {revisable: [reason], rounds: 2}`:      "rounds",
	}
	for decl, want := range cases {
		src := strings.Replace(refundYAML(t), "      deadline: 72h\n      changes: {revisable: [amount_cents, reason], max_rounds: 3}\n",
			"      deadline: 72h\n      "+decl+"\n", 1)
		_, err := workflows.ParseDefinition("refund_approval.yaml", []byte(src), workflows.DefinitionRules{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refund_approval.yaml:") {
			t.Errorf("%s: err = %v, want %q with file:line", decl, err, want)
		}
	}
}
