package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// ciWait is a deployment-like run that marks an order (undone by restoring it), waits for
// CI to report, then reads the order CI's payload names, then cools off an hour; WAIT is
// replaced by the event wait's declaration.
const ciWait = `name: ci_wait
title: CI wait
version: 1
summary: "deploy {{params.order_id}}"
parameters:
  type: object
  properties:
    order_id: {type: string}
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
  - name: wait_ci
    wait: WAIT
  - name: after
    when: "!steps.wait_ci.output.timed_out"
    sql: {statement: find_order, args: {order_id: "{{steps.wait_ci.output.payload.order_id}}"}}
  - name: cool_off
    wait: {for: 3h}
`

// ciSchema is what CI's report must say.
const ciSchema = `{event: ci_passed, deadline: 2h, schema: {type: object, required: [order_id, commit], properties: {order_id: {type: string, pattern: "^ORD-"}, commit: {type: string, minLength: 7}}}}`

func ciDefinition(t *testing.T, extra string) (workflows.Definition, []byte) {
	t.Helper()
	return parse(t, strings.Replace(ciWait, "WAIT", strings.TrimSuffix(ciSchema, "}")+extra+"}", 1))
}

// event sends the event update; check its outcome after the workflow has run.
func (h *harness) event(e workflows.EventRequest) *outcome {
	return h.update(workflows.UpdateEvent, e)
}

// ciReport is the event CI sends, from a holder of the write:data scope.
func ciReport(payload map[string]any) workflows.EventRequest {
	return workflows.EventRequest{Step: "wait_ci", Event: "ci_passed", Actor: "ci-bot", Scopes: []string{"write:data"}, Payload: payload}
}

