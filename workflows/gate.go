package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/words"
)

// A gate is where a run waits for people: an approval gate, or a failed step waiting for
// input (continue or reject). Every gate waits in runner.await: open, remind, decide,
// time out, or continue as new when the run's history is full.

type gateKind string

const (
	gateApproval gateKind = "approval"
	gateInput    gateKind = "input"
	// gateChanges waits for the requester to revise or withdraw (changes.go).
	gateChanges gateKind = "changes"
	// gateEvent is no gate: it names an event wait in a run that continued as new there
	// (GateResume.Kind).
	gateEvent gateKind = "event"
)

// gate is what a workflow waits at.
type gate struct {
	step     string
	kind     gateKind
	deadline time.Time
	// policy, on gates of process definitions, says who may decide and how many must.
	policy *approvalPolicy
	// toldAt is when the channels were last asked to tell people of the gate.
	toldAt time.Time
	// inputs, on a gate that declares them, are what an approve must carry; params are
	// the run's parameters their rules read.
	inputs *inputsPlan
	params map[string]any
	// reasonOnReject refuses a reject without a comment.
	reasonOnReject bool
	// changes, on a gate that allows request_changes, say what a revision may change;
	// schema checks the revised parameters. round counts the requests for changes so far,
	// and asked, on a changes gate, is the last.
	changes *changesPlan
	schema  *ParamSchema
	round   int
	asked   *ChangeRequest
}

// checkInputs refuses a decision whose inputs the gate does not take: inputs on a gate
// that declares none or on another action than approve, an approve without valid
// inputs, or a reject without the reason the gate requires.
func (g *gate) checkInputs(req AdvanceRequest) error {
	switch {
	case len(req.Inputs) > 0 && g.inputs == nil:
		return fmt.Errorf("step %s takes no inputs; send the decision without inputs", g.step)
	case len(req.Inputs) > 0 && req.Action != ActionApprove:
		return fmt.Errorf("inputs go with approve at step %s, not with %s; send the %s without inputs", g.step, req.Action, req.Action)
	case req.Action == ActionApprove && g.inputs != nil:
		return g.inputs.check(g.step, req.Inputs, g.params)
	case req.Action == ActionReject && g.reasonOnReject && strings.TrimSpace(req.Comment) == "":
		return fmt.Errorf("step %s needs a reason to reject; give it as the comment", g.step)
	}
	return nil
}

// who says who may decide at the gate, in words.
func (g *gate) who() string {
	if g.policy != nil {
		return g.policy.who()
	}
	return "anyone allowed to decide"
}

// inputGate waits at the failed step name for continue or reject. On runs with
// InputGates it is a gate like an approval: it tells the channels, and when the run's
// history is full the error is a *gateFull, so the interpreter continues as new there;
// resumed is the gate a run that continued as new waits at again. Other runs wait as
// they always did (awaitAt).
func (r *runner) inputGate(ctx workflow.Context, name string, resumed *GateResume) (AdvanceRequest, bool, error) {
	if !r.InputGates {
		return r.awaitAt(ctx, name, gateInput)
	}
	g := &gate{step: name, kind: gateInput, deadline: workflow.Now(ctx).UTC().Add(r.req.ApprovalTimeout)}
	if resumed != nil {
		g.deadline, g.toldAt = resumed.Deadline, resumed.ToldAt
	}
	r.continues = true
	r.gate = g
	r.publish(ctx)
	if resumed == nil {
		r.notifyGate(ctx, activities.EventInputRequired, g)
	}
	d, ok, err := r.await(ctx, g, 0)
	r.gate = nil
	r.stopClock()
	if errors.Is(err, errHistoryFull) {
		return d, ok, &gateFull{gate: g}
	}
	return d, ok, err
}

// gateFull ends a wait at a gate whose run's history is full: the run continues as new,
// waiting at the same gate.
type gateFull struct{ gate *gate }

func (f *gateFull) Error() string { return "the run's history is full at gate " + f.gate.step }

// awaitAt opens a gate of kind at step name until the run's approval timeout and waits
// there for a decision: the gates of the Go kinds, and a failed step waiting for input.
func (r *runner) awaitAt(ctx workflow.Context, name string, kind gateKind) (AdvanceRequest, bool, error) {
	g := &gate{step: name, kind: kind, deadline: workflow.Now(ctx).UTC().Add(r.req.ApprovalTimeout)}
	r.gate = g
	r.publish(ctx)
	defer func() { r.gate = nil; r.stopClock() }()
	if kind == gateApproval {
		r.notifyGate(ctx, activities.EventGateOpened, g)
	}
	return r.await(ctx, g, 0)
}

