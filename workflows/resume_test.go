package workflows_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// TestALongGateContinuesAsNewWithItsRecordAndItsGate: a large refund waits for two
// approvers. After the first, its history passes its bound (here Temporal's suggestion):
// the run continues as new, and the next run waits at the same gate with the approval it
// had, the same deadline and the whole record; the second approver completes it, the
// first cannot approve twice, and the refund is issued once.
func TestALongGateContinuesAsNewWithItsRecordAndItsGate(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	var first *outcome
	var deadline time.Time
	h.at(time.Hour, func() {
		first = h.advance(decide(workflows.ActionApprove, "finance_approval", "bob", finance))
	})
	h.at(2*time.Hour, func() {
		deadline = h.status().Waiting.Deadline
		h.env.SetContinueAsNewSuggested(true)
		h.env.SignalWorkflow("Approve", "wakes the run: an unknown signal is recorded and ignored")
	})
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: workflows.NewProcessSource(d, src),
		Params: json.RawMessage(`{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)})
	first.accepted(t)
	var can *workflow.ContinueAsNewError
	if !h.env.IsWorkflowCompleted() || !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("the run ended with %v, want continue-as-new", h.env.GetWorkflowError())
	}
	if can.WorkflowType.Name != d.Name {
		t.Errorf("continued as %s, want %s", can.WorkflowType.Name, d.Name)
	}
	var in workflows.ProcessInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	res := in.Resume
	if res == nil || res.Runs != 2 || res.State.Status != workflows.StatusWaitingApproval || res.State.CurrentStep != "finance_approval" ||
		!slices.Equal(res.Gate.Policy.Approvals, []string{"bob"}) || !res.Gate.Deadline.Equal(deadline) || len(res.State.Events("continued_as_new")) != 1 {
		t.Fatalf("resume = %+v", res)
	}
	// The feed goes on across the runs: the next run starts from the transitions and the
	// revision the first one had, and adds none for waiting at the same gate.
	carried := res.State.Transitions
	if len(carried) == 0 || res.State.Revision != carried[len(carried)-1].Revision ||
		said(carried[len(carried)-1:])[0] != "waiting_approval@finance_approval+1" {
		t.Fatalf("the resume carries the feed %v at revision %d", said(carried), res.State.Revision)
	}
	if !res.CostLimited || !res.StrictActors {
		t.Errorf("the next run does not keep the cost limit and folded names: %+v", res)
	}
	if in.Process.Hash != workflows.NewProcessSource(d, src).Hash || string(in.Params) == "" {
		t.Errorf("the next run does not carry the definition and parameters: %+v", in)
	}

	next := h.sibling(res.State.WorkflowID)
	next.env.SetStartTime(res.State.UpdatedAt)
	var again, folded, second *outcome
	next.at(time.Minute, func() {
		s := next.status()
		if s.Status != workflows.StatusWaitingApproval || s.Waiting == nil || !slices.Equal(s.Waiting.Approvals, []string{"bob"}) ||
			!s.Waiting.Deadline.Equal(deadline) || !s.StartedAt.Equal(res.State.StartedAt) {
			t.Errorf("the next run waits as %s %+v (started %v), want the gate with bob's approval until %v", s.Status, s.Waiting, s.StartedAt, deadline)
		}
		if f := next.feed(res.State.Revision); f.Revision != res.State.Revision || len(f.Transitions) != 0 {
			t.Errorf("the next run's feed at the gate: revision %d, %v after the carried revision %d", f.Revision, said(f.Transitions), res.State.Revision)
		}
		again = next.advance(decide(workflows.ActionApprove, "finance_approval", "bob", finance))
		folded = next.advance(decide(workflows.ActionApprove, "finance_approval", "BOB", finance))
		second = next.advance(decide(workflows.ActionApprove, "finance_approval", "carol", finance))
	})
	next.env.ExecuteWorkflow(d.Name, in)
	st, err := next.result()
	if err != nil {
		t.Fatal(err)
	}
	again.refused(t, "bob already approved step finance_approval")
	folded.refused(t, "BOB already approved step finance_approval (as bob")
	second.accepted(t)
	if st.Status != workflows.StatusCompleted || stepOf(st, "finance_approval").Actor != "bob, carol" {
		t.Errorf("ended %s with finance_approval %+v", st.Status, stepOf(st, "finance_approval"))
	}
	for event, want := range map[string]int{"started": 1, "continued_as_new": 1, "approved": 1, "completed": 1} {
		if got := len(st.Events(event)); got != want {
			t.Errorf("%d %q events in the record, want %d", got, event, want)
		}
	}
	after := next.feed(res.State.Revision)
	checkRevisions(t, after.Transitions, res.State.Revision+1)
	if got := said(after.Transitions); len(got) == 0 || got[0] != "in_progress@finance_approval" || got[len(got)-1] != "completed@" {
		t.Errorf("after the carried revision the feed says %v", got)
	}
	if got := next.orderStatus("ORD-01004"); got != "refunded" {
		t.Errorf("order status %q, want refunded", got)
	}
}

// TestIgnoredSignalsAreCountedPastTheFirstFifty: a run sent many signals it does not take
// lists the first MaxRecordedIgnoredSignals and counts all of them.
func TestIgnoredSignalsAreCountedPastTheFirstFifty(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	sent := workflows.MaxRecordedIgnoredSignals + 30
	h.at(time.Hour, func() {
		for i := range sent {
			h.env.SignalWorkflow(workflows.SignalApprove, fmt.Sprintf("not a decision %d", i))
		}
	})
	h.at(2*time.Hour, func() {
		if st := h.details(); st.IgnoredSignals != sent || len(st.Events("signal_ignored")) != workflows.MaxRecordedIgnoredSignals {
			t.Errorf("%d ignored signals counted, %d listed; want %d and %d", st.IgnoredSignals, len(st.Events("signal_ignored")), sent, workflows.MaxRecordedIgnoredSignals)
		}
		h.advance(decide(workflows.ActionReject, "finance_approval", "bob", finance))
	})
	if _, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`); err == nil {
		t.Fatal("a rejected run ended without an error")
	}
}