// TestAnEventReachesItsWaitAndLaterStepsReadIt: the run waits in status waiting for the
// event, saying which, by when and with what schema; events for another step, of another
// name, with a payload the schema refuses, over the size limit or from a sender without
// the scope are refused and leave no trace; the right one is recorded with who sent it,
// later steps read its payload, and a replay of it is refused.
func TestAnEventReachesItsWaitAndLaterStepsReadIt(t *testing.T) {
	h := newHarness(t)
	d, src := ciDefinition(t, "")
	start := h.env.Now().UTC()
	var at workflows.StatusView
	var refused []*outcome
	var wantErrs []string
	refuse := func(e workflows.EventRequest, want string) {
		refused, wantErrs = append(refused, h.event(e)), append(wantErrs, want)
	}
	var accepted, replay, late *outcome
	h.at(time.Hour, func() {
		at = h.status()
		refuse(workflows.EventRequest{Step: "find_order", Actor: "ci-bot", AllScopes: true}, "step find_order does not wait for an event; allowed: wait_ci")
		refuse(workflows.EventRequest{Step: "wait_ci", Event: "ci_failed", Actor: "ci-bot", AllScopes: true}, "step wait_ci waits for the event ci_passed, not ci_failed")
		refuse(ciReport(map[string]any{"order_id": "ORD-01003", "commit": "abc"}), "the payload of the event ci_passed at step wait_ci: payload.commit")
		refuse(ciReport(map[string]any{"order_id": "ORD-01003"}), "commit")
		refuse(ciReport(map[string]any{"order_id": "ORD-01003", "commit": strings.Repeat("a", workflows.MaxEventPayload)}), "payload is 65572 bytes of JSON; allowed: at most 65536")
		refuse(workflows.EventRequest{Step: "wait_ci", Actor: "eve", Scopes: []string{"read:data"}, Payload: map[string]any{"order_id": "ORD-01003", "commit": "abcdef1"}},
			"eve lacks the scope write:data, which sending an event to step wait_ci needs")
		good := ciReport(map[string]any{"order_id": "ORD-01003", "commit": "abcdef1", "passed": 42})
		good.Nonce = "n-1"
		accepted = h.event(good)
		replay = h.event(good)
	})
	h.at(2*time.Hour, func() {
		e := ciReport(map[string]any{"order_id": "ORD-01003", "commit": "abcdef2"})
		late = h.event(e)
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	w := at.Waiting
	if at.Status != workflows.StatusWaiting || w == nil || w.For != "event" || w.Step != "wait_ci" || w.Event != "ci_passed" ||
		w.Scope != "write:data" || w.PayloadSchema["type"] != "object" || len(w.Actions) != 0 {
		t.Fatalf("an hour in, status %s waiting %+v", at.Status, w)
	}
	if want := start.Add(2 * time.Hour); w.Deadline.Sub(want).Abs() > time.Second {
		t.Errorf("waits until %s, want %s", w.Deadline, want)
	}
	for i, o := range refused {
		o.refused(t, wantErrs[i])
	}
	v := accepted.accepted(t)
	if v.CurrentStep == "wait_ci" && v.Status == workflows.StatusWaiting {
		t.Errorf("the accepted event answered %s at %s: still waiting", v.Status, v.CurrentStep)
	}
	replay.refused(t, "this event was already delivered once")
	late.refused(t, "step wait_ci no longer waits for its event (it is completed")
	if e := st.Events("event_received"); len(e) != 1 || e[0].Actor != "ci-bot" || !strings.HasPrefix(e[0].Detail, "ci_passed (") {
		t.Errorf("event_received = %+v", e)
	}
	wc := stepOf(st, "wait_ci")
	if wc.Status != workflows.StepCompleted || wc.Kind != workflows.StepWait || wc.Actor != "ci-bot" || wc.Output != "event ci_passed received" {
		t.Errorf("wait_ci = %+v", wc)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(st.Outputs["wait_ci"]), &out); err != nil {
		t.Fatal(err)
	}
	if p, _ := out["payload"].(map[string]any); out["by"] != "ci-bot" || out["event"] != "ci_passed" || out["timed_out"] != false || p["commit"] != "abcdef1" || p["passed"] != 42.0 {
		t.Errorf("wait_ci's output = %v", out)
	}
	if after := stepOf(st, "after"); after.Status != workflows.StepCompleted || !strings.Contains(st.Outputs["after"], "refunded") {
		t.Errorf("after = %+v, output %s", after, st.Outputs["after"])
	}
	// Refused events are not in the record.
	for _, e := range st.History {
		if strings.Contains(e.Detail, "ci_failed") || e.Actor == "eve" {
			t.Errorf("a refused event left a trace: %+v", e)
		}
	}
}

// TestAnEventWaitTimesOutAsItsOnTimeoutSays: with no event by the deadline, fail and
// compensate end the run failed naming the step, undoing what it did; continue completes
// the step with timed_out, and the run goes on (its step reading the payload skipped).
func TestAnEventWaitTimesOutAsItsOnTimeoutSays(t *testing.T) {
	for _, tc := range []struct{ onTimeout, extra string }{{"fail", ""}, {"fail", ", on_timeout: fail"}, {"compensate", ", on_timeout: compensate"}, {"continue", ", on_timeout: continue"}} {
		t.Run(tc.onTimeout+tc.extra, func(t *testing.T) {
			h := newHarness(t)
			d, src := ciDefinition(t, tc.extra)
			before := h.orderStatus("ORD-01003")
			st, err := h.runProcess(d, src, `{"order_id": "ORD-01003"}`)
			wc := stepOf(st, "wait_ci")
			if tc.onTimeout == "continue" {
				if err != nil || st.Status != workflows.StatusCompleted || wc.Status != workflows.StepCompleted || wc.Output != "no event ci_passed within 2h0m0s" ||
					!strings.Contains(st.Outputs["wait_ci"], `"timed_out":true`) || stepOf(st, "after").Status != workflows.StepSkipped {
					t.Fatalf("ended %s (%v) with wait_ci %+v, output %s, after %+v", st.Status, err, wc, st.Outputs["wait_ci"], stepOf(st, "after"))
				}
				return
			}
			if err == nil || st.Status != workflows.StatusFailed || errorType(err) != workflows.ErrTypeStepFailed ||
				st.Error != "step wait_ci failed: no event ci_passed within 2h0m0s" || wc.Status != workflows.StepTimedOut {
				t.Fatalf("ended %s (%v, %q) with wait_ci %+v", st.Status, err, st.Error, wc)
			}
			if got := h.orderStatus("ORD-01003"); got != before || stepOf(st, "mark_order").Status != workflows.StepCompensated {
				t.Errorf("order %s after the timeout, want %s restored", got, before)
			}
		})
	}
}

// TestAWaitForAnEventContinuesAsNewWhenItsHistoryFills: a run whose history fills while it
// waits for an event goes on as a new run waiting at the same step until the same
// deadline, and takes the event there.
func TestAWaitForAnEventContinuesAsNewWhenItsHistoryFills(t *testing.T) {
	h := newHarness(t)
	d, src := ciDefinition(t, "")
	var deadline time.Time
	h.at(time.Hour, func() {
		deadline = h.status().Waiting.Deadline
		h.env.SetContinueAsNewSuggested(true)
		h.env.SignalWorkflow("approve", "wakes the run: a signal that is not a decision is recorded and ignored")
	})
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: workflows.NewProcessSource(d, src), Params: json.RawMessage(`{"order_id": "ORD-01003"}`)})
	var can *workflow.ContinueAsNewError
	if !h.env.IsWorkflowCompleted() || !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("the run ended with %v, want continue-as-new", h.env.GetWorkflowError())
	}
	var in workflows.ProcessInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	res := in.Resume
	if res == nil || res.State.CurrentStep != "wait_ci" || res.State.Status != workflows.StatusWaiting || !res.Gate.Deadline.Equal(deadline) || res.Gate.Kind != "event" {
		t.Fatalf("resume = %+v", res)
	}
	next := h.sibling(res.State.WorkflowID)
	next.env.SetStartTime(res.State.UpdatedAt)
	var ev *outcome
	next.at(time.Minute, func() {
		if s := next.status(); s.Status != workflows.StatusWaiting || s.Waiting == nil || s.Waiting.For != "event" || !s.Waiting.Deadline.Equal(deadline) {
			t.Errorf("the next run waits as %s %+v, want the event wait until %v", s.Status, s.Waiting, deadline)
		}
		ev = next.event(ciReport(map[string]any{"order_id": "ORD-01003", "commit": "abcdef1"}))
	})
	next.env.ExecuteWorkflow(d.Name, in)
	st, err := next.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	ev.accepted(t)
	if len(st.Events("continued_as_new")) != 1 || len(st.Events("event_received")) != 1 || len(st.Events("waiting")) != 2 {
		t.Errorf("record: %+v", st.History)
	}
}

