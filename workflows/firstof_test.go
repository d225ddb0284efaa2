package workflows_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// approveOrCI is "approve, or CI green, whichever comes first": a gate bob decides that
// CI's report ends too; the step after it reads which won, and the run cools off 3h
// (so that late decisions and events reach it). QUORUM is the gate's quorum.
const approveOrCI = `name: approve_or_ci
title: Approve or CI
version: 1
summary: "release {{params.order_id}}"
parameters:
  type: object
  properties:
    order_id: {type: string}
statements:
  find_order: {mode: read, query: "SELECT status FROM orders WHERE reference = :order_id"}
steps:
  - name: go_ahead
    approval:
      approvers: [bob, carol]
      quorum: QUORUM
      deadline: 4h
      or_event:
        event: ci_passed
        schema: {type: object, required: [commit], properties: {commit: {type: string, minLength: 7}}}
  - name: after
    sql: {statement: find_order, args: {order_id: "{{params.order_id}}"}}
    summary: "won by {{steps.go_ahead.output.won}}"
  - name: cool_off
    wait: {for: 3h}
`

func approveOrCIDefinition(t *testing.T, quorum string) (workflows.Definition, []byte) {
	t.Helper()
	return parse(t, strings.Replace(approveOrCI, "QUORUM", quorum, 1))
}

// ciGreen is CI's report to the gate.
func ciGreen() workflows.EventRequest {
	return workflows.EventRequest{Step: "go_ahead", Event: "ci_passed", Actor: "ci-bot", Scopes: []string{"write:data"}, Payload: map[string]any{"commit": "abcdef1"}}
}

func bobApproves() workflows.AdvanceRequest {
	return workflows.AdvanceRequest{Action: workflows.ActionApprove, Step: "go_ahead", Actor: "bob"}
}

// output reads the step's output in the record.
func output(t *testing.T, st workflows.State, step string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(st.Outputs[step]), &out); err != nil {
		t.Fatalf("output of %s %q: %v", step, st.Outputs[step], err)
	}
	return out
}

// TestAGateEndsAtItsApprovalOrItsEventWhicheverComesFirst: the gate's status says both
// ways out; an event ends it as an approve would, and a decision after it is refused;
// an approve ends it, and an event after it is refused as gone; the output says which won
// and the record has a first_of entry naming it.
func TestAGateEndsAtItsApprovalOrItsEventWhicheverComesFirst(t *testing.T) {
	t.Run("event", func(t *testing.T) {
		h := newHarness(t)
		d, src := approveOrCIDefinition(t, "1")
		var at workflows.StatusView
		var bad, ev, late *outcome
		h.at(time.Hour, func() {
			at = h.status()
			bad = h.event(workflows.EventRequest{Step: "go_ahead", Event: "ci_passed", Actor: "ci-bot", AllScopes: true, Payload: map[string]any{"commit": "abc"}})
			ev = h.event(ciGreen())
		})
		h.at(2*time.Hour, func() { late = h.advance(bobApproves()) })
		st, err := h.runProcess(d, src, `{"order_id": "ORD-01003"}`)
		if err != nil || st.Status != workflows.StatusCompleted {
			t.Fatalf("ended %s: %v", st.Status, err)
		}
		w := at.Waiting
		if at.Status != workflows.StatusWaitingApproval || w == nil || w.For != "approval" || w.Event != "ci_passed" || w.EventScope != "write:data" ||
			w.PayloadSchema["type"] != "object" || len(w.Approvers) != 2 {
			t.Fatalf("an hour in: %s %+v", at.Status, w)
		}
		bad.refused(t, "payload.commit")
		ev.accepted(t)
		late.refused(t, "not waiting for a decision")
		if out := output(t, st, "go_ahead"); out["won"] != workflows.WonEvent || out["by"] != "ci-bot" || out["payload"].(map[string]any)["commit"] != "abcdef1" {
			t.Errorf("go_ahead's output = %v", out)
		}
		if g := stepOf(st, "go_ahead"); g.Status != workflows.StepCompleted || g.Actor != "ci-bot" || g.Output != "event ci_passed received before a decision" {
			t.Errorf("go_ahead = %+v", g)
		}
		if e := st.Events("first_of"); len(e) != 1 || e[0].Actor != "ci-bot" || !strings.Contains(e[0].Detail, "the event ci_passed came first") {
			t.Errorf("first_of = %+v", e)
		}
		if a := stepOf(st, "after"); a.Status != workflows.StepCompleted {
			t.Errorf("after = %+v", a)
		}
	})
	t.Run("approval", func(t *testing.T) {
		h := newHarness(t)
		d, src := approveOrCIDefinition(t, "1")
		var ok, late *outcome
		h.at(time.Hour, func() { ok = h.advance(bobApproves()) })
		h.at(2*time.Hour, func() { late = h.event(ciGreen()) })
		st, err := h.runProcess(d, src, `{"order_id": "ORD-01003"}`)
		if err != nil || st.Status != workflows.StatusCompleted {
			t.Fatalf("ended %s: %v", st.Status, err)
		}
		ok.accepted(t)
		late.refused(t, "step go_ahead no longer waits for its event (it is completed")
		if out := output(t, st, "go_ahead"); out["won"] != workflows.WonApproval || out["approved_by"] != "bob" {
			t.Errorf("go_ahead's output = %v", out)
		}
		if e := st.Events("first_of"); len(e) != 1 || e[0].Actor != "bob" || !strings.Contains(e[0].Detail, "the approval came first") {
			t.Errorf("first_of = %+v", e)
		}
		if e := st.Events("event_received"); len(e) != 0 {
			t.Errorf("event_received = %+v", e)
		}
	})
}