// await waits at g for one decision until its deadline: the one wait of every gate. The
// caller has opened g (r.gate is g, published and, where the run tells people, told).
// When remind is set, a reminder is recorded and told that long before the deadline. ok
// is false when the deadline passes; the error is errHistoryFull when the run's history
// passed its bound first, on runs that continue as new at a gate.
func (r *runner) await(ctx workflow.Context, g *gate, remind time.Duration) (AdvanceRequest, bool, error) {
	for {
		d, ok, err := r.next(ctx, g, remind)
		if err != nil || !ok || d.Action == actionEvent {
			return d, ok, err
		}
		if spec, _ := d.Action.Spec(); spec.Decides {
			return d, true, nil
		}
		switch d.Action {
		case ActionReassign:
			r.reassignNow(ctx, g, d)
		default:
			r.remindNow(ctx, g, d)
		}
	}
}

// remindNow tells the people of g again, as d (a remind) asked.
func (r *runner) remindNow(ctx workflow.Context, g *gate, d AdvanceRequest) {
	detail := fmt.Sprintf("%s asked to remind %s; the deadline is %s", d.Actor, g.who(), g.deadline.Format(time.RFC3339))
	if d.Comment != "" {
		detail += " — " + d.Comment
	}
	r.log(ctx, "reminder", g.step, d.Actor, detail)
	r.notifyGate(ctx, activities.EventReminder, g)
	r.publish(ctx)
}

// next waits at g for the next action until its deadline, recording a reminder remind
// before it (when it has not passed yet).
func (r *runner) next(ctx workflow.Context, g *gate, remind time.Duration) (AdvanceRequest, bool, error) {
	// A decision wins over a full history; a run continues as new only with no handler
	// in flight, so no update is left without its answer, and no notification in flight.
	full := func() bool { return r.historyFull(ctx) && workflow.AllHandlersFinished(ctx) && r.notifying == 0 }
	// On a gate with or_event (firstof.go), the event ends the wait as a decision does.
	decided := func() bool { return r.decision != nil || r.got != nil || full() }
	if r.GateTimers {
		return r.nextOnClock(ctx, g, remind, full, decided)
	}
	left := g.deadline.Sub(workflow.Now(ctx))
	if remind > 0 && left > remind {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      left - remind,
			TimerOptions: workflow.TimerOptions{Summary: g.timer("reminder")},
		}, decided)
		if err != nil {
			return AdvanceRequest{}, false, err
		}
		if ok && r.decision == nil && r.got != nil {
			return AdvanceRequest{Action: actionEvent}, true, nil
		}
		if ok && r.decision == nil {
			return AdvanceRequest{}, false, errHistoryFull
		}
		if !ok {
			r.remindOf(ctx, g)
		}
		left = g.deadline.Sub(workflow.Now(ctx))
	}
	if r.decision == nil {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      max(left, time.Millisecond),
			TimerOptions: workflow.TimerOptions{Summary: g.timer("deadline")},
		}, decided)
		if err != nil || !ok {
			return AdvanceRequest{}, false, err
		}
		if r.decision == nil && r.got != nil {
			return AdvanceRequest{Action: actionEvent}, true, nil
		}
		if r.decision == nil {
			return AdvanceRequest{}, false, errHistoryFull
		}
	}
	return r.take(), true, nil
}

// remindOf records that g's reminder came, tells its people again, and publishes.
func (r *runner) remindOf(ctx workflow.Context, g *gate) {
	r.log(ctx, "reminder", g.step, "", fmt.Sprintf("still waiting for %s; the deadline is %s", g.who(), g.deadline.Format(time.RFC3339)))
	r.notifyGate(ctx, activities.EventReminder, g)
	r.publish(ctx)
}

// timer is the summary the UI shows of g's reminder or deadline timer.
func (g *gate) timer(what string) string {
	return fmt.Sprintf("%s of %s gate %s", what, g.kind, g.step)
}

// take takes the decision the gate received.
func (r *runner) take() AdvanceRequest {
	d := *r.decision
	r.decision = nil
	r.decisionsTaken++
	return d
}