// TestBadEventWaitsAreRefusedAtLoad: an event wait with a bad name, schema, deadline,
// on_timeout or scope, or a timer with an event's fields, is refused with file, line and
// what is allowed.
func TestBadEventWaitsAreRefusedAtLoad(t *testing.T) {
	checkRefusals(t, [][2]string{
		{"steps:\n  - name: a\n    wait: {event: CI-passed}\n", `p.yaml:11: event "CI-passed"; allowed: lowercase letters, digits and '_'`},
		{"steps:\n  - name: a\n    wait: {event: ci, for: 1h}\n", `p.yaml:11: wait has for and event; allowed: one of for, until and event`},
		{"steps:\n  - name: a\n    wait:\n      event: ci\n      schema: {type: string}\n", `p.yaml:13: schema has type string; allowed: a JSON Schema of type object`},
		{"steps:\n  - name: a\n    wait:\n      event: ci\n      schema: {type: object, properties: {x: {type: 12}}}\n", `p.yaml:13: schema is not a valid JSON Schema (2020-12)`},
		{"steps:\n  - name: a\n    wait:\n      event: ci\n      deadline: soon\n", `p.yaml:13: deadline "soon" is not a duration from 1s to 365d`},
		{"steps:\n  - name: a\n    wait:\n      event: ci\n      on_timeout: escalate\n", `p.yaml:13: on_timeout "escalate"; allowed: fail, continue or compensate`},
		{"steps:\n  - name: a\n    wait:\n      for: 1h\n      on_timeout: fail\n", `p.yaml:13: on_timeout goes with event`},
	})
	if _, err := workflows.ParseDefinition("p.yaml", []byte(stepsHead+"steps:\n  - name: a\n    wait: {event: ci_passed, deadline: 7d, on_timeout: continue, scope: approve}\n"), workflows.DefinitionRules{}); err != nil {
		t.Errorf("an event wait: %v", err)
	}
}

