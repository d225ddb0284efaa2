package workflows_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/workflows"
)

// waiting marks an order refunded (undone by restoring its status), waits, then reads the
// order again; WAIT is replaced by the wait's declaration.
const waiting = `name: waiting
title: Waiting
version: 1
summary: "hold {{params.order_id}}"
parameters:
  type: object
  properties:
    order_id: {type: string}
    days: {type: integer}
    at: {type: string}
statements:
  find_order: {mode: read, query: "SELECT status FROM orders WHERE reference = :order_id"}
  mark_refunded: {mode: write, query: "UPDATE orders SET status = 'refunded' WHERE reference = :order_id"}
  restore_status: {mode: write, query: "UPDATE orders SET status = :status WHERE reference = :order_id"}
steps:
  - name: find_order
    sql: {statement: find_order, args: {order_id: "{{params.order_id}}"}}
  - name: mark_order
    sql: {statement: mark_refunded, args: {order_id: "{{params.order_id}}"}}
    compensate:
      sql: {statement: restore_status, args: {order_id: "{{params.order_id}}", status: "{{steps.find_order.output.row.status}}"}}
  - name: hold
    wait: WAIT
  - name: after
    sql: {statement: find_order, args: {order_id: "{{params.order_id}}"}}
`

func waitingDefinition(t *testing.T, wait string) (workflows.Definition, []byte) {
	t.Helper()
	return parse(t, strings.Replace(waiting, "WAIT", wait, 1))
}