// gateClock is the deadline timer and the reminder timer of the gate a run waits at, on
// runs with GateTimers. They start when the gate first waits and run until it closes, so
// the decisions, reminders and reassignments before its end (the first approvals of a
// quorum) start no new timer: the timeline shows one deadline per gate. A gate given a
// new deadline (an escalation, a new round, a request for changes) gets new timers.
type gateClock struct {
	gate     *gate
	deadline time.Time
	// cancel stops both timers; a fired timer is not touched.
	cancel workflow.CancelFunc
	// due is the deadline timer; remindAt is nil once the reminder was given, or when
	// the gate has none.
	due, remindAt workflow.Future
}

// clockOf returns the timers of g, started now if g has none for its deadline (stopping
// those of the gate before it): a reminder remind before the deadline when that has not
// passed yet, and the deadline.
func (r *runner) clockOf(ctx workflow.Context, g *gate, remind time.Duration) *gateClock {
	if c := r.clock; c != nil && c.gate == g && c.deadline.Equal(g.deadline) {
		return c
	}
	r.stopClock()
	tctx, cancel := workflow.WithCancel(ctx)
	c := &gateClock{gate: g, deadline: g.deadline, cancel: cancel}
	left := g.deadline.Sub(workflow.Now(ctx))
	if remind > 0 && left > remind {
		c.remindAt = workflow.NewTimerWithOptions(tctx, left-remind,
			workflow.TimerOptions{Summary: g.timer("reminder")})
	}
	c.due = workflow.NewTimerWithOptions(tctx, max(left, time.Millisecond),
		workflow.TimerOptions{Summary: g.timer("deadline")})
	r.clock = c
	return c
}

// stopClock cancels the timers of the gate that closed, if they have not fired.
func (r *runner) stopClock() {
	if r.clock != nil {
		r.clock.cancel()
		r.clock = nil
	}
}

// nextOnClock is next on runs with GateTimers: it waits on the gate's clock, which
// outlives this wait, instead of timers of its own. A decision wins over a fired timer,
// as it does when both come in one workflow task.
func (r *runner) nextOnClock(ctx workflow.Context, g *gate, remind time.Duration, full, decided func() bool) (AdvanceRequest, bool, error) {
	c := r.clockOf(ctx, g, remind)
	for {
		if err := workflow.Await(ctx, func() bool {
			return decided() || c.due.IsReady() || (c.remindAt != nil && c.remindAt.IsReady())
		}); err != nil {
			return AdvanceRequest{}, false, err
		}
		switch {
		case r.decision != nil:
			return r.take(), true, nil
		case r.got != nil:
			return AdvanceRequest{Action: actionEvent}, true, nil
		case full():
			return AdvanceRequest{}, false, errHistoryFull
		case c.due.IsReady():
			if err := c.due.Get(ctx, nil); err != nil {
				return AdvanceRequest{}, false, err
			}
			return AdvanceRequest{}, false, nil
		}
		// The reminder fired.
		err := c.remindAt.Get(ctx, nil)
		c.remindAt = nil
		if err != nil {
			return AdvanceRequest{}, false, err
		}
		r.remindOf(ctx, g)
	}
}