// TestWhenApproveAndEventArriveTogetherExactlyOneWins: both sent in the same instant,
// in either order, the first the run applies wins and the other is refused with a
// sentence; the record and the output name the winner. (The test environment applies
// one update, and the run's move past the gate, before the next: the loser finds the
// gate closed. On a server both may reach one workflow task; then each validator
// refuses the other way out while the first is applied: "a decision on step … is being
// applied first", "the event … reached step … first and ends its gate".) A quorum not yet met does not
// end the gate: an event after the first of two approvals still wins.
func TestWhenApproveAndEventArriveTogetherExactlyOneWins(t *testing.T) {
	for _, tc := range []struct {
		name, quorum, won, loserErr string
		eventFirst                  bool
	}{
		{"approve first", "1", workflows.WonApproval, "step go_ahead no longer waits for its event (it is completed", false},
		{"event first", "1", workflows.WonEvent, "workflow is not waiting for a decision (status in_progress, step after)", true},
		{"approve of a quorum of two first", "2", workflows.WonEvent, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			d, src := approveOrCIDefinition(t, tc.quorum)
			var dec, ev *outcome
			h.at(time.Hour, func() {
				if tc.eventFirst {
					ev, dec = h.event(ciGreen()), h.advance(bobApproves())
				} else {
					dec, ev = h.advance(bobApproves()), h.event(ciGreen())
				}
			})
			st, err := h.runProcess(d, src, `{"order_id": "ORD-01003"}`)
			if err != nil || st.Status != workflows.StatusCompleted {
				t.Fatalf("ended %s: %v", st.Status, err)
			}
			winner, loser := dec, ev
			if tc.won == workflows.WonEvent {
				winner, loser = ev, dec
			}
			winner.accepted(t)
			if tc.loserErr != "" {
				loser.refused(t, tc.loserErr)
			} else {
				loser.accepted(t) // the first of two approvals, which leaves the gate open
			}
			if out := output(t, st, "go_ahead"); out["won"] != tc.won {
				t.Errorf("go_ahead's output = %v, want won %s", out, tc.won)
			}
			if e := st.Events("first_of"); len(e) != 1 || !strings.Contains(e[0].Detail, "the "+tc.won) {
				t.Errorf("first_of = %+v", e)
			}
			if n := len(st.Events("event_received")); (n == 1) != (tc.won == workflows.WonEvent) {
				t.Errorf("%d event_received with %s winning", n, tc.won)
			}
		})
	}
}

