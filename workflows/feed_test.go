package workflows_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// feed asks the run's feed for the transitions after since.
func (h *harness) feed(since int64) workflows.Feed {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(workflows.QueryFeed, since)
	if err != nil {
		h.t.Fatalf("query feed: %v", err)
	}
	var f workflows.Feed
	if err := v.Get(&f); err != nil {
		h.t.Fatal(err)
	}
	return f
}

// said is a transition as a listener reads it: status@step, with the approvals counted.
func said(ts []workflows.Transition) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		s := string(t.Status) + "@" + t.Step
		if t.Approvals > 0 {
			s += fmt.Sprintf("+%d", t.Approvals)
		}
		out = append(out, s)
	}
	return out
}

// checkRevisions fails t unless the transitions count on from first without a gap.
func checkRevisions(t *testing.T, ts []workflows.Transition, first int64) {
	t.Helper()
	for i, tr := range ts {
		if tr.Revision != first+int64(i) {
			t.Fatalf("transition %d has revision %d, want %d: %+v", i, tr.Revision, first+int64(i), ts)
		}
	}
}

// TestTheFeedTellsEachTransitionOnceInRevisionOrder: a deployment's feed counts its
// transitions from 1 (its start) without a gap; its gate is one transition that says its
// deadline; a listener resuming from revision n reads exactly the transitions after n; the
// status view says the latest revision. Alike on the Go code and on the definition.
func TestTheFeedTellsEachTransitionOnceInRevisionOrder(t *testing.T) {
	onGoAndDefinition(t, func(t *testing.T, defined bool) {
		h := newHarnessOn(t, defined)
		var atGate workflows.Feed
		var view workflows.StatusView
		h.at(30*time.Minute, func() { atGate, view = h.feed(0), h.status() })
		h.at(time.Hour, func() {
			h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Comment: "ship it", Inputs: h.changeTicket()})
		})
		h.startDeployment(deployment("production", "2.0.0"))
		if _, err := h.result(); err != nil {
			t.Fatal(err)
		}
		checkRevisions(t, atGate.Transitions, 1)
		last := atGate.Transitions[len(atGate.Transitions)-1]
		if last.Status != workflows.StatusWaitingApproval || last.Step != "approval" || last.Deadline == nil || view.Waiting == nil ||
			!last.Deadline.Equal(view.Waiting.Deadline) || last.Event != "step_started" {
			t.Errorf("at the gate the feed ends with %+v, want the gate with its deadline %+v", last, view.Waiting)
		}
		if atGate.Revision != last.Revision || view.Revision != last.Revision || atGate.Status.Revision != last.Revision || atGate.Truncated {
			t.Errorf("revisions: feed %d, status %d, last transition %d, truncated %t", atGate.Revision, view.Revision, last.Revision, atGate.Truncated)
		}
		if first := atGate.Transitions[0]; first.Status != workflows.StatusPending || first.Event != "started" {
			t.Errorf("revision 1 is %+v, want the start", first)
		}

		end := h.feed(0)
		checkRevisions(t, end.Transitions, 1)
		got := said(end.Transitions)
		if n := strings.Count(strings.Join(got, " "), "waiting_approval@approval"); n != 1 {
			t.Errorf("the gate is told %d times in %v, want once", n, got)
		}
		if got[len(got)-1] != "completed@" || end.Status.Status != workflows.StatusCompleted || end.Revision != int64(len(got)) {
			t.Errorf("the feed ends %v at revision %d, status %s", got, end.Revision, end.Status.Status)
		}
		gate := slices.Index(got, "waiting_approval@approval")
		if next := end.Transitions[gate+1]; next.Status != workflows.StatusInProgress || next.Actor != "bob" {
			t.Errorf("after the gate the feed says %+v, want bob's approval", next)
		}
		for _, n := range []int64{0, 1, 2, atGate.Revision, end.Revision - 1, end.Revision} {
			f := h.feed(n)
			checkRevisions(t, f.Transitions, n+1)
			if int64(len(f.Transitions)) != end.Revision-n || f.Truncated {
				t.Errorf("resuming from %d: %d transitions (truncated %t), want %d", n, len(f.Transitions), f.Truncated, end.Revision-n)
			}
		}
	})
}

// TestTheFeedCountsEachApprovalOfAQuorum: at a gate that needs two approvers, the first
// approval is a transition of its own (the gate stays, one approval counted), by its
// approver; the second passes the gate.
func TestTheFeedCountsEachApprovalOfAQuorum(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "finance_approval", "bob", finance)) })
	h.at(2*time.Hour, func() { h.advance(decide(workflows.ActionApprove, "finance_approval", "carol", finance)) })
	if _, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`); err != nil {
		t.Fatal(err)
	}
	f := h.feed(0)
	checkRevisions(t, f.Transitions, 1)
	got := said(f.Transitions)
	i := slices.Index(got, "waiting_approval@finance_approval")
	if i < 0 || i+2 >= len(got) || got[i+1] != "waiting_approval@finance_approval+1" || got[i+2] != "in_progress@finance_approval" {
		t.Fatalf("feed %v, want the gate, one approval counted, then the gate passed", got)
	}
	if c := f.Transitions[i+1]; c.Event != "approved" || c.Actor != "bob" || !c.Deadline.Equal(*f.Transitions[i].Deadline) {
		t.Errorf("the counted approval is %+v", c)
	}
}

// TestTheFeedKeepsItsLastTransitions: a run with more transitions than MaxTransitions
// keeps the last ones; a listener from before them is told they are gone (truncated), one
// within them is not.
func TestTheFeedKeepsItsLastTransitions(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: many_steps\ntitle: Many steps\nversion: 1\nsummary: many steps\nparameters:\n  type: object\n" +
		"statements:\n  one: {mode: read, query: \"SELECT 1 AS one\"}\nsteps:\n")
	const steps = workflows.MaxTransitions + 6
	for i := range steps {
		fmt.Fprintf(&b, "  - name: s%d\n    sql: {statement: one}\n", i)
	}
	d, err := workflows.ParseDefinition("many_steps.yaml", []byte(b.String()), workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: workflows.NewProcessSource(d, []byte(b.String())), Params: json.RawMessage(`{}`)})
	if _, err := h.result(); err != nil {
		t.Fatal(err)
	}
	all := h.feed(0)
	// The start, one transition per step, the end.
	if want := int64(steps + 2); all.Revision != want {
		t.Fatalf("revision %d, want %d", all.Revision, want)
	}
	if len(all.Transitions) != workflows.MaxTransitions || !all.Truncated {
		t.Fatalf("%d transitions kept (truncated %t), want %d and truncated", len(all.Transitions), all.Truncated, workflows.MaxTransitions)
	}
	checkRevisions(t, all.Transitions, all.Revision-workflows.MaxTransitions+1)
	if st := h.details(); len(st.Transitions) != workflows.MaxTransitions {
		t.Errorf("the record keeps %d transitions", len(st.Transitions))
	}
	within := h.feed(all.Revision - workflows.MaxTransitions)
	if len(within.Transitions) != workflows.MaxTransitions || within.Truncated {
		t.Errorf("from the last revision before the kept ones: %d transitions, truncated %t", len(within.Transitions), within.Truncated)
	}
	if before := h.feed(all.Revision - workflows.MaxTransitions - 1); !before.Truncated {
		t.Error("from a revision whose next transition is gone: not truncated")
	}
}
