package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// parse loads a definition written in a test, failing the test on any problem.
func parse(t *testing.T, src string) (workflows.Definition, []byte) {
	t.Helper()
	d, err := workflows.ParseDefinition(t.Name()+".yaml", []byte(src), workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	return d, []byte(src)
}

// guarded marks an order refunded (undone by restoring its status), then guards against
// amounts above the order's total.
const guarded = `name: guarded
title: Guarded
version: 1
summary: "refund {{params.order_id}}"
parameters:
  type: object
  properties:
    order_id: {type: string}
    amount_cents: {type: integer}
statements:
  find_order: {mode: read, query: "SELECT status, total_cents FROM orders WHERE reference = :order_id"}
  mark_refunded: {mode: write, query: "UPDATE orders SET status = 'refunded' WHERE reference = :order_id"}
  restore_status: {mode: write, query: "UPDATE orders SET status = :status WHERE reference = :order_id"}
steps:
  - name: find_order
    sql: {statement: find_order, args: {order_id: "{{params.order_id}}"}}
  - name: mark_order
    sql: {statement: mark_refunded, args: {order_id: "{{params.order_id}}"}}
    compensate:
      sql: {statement: restore_status, args: {order_id: "{{params.order_id}}", status: "{{steps.find_order.output.row.status}}"}}
  - name: within_total
    fail:
      when: params.amount_cents > steps.find_order.output.row.total_cents
      reason: "{{params.amount_cents}} is more than the {{steps.find_order.output.row.total_cents}} {{params.order_id}} cost"
  - name: after
    approval: {scope: approve}
`

// TestAGuardThatHoldsStopsTheRunWithItsReasonAndUndoes: a fail step whose condition is
// true ends the run failed with its reason as the run's error, the step failed with it,
// and what was done before undone; no gate opens and nothing waits for input.
func TestAGuardThatHoldsStopsTheRunWithItsReasonAndUndoes(t *testing.T) {
	h := newHarness(t)
	d, src := parse(t, guarded)
	before := h.orderStatus("ORD-01002")
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01002", "amount_cents": 99999999}`)
	want := "step within_total stopped the run: 99999999 is more than the "
	if err == nil || errorType(err) != workflows.ErrTypeStepFailed || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v (%s), want a StepFailed saying %q", err, errorType(err), want)
	}
	if st.Status != workflows.StatusFailed || !strings.HasPrefix(st.Error, want) || !strings.HasSuffix(st.Error, "ORD-01002 cost") {
		t.Errorf("status %s, error %q", st.Status, st.Error)
	}
	if s := stepOf(st, "within_total"); s.Status != workflows.StepFailed || s.Kind != workflows.StepGuard || !strings.HasSuffix(s.Error, "ORD-01002 cost") || s.Attempts != 0 {
		t.Errorf("guard step = %+v", s)
	}
	if s := stepOf(st, "after"); s.Status != workflows.StepPending {
		t.Errorf("the gate after the guard is %s, want pending", s.Status)
	}
	if s := stepOf(st, "mark_order"); s.Status != workflows.StepCompensated {
		t.Errorf("mark_order is %s, want compensated", s.Status)
	}
	if got := h.orderStatus("ORD-01002"); got != before {
		t.Errorf("order status %q after the guard stopped the run, want %q restored", got, before)
	}
	if n := len(st.Events("continued")) + len(st.Events("failure_accepted")); n != 0 {
		t.Errorf("the run waited for input: %+v", st.History)
	}
}

// TestAGuardThatDoesNotHoldLetsTheRunGoOn: a false condition completes the step, says so,
// and the run reaches the next step.
func TestAGuardThatDoesNotHoldLetsTheRunGoOn(t *testing.T) {
	h := newHarness(t)
	d, src := parse(t, guarded)
	var at workflows.StatusView
	h.at(time.Minute, func() {
		at = h.status()
		h.env.CancelWorkflow()
	})
	st, _ := h.runProcess(d, src, `{"order_id": "ORD-01002", "amount_cents": 100}`)
	if at.Status != workflows.StatusWaitingApproval || at.CurrentStep != "after" {
		t.Errorf("after the guard the run is %s at %s, want waiting at after", at.Status, at.CurrentStep)
	}
	if s := stepOf(st, "within_total"); s.Status != workflows.StepCompleted || !strings.Contains(s.Output, "guard passed") {
		t.Errorf("guard step = %+v", s)
	}
}