// TestAGatesEventLeavesTheGatesDeadline: with neither by the deadline, the gate times
// out as any gate does (rejected), and an event after it is refused.
func TestAGatesEventLeavesTheGatesDeadline(t *testing.T) {
	h := newHarness(t)
	d, src := approveOrCIDefinition(t, "1")
	var late *outcome
	h.at(5*time.Hour, func() { late = h.event(ciGreen()) })
	st, _ := h.runProcess(d, src, `{"order_id": "ORD-01003"}`)
	if st.Status == workflows.StatusCompleted || stepOf(st, "go_ahead").Status != workflows.StepTimedOut {
		t.Fatalf("ended %s with go_ahead %+v", st.Status, stepOf(st, "go_ahead"))
	}
	if late != nil && late.done && late.err == nil {
		t.Errorf("an event after the deadline was taken")
	}
}

// TestBadGateEventsAreRefusedAtLoad: a gate's or_event with a bad name or schema, or with
// a wait's deadline (the gate's is the event's), is refused with file, line and what is allowed.
func TestBadGateEventsAreRefusedAtLoad(t *testing.T) {
	gate := "steps:\n  - name: a\n    approval:\n      approvers: [bob]\n      or_event:\n"
	checkRefusals(t, [][2]string{
		{gate + "        event: CI-passed\n", `p.yaml:14: event "CI-passed"; allowed: lowercase letters, digits and '_'`},
		{gate + "        event: ci\n        schema: {type: string}\n", `p.yaml:15: schema has type string; allowed: a JSON Schema of type object`},
		{gate + "        event: ci\n        deadline: 2h\n", `p.yaml:15: unknown field "deadline"`},
	})
	d, err := workflows.ParseDefinition("p.yaml", []byte(stepsHead+gate+"        event: ci_passed\n  - name: b\n    wait: {for: 1h}\n    summary: \"{{steps.a.output.won}} {{steps.a.callback_url}}\"\n"), workflows.DefinitionRules{})
	if err != nil {
		t.Fatalf("a gate with or_event: %v", err)
	}
	if _, err := workflows.Compile(d); err != nil {
		t.Errorf("compile: %v", err)
	}
}