// TestAResumedRunStillUndoesWhatTheFirstRunDid: an onboarding continues as new at its
// manager's gate; the next run is rejected, and it undoes the accounts and the user record
// the first run made, in reverse order, as a run that never continued would.
func TestAResumedRunStillUndoesWhatTheFirstRunDid(t *testing.T) {
	h := newHarnessOn(t, true)
	h.at(time.Hour, func() {
		h.env.SetContinueAsNewSuggested(true)
		h.env.SignalWorkflow(workflows.SignalApprove, "not a decision")
	})
	h.startOnboarding(onboarding())
	var can *workflow.ContinueAsNewError
	if !h.env.IsWorkflowCompleted() || !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("the run ended with %v, want continue-as-new", h.env.GetWorkflowError())
	}
	var in workflows.BuiltinInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil || in.Resume == nil || in.Process == nil {
		t.Fatalf("next input %+v: %v", in, err)
	}
	if got := h.userStatus("new.hire@example.com"); got != "pending" {
		t.Fatalf("user record %s while waiting, want pending", got)
	}
	next := h.sibling(in.Resume.State.WorkflowID)
	next.at(time.Minute, func() {
		next.advance(decide(workflows.ActionReject, workflows.StepManagerApproval, "bob", "approve"))
	})
	next.env.ExecuteWorkflow(string(workflows.KindOnboarding), in)
	st, err := next.result()
	if err == nil || st.Status != workflows.StatusRejected {
		t.Fatalf("ended %s (%v), want rejected", st.Status, err)
	}
	undone := st.Events("compensated")
	if len(undone) != 2 || undone[0].Step != "provision_accounts" || undone[1].Step != "create_user_record" {
		t.Errorf("compensations %+v, want provision_accounts then create_user_record", undone)
	}
	if got := next.userStatus("new.hire@example.com"); got != "inactive" {
		t.Errorf("user record %s after the rejection, want inactive", got)
	}
	if got := next.backends.Account("new.hire@example.com")["status"]; got != "deprovisioned" {
		t.Errorf("account %s after the rejection, want deprovisioned", got)
	}
}

// TestAFailedStepWaitsAsAGateThatTellsAndContinuesAsNew: a step of a definition that fails
// past its retries waits for input as a gate like an approval: the channels are told why
// it failed, and when the run's history fills while it waits, the run continues as new
// and the next run waits at the same step until the same deadline, where a reject ends it.
func TestAFailedStepWaitsAsAGateThatTellsAndContinuesAsNew(t *testing.T) {
	h := newHarness(t)
	notices := h.tellOneChannel()
	d, src := refundSource(t)
	var deadline time.Time
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "approval", "bob", finance)) })
	h.at(2*time.Hour, func() {
		s := h.status()
		if s.Status != workflows.StatusWaitingInput || s.Waiting == nil || s.Waiting.For != "input" {
			t.Fatalf("the run is %s waiting for %+v, want waiting_input", s.Status, s.Waiting)
		}
		deadline = s.Waiting.Deadline
		h.env.SetContinueAsNewSuggested(true)
		h.env.SignalWorkflow("Approve", "wakes the run: an unknown signal is recorded and ignored")
	})
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: workflows.NewProcessSource(d, src),
		Params: json.RawMessage(`{"order_id": "ORD-99999", "amount_cents": 1000, "reason": "no such order"}`)})
	var can *workflow.ContinueAsNewError
	if !h.env.IsWorkflowCompleted() || !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("the run ended with %v, want continue-as-new", h.env.GetWorkflowError())
	}
	told := *notices
	i := slices.IndexFunc(told, func(n activities.Notice) bool { return n.Event == activities.EventInputRequired })
	if i < 0 || told[i].Step != "notify_customer" || told[i].Attempt != 1 || !strings.Contains(told[i].Failure, "has no field row") {
		t.Errorf("notices %+v; want input_required at notify_customer saying why it failed", *notices)
	}
	var in workflows.ProcessInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	res := in.Resume
	if res == nil || res.Gate.Kind != "input" || res.State.Status != workflows.StatusWaitingInput || res.State.CurrentStep != "notify_customer" ||
		!res.Gate.Deadline.Equal(deadline) || !res.InputGates {
		t.Fatalf("resume = %+v", res)
	}

	next := h.sibling(res.State.WorkflowID)
	next.env.SetStartTime(res.State.UpdatedAt)
	next.at(time.Minute, func() {
		s := next.status()
		if s.Status != workflows.StatusWaitingInput || s.Waiting == nil || s.Waiting.Step != "notify_customer" || !s.Waiting.Deadline.Equal(deadline) {
			t.Errorf("the next run waits as %s %+v, want notify_customer's input gate until %v", s.Status, s.Waiting, deadline)
		}
		next.advance(decide(workflows.ActionReject, "notify_customer", "bob"))
	})
	next.env.ExecuteWorkflow(d.Name, in)
	st, err := next.result()
	if errorType(err) != workflows.ErrTypeStepFailed || st.Status != workflows.StatusFailed {
		t.Fatalf("ended %s (%v), want failed", st.Status, err)
	}
	for event, want := range map[string]int{"continued_as_new": 1, "failure_accepted": 1, "step_failed": 1} {
		if got := len(st.Events(event)); got != want {
			t.Errorf("%d %q events in the record, want %d", got, event, want)
		}
	}
}