// TestAWaitOf72HoursHoldsTheRunThenGoesOn: a wait holds the run in status waiting, its
// status view saying until when, on a durable timer that the time-skipping test
// environment fires in milliseconds; then the run goes on to its end.
func TestAWaitOf72HoursHoldsTheRunThenGoesOn(t *testing.T) {
	for _, tc := range []struct{ name, wait, params string }{
		{"literal", "{for: 72h}", `{"order_id": "ORD-01003"}`},
		{"days from a parameter", `{for: "{{params.days}}d"}`, `{"order_id": "ORD-01003", "days": 3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			d, src := waitingDefinition(t, tc.wait)
			start := h.env.Now().UTC()
			var at workflows.StatusView
			var details string
			h.at(time.Hour, func() {
				at = h.status()
				details = h.details().Outputs["mark_order"]
			})
			began := time.Now()
			st, err := h.runProcess(d, src, tc.params)
			took := time.Since(began)
			if err != nil || st.Status != workflows.StatusCompleted {
				t.Fatalf("ended %s: %v", st.Status, err)
			}
			if took > 5*time.Second {
				t.Errorf("72 hours of waiting took %s of test time", took)
			}
			w := at.Waiting
			if at.Status != workflows.StatusWaiting || at.CurrentStep != "hold" || w == nil || w.For != "timer" || w.Step != "hold" || len(w.Actions) != 0 {
				t.Fatalf("an hour in, status %s at %s, waiting %+v", at.Status, at.CurrentStep, w)
			}
			if want := start.Add(72 * time.Hour); w.Deadline.Sub(want).Abs() > time.Second {
				t.Errorf("waits until %s, want %s", w.Deadline, want)
			}
			if details == "" {
				t.Error("the record has no output of the step before the wait")
			}
			hold := stepOf(st, "hold")
			if hold.Status != workflows.StepCompleted || hold.Kind != workflows.StepWait || !strings.HasPrefix(hold.Output, "waited until ") {
				t.Errorf("hold = %+v", hold)
			}
			if hold.FinishedAt.Sub(*hold.StartedAt) < 72*time.Hour-time.Second {
				t.Errorf("hold ran from %s to %s, less than 72h", hold.StartedAt, hold.FinishedAt)
			}
			if e := st.Events("waiting"); len(e) != 1 || !strings.HasPrefix(e[0].Detail, "until ") {
				t.Errorf("waiting events %+v", e)
			}
			if s := stepOf(st, "after"); s.Status != workflows.StepCompleted {
				t.Errorf("after = %+v", s)
			}
		})
	}
}

// TestAWaitUntilATimePastGoesOnAtOnce: until a time already past completes the step with
// no timer, and the run never shows waiting; a time ahead is waited for.
func TestAWaitUntilATimePastGoesOnAtOnce(t *testing.T) {
	h := newHarness(t)
	d, src := waitingDefinition(t, `{until: "{{params.at}}"}`)
	var at workflows.StatusView
	h.at(time.Minute, func() { at = h.status() })
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "at": "2001-02-03T04:05:06Z"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	if hold := stepOf(st, "hold"); hold.Status != workflows.StepCompleted || hold.Output != "2001-02-03T04:05:06Z had passed: nothing to wait for" {
		t.Errorf("hold = %+v", hold)
	}
	if at.Status != "" && at.Status != workflows.StatusCompleted {
		t.Errorf("a minute in, status %s; want the run ended", at.Status)
	}

	h = newHarness(t)
	wake := h.env.Now().UTC().Add(50 * time.Hour).Truncate(time.Second)
	h.at(49*time.Hour, func() { at = h.status() })
	st, err = h.runProcess(d, src, `{"order_id": "ORD-01003", "at": "`+wake.Format(time.RFC3339)+`"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	if at.Status != workflows.StatusWaiting || at.Waiting == nil || !at.Waiting.Deadline.Equal(wake) {
		t.Errorf("at 49h, status %s waiting %+v; want waiting until %s", at.Status, at.Waiting, wake)
	}
}

// TestAWaitUntilATimeThatIsNoneFailsNamingTheField: a rendered time or duration that does
// not parse fails the run at the wait, naming the step and the field, and undoes what was
// done.
func TestAWaitUntilATimeThatIsNoneFailsNamingTheField(t *testing.T) {
	for _, tc := range []struct{ wait, params, want string }{
		{`{until: "{{params.at}}"}`, `{"order_id": "ORD-01004", "at": "next tuesday"}`, `step hold failed: wait.until "{{params.at}}" is "next tuesday", not an RFC 3339 time`},
		{`{for: "{{params.days}}d"}`, `{"order_id": "ORD-01004", "days": 900}`, `step hold failed: wait.for "{{params.days}}d" is "900d", not a duration from 0s to 365d`},
	} {
		h := newHarness(t)
		d, src := waitingDefinition(t, tc.wait)
		before := h.orderStatus("ORD-01004")
		st, err := h.runProcess(d, src, tc.params)
		if err == nil || st.Status != workflows.StatusFailed || !strings.HasPrefix(st.Error, tc.want) {
			t.Errorf("%s: ended %s with %q (%v); want failed with %q", tc.wait, st.Status, st.Error, err, tc.want)
		}
		if s := stepOf(st, "hold"); s.Status != workflows.StepFailed {
			t.Errorf("hold = %+v", s)
		}
		if got := h.orderStatus("ORD-01004"); got != before {
			t.Errorf("order %s after the failed wait, want %s restored", got, before)
		}
	}
}

// TestCancelDuringAWaitUndoes: a cancel while the run waits ends the timer, the run is
// cancelled and what it did is undone.
func TestCancelDuringAWaitUndoes(t *testing.T) {
	h := newHarness(t)
	d, src := waitingDefinition(t, "{for: 72h}")
	before := h.orderStatus("ORD-01005")
	h.at(10*time.Hour, func() { h.env.CancelWorkflow() })
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01005"}`)
	if !temporal.IsCanceledError(err) || st.Status != workflows.StatusCancelled {
		t.Fatalf("ended %s: %v; want cancelled", st.Status, err)
	}
	if s := stepOf(st, "hold"); s.Status != workflows.StepCancelled {
		t.Errorf("hold = %+v", s)
	}
	if s := stepOf(st, "after"); s.Status != workflows.StepPending {
		t.Errorf("after = %+v, want pending", s)
	}
	if got := h.orderStatus("ORD-01005"); got != before {
		t.Errorf("order %s after the cancel, want %s restored", got, before)
	}
	if e := st.Events("compensated"); len(e) != 1 || e[0].Step != "mark_order" {
		t.Errorf("compensated %+v", e)
	}
}

// TestARunThatWaitedResumesAtALaterGate: a run that waited, then continued as new at the
// gate after the wait, goes on from the gate: the wait is not waited again, and what was
// done before it is still undone on a reject.
func TestARunThatWaitedResumesAtALaterGate(t *testing.T) {
	h := newHarness(t)
	src := strings.Replace(waiting, "  - name: after\n", "  - name: gate\n    approval: {scope: approve}\n  - name: after\n", 1)
	d, raw := parse(t, strings.Replace(src, "WAIT", "{for: 24h}", 1))
	h.at(30*time.Hour, func() {
		h.env.SetContinueAsNewSuggested(true)
		h.env.SignalWorkflow(workflows.SignalApprove, "not a decision")
	})
	before := h.orderStatus("ORD-01006")
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: workflows.NewProcessSource(d, raw), Params: json.RawMessage(`{"order_id": "ORD-01006"}`)})
	var can *workflow.ContinueAsNewError
	if !h.env.IsWorkflowCompleted() || !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("the run ended with %v, want continue-as-new", h.env.GetWorkflowError())
	}
	var in workflows.ProcessInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil || in.Resume == nil {
		t.Fatalf("next input %+v: %v", in, err)
	}
	next := h.sibling(in.Resume.State.WorkflowID)
	var at workflows.StatusView
	next.at(time.Minute, func() {
		at = next.status()
		next.advance(decide(workflows.ActionReject, "gate", "bob", "approve"))
	})
	next.env.ExecuteWorkflow(d.Name, in)
	st, err := next.result()
	if at.Status != workflows.StatusWaitingApproval || at.CurrentStep != "gate" {
		t.Errorf("the next run is %s at %s, want waiting at gate", at.Status, at.CurrentStep)
	}
	if err == nil || st.Status != workflows.StatusRejected {
		t.Fatalf("ended %s (%v), want rejected", st.Status, err)
	}
	if e := st.Events("waiting"); len(e) != 1 {
		t.Errorf("the wait was waited %d times: %+v", len(e), e)
	}
	if got := next.orderStatus("ORD-01006"); got != before {
		t.Errorf("order %s after the reject, want %s restored", got, before)
	}
}