// approvalPolicy is who may decide at a gate of a definition, and how many must approve.
type approvalPolicy struct {
	Approvers []string `json:"approvers,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	Quorum    int      `json:"quorum"`
	// SelfApproval allows the requester to approve (separation of duties off).
	SelfApproval bool `json:"-"`
	Escalated    bool `json:"escalated,omitempty"`
	// Approvals are the distinct approvers so far.
	Approvals []string `json:"approvals,omitempty"`
}

// may reports whether the actor may decide at the gate.
func (p *approvalPolicy) may(req AdvanceRequest) bool {
	return admits(p.Approvers, p.Scope, req.Actor, req.Scopes, req.AllScopes)
}

// admits tells whether a gate that names approvers and a scope admits actor, holding
// scopes (all: every scope): one of the approvers, or anyone holding the scope.
func admits(approvers []string, scope, actor string, scopes []string, all bool) bool {
	return slices.Contains(approvers, actor) || (scope != "" && (all || slices.Contains(scopes, scope)))
}

// who says who may decide, in words.
func (p *approvalPolicy) who() string {
	var parts []string
	if len(p.Approvers) > 0 {
		parts = append(parts, strings.Join(p.Approvers, ", "))
	}
	if p.Scope != "" {
		parts = append(parts, "anyone holding the scope "+p.Scope)
	}
	return strings.Join(parts, " or ")
}

// checkPolicy refuses a decision the gate's policy does not allow.
func (r *runner) checkPolicy(req AdvanceRequest) error {
	p := r.gate.policy
	if p == nil || req.Action == ActionContinue {
		return nil
	}
	if !p.may(req) {
		return fmt.Errorf("%s may not decide at step %s; allowed: %s", req.Actor, r.gate.step, p.who())
	}
	if i := slices.IndexFunc(p.Approvals, func(a string) bool { return r.sameActor(a, req.Actor) }); req.Action == ActionApprove && i >= 0 {
		as := ""
		if p.Approvals[i] != req.Actor {
			as = fmt.Sprintf(" (as %s: names are compared without case)", p.Approvals[i])
		}
		return fmt.Errorf("%s already approved step %s%s; it needs %d distinct approvers, %d more", req.Actor, r.gate.step, as, p.Quorum, p.Quorum-len(p.Approvals))
	}
	return nil
}

// check decides whether an advance fits the gate the workflow waits at. It runs as the
// update's validator, so a refused advance never reaches the workflow's history.
func (r *runner) check(ctx workflow.Context, req AdvanceRequest) error {
	spec, ok := req.Action.Spec()
	if !ok {
		return fmt.Errorf("action %q is unknown; allowed: %s", req.Action, actionList(Actions))
	}
	if strings.TrimSpace(req.Actor) == "" {
		return errors.New("actor is empty; every decision is recorded with who made it")
	}
	if r.StrictActors {
		if err := CheckName("actor", req.Actor); err != nil {
			return err
		}
	}
	if r.gate == nil {
		return r.noGate(req.Step)
	}
	if r.decision != nil {
		return fmt.Errorf("a decision on step %s is already being applied", r.gate.step)
	}
	if r.got != nil {
		return fmt.Errorf("the event %s reached step %s first and ends its gate; it takes no decision now", r.event.name, r.gate.step)
	}
	if req.Step != "" && req.Step != r.gate.step {
		return fmt.Errorf("workflow waits at step %s, not %s; get the status again and decide on %s", r.gate.step, req.Step, r.gate.step)
	}
	switch {
	case r.gate.kind == gateApproval && req.Action == ActionContinue:
		return fmt.Errorf("step %s waits for approve or reject, not continue", r.gate.step)
	case r.gate.kind == gateInput && req.Action == ActionApprove:
		return fmt.Errorf("step %s failed and waits for continue (retry it) or reject (end the workflow), not approve", r.gate.step)
	}
	if !slices.Contains(spec.At, string(r.gate.kind)) {
		return fmt.Errorf("step %s waits for %s, not %s", r.gate.step, actionList(r.gate.actions()), req.Action)
	}
	switch {
	case req.Reassign != nil && req.Action != ActionReassign:
		return fmt.Errorf("reassign_to goes with reassign, not with %s", req.Action)
	case len(req.Parameters) > 0 && req.Action != ActionRevise:
		return fmt.Errorf("parameters go with revise, not with %s; send the %s without them", req.Action, req.Action)
	case len(req.Inputs) > 0 && req.Action != ActionApprove:
		return fmt.Errorf("inputs go with approve at step %s, not with %s; send the %s without inputs", r.gate.step, req.Action, req.Action)
	}
	switch req.Action {
	case ActionRemind:
		return r.checkRemind(ctx, req)
	case ActionReassign:
		return r.checkReassign(req)
	}
	if err := r.checkChangeAction(req); err != nil {
		return err
	}
	if r.gate.kind == gateChanges {
		return nil // the requester answers; the gate's approvers and inputs do not apply
	}
	if r.gate.kind == gateApproval && (req.Action == ActionApprove || req.Action == ActionRequestChanges) && !r.selfApproval() && r.sameActor(req.Actor, r.req.RequestedBy) {
		return fmt.Errorf("%s requested this workflow and cannot %s it (separation of duties); another person must", req.Actor, req.Action)
	}
	if err := r.checkPolicy(req); err != nil {
		return err
	}
	return r.gate.checkInputs(req)
}

// noGate says why the run takes no decision now. When the decision names a gate that
// has ended, it also says how, so a requester whose revision came after the gate's event
// learns that the event won.
func (r *runner) noGate(step string) error {
	msg := fmt.Sprintf("workflow is not waiting for a decision (status %s, step %s)", r.state.Status, r.state.CurrentStep)
	i := slices.IndexFunc(r.state.Steps, func(s Step) bool { return s.Name == step })
	if i >= 0 && step != r.state.CurrentStep {
		if s := r.state.Steps[i]; s.Kind == StepApproval && s.Status == StepCompleted && s.Output != "" {
			msg += fmt.Sprintf("; step %s has ended: %s", step, s.Output)
		}
	}
	return errors.New(msg)
}

// selfApproval reports whether the requester may approve the gate the run waits at.
func (r *runner) selfApproval() bool {
	if r.gate != nil && r.gate.policy != nil {
		return r.gate.policy.SelfApproval
	}
	return r.req.AllowSelfApproval
}

// waiting says what the run waits for at its gate, and who may decide there.
func (r *runner) waiting() *Waiting {
	g := r.gate
	w := &Waiting{Step: g.step, For: string(g.kind), Deadline: g.deadline}
	for _, a := range g.actions() {
		if a == ActionRemind && (!r.Notifies || r.noChannels) {
			continue // nobody would be told
		}
		w.Actions = append(w.Actions, a)
	}
	if g.mayRequestChanges() {
		w.Revisable = slices.Clone(g.changes.revisable)
	}
	if g.kind == gateInput {
		if s := r.step(g.step); s != nil {
			w.Failure = s.Error
		}
	}
	if g.kind == gateChanges && g.asked != nil {
		w.Changes = &ChangesAsked{ChangeRequest: *g.asked, Revisable: slices.Clone(g.changes.revisable),
			Requester: r.req.RequestedBy, Round: g.round, MaxRounds: g.changes.maxRounds}
		r.orEventWaiting(w)
	}
	if g.kind == gateApproval {
		if !r.selfApproval() {
			w.NotBy = r.req.RequestedBy
		}
		if p := g.policy; p != nil {
			w.Approvers, w.Scope, w.Quorum = slices.Clone(p.Approvers), p.Scope, p.Quorum
			w.Approvals = slices.Clone(p.Approvals)
		}
		if g.inputs != nil {
			w.Inputs = g.inputs.doc
			for _, rule := range g.inputs.rules {
				w.Rules = append(w.Rules, rule.Message)
			}
		}
		w.ReasonOnReject = g.reasonOnReject
		r.orEventWaiting(w)
	}
	return w
}

// actions are what may be done at the gate (ActionSpecs' order).
func (g *gate) actions() []Action {
	var out []Action
	for _, s := range ActionSpecs {
		if slices.Contains(s.At, string(g.kind)) && (s.Name != ActionRequestChanges || g.mayRequestChanges()) && (s.Name != ActionReassign || g.policy != nil) {
			out = append(out, s.Name)
		}
	}
	return out
}

// actionList names actions for an error: "approve, reject or remind".
func actionList(actions []Action) string { return words.Or(actions) }

// checkRemind refuses a remind the gate does not take: on a run that tells nobody or
// where no channel is configured, from someone who is neither the requester nor allowed
// to decide, or sooner than RemindInterval after people were last told (a notice that
// reached nobody does not count).
func (r *runner) checkRemind(ctx workflow.Context, req AdvanceRequest) error {
	g := r.gate
	if !r.Notifies {
		return fmt.Errorf("this run tells nobody of its gates (it started before notifications), so there is no one to remind at step %s", g.step)
	}
	if r.noChannels {
		return fmt.Errorf("Flowgate has no notification channels configured (--notify), so a remind at step %s would reach nobody; tell %s yourself", g.step, g.who())
	}
	if !r.sameActor(req.Actor, r.req.RequestedBy) && g.policy != nil && !g.policy.may(req) {
		return fmt.Errorf("%s may not remind at step %s; allowed: the requester %s, or %s", req.Actor, g.step, r.req.RequestedBy, g.policy.who())
	}
	if next := g.toldAt.Add(RemindInterval); !g.toldAt.IsZero() && workflow.Now(ctx).Before(next) {
		return fmt.Errorf("people were told of step %s at %s; remind again from %s", g.step, g.toldAt.Format(time.RFC3339), next.Format(time.RFC3339))
	}
	return nil
}
