package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// MaxTransitions is how many transitions a run keeps for its feed. A listener that falls
// further behind is told that the oldest are gone (Feed.Truncated) and reads the status.
const MaxTransitions = 64

// maxTransitionDetail bounds the detail a transition copies from the audit log.
const maxTransitionDetail = 200

// Transition is one change of a run that its listeners hear: its status, its current
// step, the gate it waits at (opened, or escalated to a new deadline) or the approvals
// counted there. Revisions count from 1 (the run's start, status pending) without gaps,
// across continue-as-new; a later revision is a later change, however close in time.
type Transition struct {
	Revision int64     `json:"revision"`
	At       time.Time `json:"at"`
	Status   Status    `json:"status"`
	Step     string    `json:"step,omitempty"`
	// Event, Actor and Detail are the audit-log entry the change came with (started,
	// step_started, step_completed, step_failed, approved, escalated, completed, ...), the
	// detail cut to 200 characters.
	Event  string `json:"event"`
	Actor  string `json:"actor,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Deadline is the deadline of the gate the run waits at (or when the timer it is
	// held at wakes), and Approvals how many
	// approvals its quorum has counted so far.
	Deadline  *time.Time `json:"deadline,omitempty"`
	Approvals int        `json:"approvals,omitempty"`
}

// same reports whether t and u say the same thing to a listener: the change that makes a
// transition is one of these fields.
func (t Transition) same(u Transition) bool {
	sameDeadline := (t.Deadline == nil) == (u.Deadline == nil) && (t.Deadline == nil || t.Deadline.Equal(*u.Deadline))
	return t.Status == u.Status && t.Step == u.Step && t.Approvals == u.Approvals && sameDeadline
}

// Feed is the feed query's answer: the transitions after the revision asked for, oldest
// first, and where the run stands now.
type Feed struct {
	// Revision is the run's latest revision (Status.Revision).
	Revision    int64        `json:"revision"`
	Transitions []Transition `json:"transitions"`
	// Truncated says that transitions after the revision asked for are no longer kept:
	// Transitions starts later than the one after it.
	Truncated bool       `json:"truncated,omitempty"`
	Status    StatusView `json:"status"`
}

// registerFeed registers the feed query.
func (r *runner) registerFeed(ctx workflow.Context) error {
	return workflow.SetQueryHandlerWithOptions(ctx, QueryFeed, func(since int64) (Feed, error) {
		return r.feed(since), nil
	}, workflow.QueryHandlerOptions{Description: "The run's transitions after revision since (an integer; 0 for all kept), and its status now."})
}

// feed is the answer of the feed query for since.
func (r *runner) feed(since int64) Feed {
	f := Feed{Revision: r.state.Revision, Status: r.view(), Transitions: []Transition{}}
	kept := r.state.Transitions
	i := 0
	for i < len(kept) && kept[i].Revision <= since {
		i++
	}
	f.Transitions = append(f.Transitions, kept[i:]...)
	f.Truncated = since < f.Revision && (len(f.Transitions) == 0 || f.Transitions[0].Revision > max(since, 0)+1)
	return f
}

// record appends a transition to the run's feed when what a listener hears changed since
// the last one. A run that has taken a waiting status but not opened its gate yet (begin
// before await, in the same workflow task) records nothing until the gate is open, so a
// gate is one transition that says its deadline. Only the record changes: no command.
func (r *runner) record(ctx workflow.Context) {
	t := Transition{Status: r.state.Status, Step: r.state.CurrentStep}
	switch {
	case r.gate != nil:
		deadline := r.gate.deadline
		t.Deadline = &deadline
		if r.gate.policy != nil {
			t.Approvals = len(r.gate.policy.Approvals)
		}
	case r.timer != nil:
		until := r.timer.until
		t.Deadline = &until
	case r.event != nil:
		deadline := r.event.deadline
		t.Deadline = &deadline
	case t.Status == StatusWaitingApproval || t.Status == StatusWaitingInput || t.Status == StatusChangesRequested:
		return
	}
	kept := r.state.Transitions
	if len(kept) > 0 && kept[len(kept)-1].same(t) {
		return
	}
	if n := len(r.state.History); n > 0 {
		e := r.state.History[n-1]
		t.Event, t.Actor, t.Detail = e.Event, e.Actor, clipText(e.Detail, maxTransitionDetail)
	}
	r.state.Revision++
	t.Revision, t.At = r.state.Revision, workflow.Now(ctx).UTC()
	if len(kept) >= MaxTransitions {
		kept = append(kept[:0:0], kept[len(kept)-MaxTransitions+1:]...)
	}
	r.state.Transitions = append(kept, t)
}

// clipText cuts s to at most n characters, marking the cut.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