// TestBadWaitsAreRefusedAtLoad: a wait without for or until, with both, with a literal
// that does not parse, or with what only a step that does something may have, is refused
// with the file, line and field.
func TestBadWaitsAreRefusedAtLoad(t *testing.T) {
	checkRefusals(t, [][2]string{
		{"steps:\n  - name: a\n    wait: {}\n", `p.yaml:11: wait needs for, until or event; allowed: for: a Go duration or whole days`},
		{"steps:\n  - name: a\n    wait: {for: 1h, until: \"2030-01-01T00:00:00Z\"}\n", `p.yaml:11: wait has for and until; allowed: one of for, until and event`},
		{"steps:\n  - name: a\n    wait:\n      for: 3 days\n", `p.yaml:12: for "3 days" is not a duration from 1s to 365d; allowed: for: a Go duration or whole days such as 72h, 30m or 7d`},
		{"steps:\n  - name: a\n    wait:\n      for: 400d\n", `p.yaml:12: for "400d" is not a duration from 1s to 365d`},
		{"steps:\n  - name: a\n    wait:\n      until: tomorrow\n", `p.yaml:12: until "tomorrow" is not an RFC 3339 time`},
		{"steps:\n  - name: a\n    wait:\n      for: \"{{params.days}}d\"\n", `p.yaml:12: params.days names a parameter the schema does not declare`},
		{"steps:\n  - name: a\n    wait: {for: 1h}\n    retry: {maximum_attempts: 3}\n", `p.yaml:12: wait step "a" cannot have retry; allowed: retry on the steps that do something`},
		{"steps:\n  - name: a\n    wait: {for: 1h}\n    result: done\n", `p.yaml:12: wait step "a" cannot have result`},
		{"steps:\n  - name: a\n    wait: {for: 1h}\n    compensate: {call: {service: users, method: POST, endpoint: x}}\n", `p.yaml:12: wait step "a" cannot be compensated: it does nothing to undo`},
		{"steps:\n  - name: a\n    wait: {for: 1h, deadline: 2h}\n", `p.yaml:11: deadline goes with event; allowed: a wait for an event`},
		{"steps:\n  - name: a\n    wait: {for: 1h}\n    approval: {scope: approve}\n", `p.yaml:10: step "a" has several kinds (approval, wait)`},
	})
	// A wait's summary names its timer in the UI: it is allowed.
	if _, err := workflows.ParseDefinition("p.yaml", []byte(stepsHead+"steps:\n  - name: a\n    summary: cool off\n    wait: {for: 1d12h}\n"), workflows.DefinitionRules{}); err != nil {
		t.Errorf("a wait with a summary: %v", err)
	}
}