// ciCallback hands the wait's callback URL to CI (the notifications service stands for
// it) before it waits.
const ciCallback = `name: ci_callback
title: CI callback
version: 1
summary: "deploy {{params.commit}}"
parameters:
  type: object
  properties:
    commit: {type: string}
steps:
  - name: hand_off
    call: {service: notifications, method: POST, endpoint: messages, body: {to: "ci@acme.example", template: "{{steps.wait_ci.callback_url}}"}}
  - name: wait_ci
    wait: {event: ci_passed, deadline: 2h}
  - name: cool_off
    wait: {for: 1h}
`

// TestACallbackURLIsMadeBeforeTheStepThatHandsItOn: the URL a step before the wait names
// is made (by the worker, which holds the keys) before that step runs, once; the wait
// takes an event through it only with its nonce, once, recorded as from the callback.
func TestACallbackURLIsMadeBeforeTheStepThatHandsItOn(t *testing.T) {
	h := newHarness(t)
	d, src := parse(t, ciCallback)
	var made []activities.CallbackInput
	h.env.OnActivity((&activities.Callbacks{}).CallbackURL, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallbackInput) (activities.CallbackOutput, error) {
			made = append(made, in)
			return activities.CallbackOutput{URL: "https://flowgate.example/callbacks/tok-1", Nonce: "nonce-1"}, nil
		})
	var forged, taken, replayed *outcome
	h.at(time.Hour, func() {
		e := workflows.EventRequest{Step: "wait_ci", Actor: "callback", Callback: true, Nonce: "nonce-2", Payload: map[string]any{"ok": true}}
		forged = h.event(e)
		e.Nonce = "nonce-1"
		taken = h.event(e)
	})
	h.at(90*time.Minute, func() {
		replayed = h.event(workflows.EventRequest{Step: "wait_ci", Actor: "callback", Callback: true, Nonce: "nonce-1"})
	})
	st, err := h.runProcess(d, src, `{"commit": "abcdef1"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	forged.refused(t, "this callback URL was not made for step wait_ci of this run")
	taken.accepted(t)
	replayed.refused(t, "this event was already delivered once")
	if len(made) != 1 || made[0].Step != "wait_ci" || made[0].WorkflowID == "" {
		t.Errorf("callback URLs made: %+v", made)
	}
	if !strings.Contains(st.Outputs["hand_off"], "https://flowgate.example/callbacks/tok-1") {
		t.Errorf("hand_off sent %s", st.Outputs["hand_off"])
	}
	if e := st.Events("callback_url_made"); len(e) != 1 || e[0].Step != "wait_ci" || strings.Contains(e[0].Detail, "tok-1") {
		t.Errorf("callback_url_made = %+v (the record must not hold the URL)", e)
	}
	if e := st.Events("event_received"); len(e) != 1 || e[0].Actor != "callback" || !strings.Contains(e[0].Detail, "through its callback URL") {
		t.Errorf("event_received = %+v", e)
	}
}

// TestACallbackURLNeedsAWorkerThatCanSign: on a worker without keys or a public URL, the
// step that names a callback URL fails, saying what the worker lacks.
func TestACallbackURLNeedsAWorkerThatCanSign(t *testing.T) {
	h := newHarness(t)
	d, src := parse(t, ciCallback)
	st, err := h.runProcess(d, src, `{"commit": "abcdef1"}`)
	if err == nil || st.Status != workflows.StatusFailed || !strings.Contains(st.Error, "step hand_off failed: steps.wait_ci.callback_url: this worker makes no callback URLs: give it --decision-keys") {
		t.Fatalf("ended %s: %v (%s)", st.Status, err, st.Error)
	}
}

// TestCallbackURLsAreCheckedAtLoad: a callback_url of a step that waits for no event, or
// outside a step, is refused with file and line.
func TestCallbackURLsAreCheckedAtLoad(t *testing.T) {
	checkRefusals(t, [][2]string{
		{"steps:\n  - name: a\n    call: {service: users, method: POST, endpoint: x, body: {u: \"{{steps.b.callback_url}}\"}}\n  - name: b\n    wait: {for: 1h}\n",
			`p.yaml:11: steps.b.callback_url names no wait for an event; allowed: the callback_url of a step with wait: {event: …} ((none)), in a step`},
		{"outputs:\n  url: \"{{steps.b.callback_url}}\"\nsteps:\n  - name: b\n    wait: {event: ci}\n", `p.yaml:10: steps.b.callback_url names no wait for an event; allowed: the callback_url of a step with wait: {event: …} (b), in a step`},
	})
}