// TestAGatesEventArrivesThroughItsCallbackURL: a step before the gate hands CI the gate's
// callback URL; CI's post through it (its nonce, once) ends the gate first.
func TestAGatesEventArrivesThroughItsCallbackURL(t *testing.T) {
	h := newHarness(t)
	src := strings.Replace(approveOrCI, "steps:\n  - name: go_ahead", "steps:\n  - name: hand_off\n    call: {service: notifications, method: POST, endpoint: messages, body: {to: \"ci@acme.example\", template: \"{{steps.go_ahead.callback_url}}\"}}\n  - name: go_ahead", 1)
	d, raw := parse(t, strings.Replace(src, "QUORUM", "1", 1))
	h.env.OnActivity((&activities.Callbacks{}).CallbackURL, mock.Anything, mock.Anything).Return(
		activities.CallbackOutput{URL: "https://flowgate.example/callbacks/tok-g", Nonce: "nonce-g"}, nil)
	var forged, taken *outcome
	h.at(time.Hour, func() {
		e := workflows.EventRequest{Step: "go_ahead", Actor: "callback", Callback: true, Nonce: "nonce-x", Payload: map[string]any{"commit": "abcdef1"}}
		forged = h.event(e)
		e.Nonce = "nonce-g"
		taken = h.event(e)
	})
	st, err := h.runProcess(d, raw, `{"order_id": "ORD-01003"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	forged.refused(t, "this callback URL was not made for step go_ahead of this run")
	taken.accepted(t)
	if out := output(t, st, "go_ahead"); out["won"] != workflows.WonEvent || out["by"] != "callback" {
		t.Errorf("go_ahead's output = %v", out)
	}
	if e := st.Events("event_received"); len(e) != 1 || !strings.Contains(e[0].Detail, "through its callback URL") {
		t.Errorf("event_received = %+v", e)
	}
}

// TestAGatesEventEndsItWhileChangesAreRequested: bob sends the run back to its requester
// (alice); while it waits for her revision, status says the event still ends the gate,
// and CI's event does: the step completes, its output says the event won, the record
// says the revision is no longer taken, and alice's revise after it is refused.
func TestAGatesEventEndsItWhileChangesAreRequested(t *testing.T) {
	h := newHarness(t)
	d, src := parse(t, strings.Replace(strings.Replace(approveOrCI, "QUORUM", "1", 1),
		"      deadline: 4h\n", "      deadline: 4h\n      changes: {revisable: [order_id], max_rounds: 2}\n", 1))
	var ask, ev, rev *outcome
	var asked workflows.StatusView
	h.at(time.Hour, func() {
		req := bobApproves()
		req.Action, req.Comment = workflows.ActionRequestChanges, "name the right order"
		ask = h.advance(req)
	})
	h.at(2*time.Hour, func() {
		asked = h.status()
		ev = h.event(ciGreen())
	})
	h.at(150*time.Minute, func() {
		rev = h.advance(workflows.AdvanceRequest{Action: workflows.ActionRevise, Step: "go_ahead", Actor: "alice", Parameters: map[string]any{"order_id": "ORD-01004"}})
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	ask.accepted(t)
	w := asked.Waiting
	if asked.Status != workflows.StatusChangesRequested || w == nil || w.For != "changes" || w.Event != "ci_passed" || w.EventScope != "write:data" ||
		w.OrEnds() != "Or the gate ends when the event ci_passed arrives, whichever comes first (send_event at step go_ahead, with the scope write:data)." {
		t.Fatalf("while changes are asked: %s %+v (%q)", asked.Status, w, w.OrEnds())
	}
	ev.accepted(t)
	rev.refused(t, "workflow is not waiting for a decision (status waiting, step cool_off); step go_ahead has ended: event ci_passed received before a decision")
	if out := output(t, st, "go_ahead"); out["won"] != workflows.WonEvent || out["by"] != "ci-bot" {
		t.Errorf("go_ahead's output = %v", out)
	}
	if e := st.Events("first_of"); len(e) != 1 || !strings.Contains(e[0].Detail, "while changes were asked of alice; no revision or decision is taken there any more") {
		t.Errorf("first_of = %+v", e)
	}
	if e := st.Events("revised"); len(e) != 0 {
		t.Errorf("revised = %+v", e)
	}
}

// TestOrEndsIsSaidOnlyAtAGateWithAnEvent: the sentence the surfaces show is empty at a
// gate without or_event and at a wait for an event, whose only way out the event is.
func TestOrEndsIsSaidOnlyAtAGateWithAnEvent(t *testing.T) {
	for _, tc := range []struct {
		w    *workflows.Waiting
		want string
	}{
		{nil, ""},
		{&workflows.Waiting{Step: "a", For: "approval"}, ""},
		{&workflows.Waiting{Step: "w", For: "event", Event: "ci_passed", Scope: "write:data"}, ""},
		{&workflows.Waiting{Step: "g", For: "approval", Event: "ci_passed", EventScope: "ci:report"},
			"Or the gate ends when the event ci_passed arrives, whichever comes first (send_event at step g, with the scope ci:report)."},
	} {
		if got := tc.w.OrEnds(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.w, got, tc.want)
		}
	}
}