// TestTheRefundGuardStopsADuplicateRefund: the shipped refund example stops at its guard
// when the order is already refunded, before any approver is asked or any refund issued.
func TestTheRefundGuardStopsADuplicateRefund(t *testing.T) {
	h := newHarness(t)
	if _, err := h.db.RunStatement(context.Background(), activities.StatementInput{Name: "t", Mode: "write", Key: "t",
		Query: "UPDATE orders SET status = 'refunded' WHERE reference = :r", Args: map[string]any{"r": "ORD-01007"}}); err != nil {
		t.Fatal(err)
	}
	d, src := refundSource(t)
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01007", "amount_cents": 2500, "reason": "twice"}`)
	if err == nil || st.Status != workflows.StatusFailed || st.Error != "step not_refunded_yet stopped the run: ORD-01007 is already refunded" {
		t.Fatalf("status %s, error %q (%v)", st.Status, st.Error, err)
	}
	if len(h.backends.Refunds()) != 0 || stepOf(st, "approval").Status != workflows.StepPending {
		t.Errorf("refunds %v, approval %s: the guard should stop before both", h.backends.Refunds(), stepOf(st, "approval").Status)
	}
}

// stepsHead is a definition's head for the load tests: steps start on line 10.
const stepsHead = "name: p\ntitle: P\nversion: 1\nsummary: s\nparameters:\n  type: object\n  properties:\n    amount: {type: integer}\n"

// checkRefusals loads each definition and wants its error to name file, line and rule.
func checkRefusals(t *testing.T, cases [][2]string) {
	t.Helper()
	for _, tc := range cases {
		_, err := workflows.ParseDefinition("p.yaml", []byte(stepsHead+tc[0]), workflows.DefinitionRules{})
		if err == nil || !strings.Contains(err.Error(), tc[1]) {
			t.Errorf("%s\nerr = %v\nwant %q", tc[0], err, tc[1])
		}
	}
}

// TestBadGuardsAreRefusedAtLoad: a guard without its condition or reason, with a
// condition that is not boolean or names a later step, or with what only a step that
// does something may have, is refused with the file, line and field.
func TestBadGuardsAreRefusedAtLoad(t *testing.T) {
	checkRefusals(t, [][2]string{
		{"steps:\n  - name: a\n    fail: {reason: no}\n", `p.yaml:11: fail needs when; allowed: a boolean CEL condition`},
		{"steps:\n  - name: a\n    fail: {when: params.amount > 1}\n", `p.yaml:11: fail needs a reason; allowed: a template`},
		{"steps:\n  - name: a\n    fail:\n      when: \"'yes'\"\n      reason: no\n", `p.yaml:12: condition "'yes'" is of type string; allowed: a boolean CEL expression`},
		{"steps:\n  - name: a\n    fail:\n      when: params.amount >\n      reason: no\n", `p.yaml:12: condition "params.amount >" does not compile`},
		{"steps:\n  - name: a\n    fail:\n      when: steps.b.output.x == 1\n      reason: no\n  - name: b\n    approval: {scope: approve}\n", `p.yaml:12: steps.b refers to a step that does not exist or comes later`},
		{"steps:\n  - name: a\n    fail:\n      when: params.amount > 1\n      reason: \"{{params.nope}}\"\n", `p.yaml:13: params.nope names a parameter the schema does not declare`},
		{"steps:\n  - name: a\n    fail: {when: params.amount > 1, reason: no}\n    retry: {maximum_attempts: 3}\n", `p.yaml:12: fail step "a" cannot have retry; allowed: retry on the steps that do something`},
		{"steps:\n  - name: a\n    fail: {when: params.amount > 1, reason: no}\n    on_failure: fail\n", `p.yaml:12: fail step "a" cannot have on_failure`},
		{"steps:\n  - name: a\n    fail: {when: params.amount > 1, reason: no}\n    compensate: {call: {service: users, method: POST, endpoint: x}}\n", `p.yaml:12: fail step "a" cannot be compensated: it does nothing to undo`},
		{"steps:\n  - name: a\n    fail: {when: params.amount > 1, reason: no, retry: 3}\n", `p.yaml:11: unknown field "retry"; allowed: when, reason`},
	})
}
