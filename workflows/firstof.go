package workflows

import (
	"encoding/json"
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"
)

// A gate with or_event is a first_of: "approve, or CI green, whichever comes first". It
// is one wait, the gate's (runner.await): a decision or the event ends it, and its
// deadline is the gate's. The two cannot both win: the workflow applies one update at a
// time, each update's validator refuses the other way out while one is being applied,
// and the step's output says which won (steps.GATE.output.won).

// GateEvent is the event that ends a gate as an approve would.
type GateEvent struct {
	// Event names it, as a wait for an event does (ci_passed).
	Event string `yaml:"event" json:"event"`
	// Schema is the JSON Schema (an object) its payload must match; none takes any
	// JSON object.
	Schema map[string]any `yaml:"schema,omitempty" json:"schema,omitempty"`
	// Scope is what send_event needs of its caller (default write:data).
	Scope string `yaml:"scope,omitempty" json:"scope,omitempty"`
}

// What steps.GATE.output.won says on a gate with or_event.
const (
	WonApproval = "approval"
	WonEvent    = "event"
)

// wait is the event as a wait for one, so the event's checks and plan serve it.
func (e GateEvent) wait() WaitStep {
	return WaitStep{Event: e.Event, Schema: e.Schema, Scope: e.Scope}
}

// checkOrEvent checks a gate's or_event: the event's name, schema and scope, as a wait
// for an event checks them.
func (c *checker) checkOrEvent(path []any, a ApprovalStep) {
	if a.OrEvent == nil {
		return
	}
	c.checkEventWait(append(path, "or_event"), a.OrEvent.wait())
}

// openOrEvent lets the event of s end the gate g while it waits for approvals, or for
// its requester's revision after an approver asked for changes: the run takes the event
// update at the gate's step, until the gate's deadline. The definition's author declared
// the event suffices in place of an approval, so a gate sent back for revision is still
// "whichever comes first"; the revision the requester would have sent is then refused,
// as at any gate that has ended. No command depends on it, so histories recorded when
// the event was refused there replay as they did.
func (ip *interpreter) openOrEvent(s planStep, g *gate) {
	if s.gate.orEvent == nil || (g.kind != gateApproval && g.kind != gateChanges) {
		return
	}
	ip.r.event = &eventWait{step: s.Name, deadline: g.deadline, plan: s.gate.orEvent, name: s.Approval.OrEvent.Event}
}

// orEventWaiting adds to what a gate waits for the event that may end it.
func (r *runner) orEventWaiting(w *Waiting) {
	if e := r.event; e != nil && r.gate != nil && e.step == r.gate.step {
		w.Event, w.EventScope, w.PayloadSchema = e.name, e.plan.scope, e.plan.doc
	}
}

// OrEnds says, at a gate with or_event, that the event also ends it: one sentence that
// get_workflow_status, the MCP task, the approval page and the inbox all show. It is
// empty at any other gate and at a wait for an event (For "event"), whose only way out
// the event is.
func (w *Waiting) OrEnds() string {
	if w == nil || w.Event == "" || w.For == waitForEvent {
		return ""
	}
	scope := w.EventScope
	if scope == "" {
		scope = DefaultEventScope
	}
	return fmt.Sprintf("Or the gate ends when the event %s arrives, whichever comes first (send_event at step %s, with the scope %s).", w.Event, w.Step, scope)
}

// eventWon ends the gate g of step s with the event the run took there: the step
// completes as an approve would, and its output says the event won, with its payload.
// At a gate sent back for changes, the record says the revision is no longer taken.
func (ip *interpreter) eventWon(ctx workflow.Context, s planStep, g *gate) {
	r := ip.r
	e := *r.got
	r.got = nil
	r.eventsTaken++
	name := s.Approval.OrEvent.Event
	payload, _ := normalInputs(e.Payload)
	ip.keep(s.Name, map[string]any{"won": WonEvent, "event": name, "payload": payload, "by": e.Actor})
	via := ""
	if e.Callback {
		via = " through its callback URL"
	}
	raw, _ := json.Marshal(payload)
	r.log(ctx, "event_received", s.Name, e.Actor, fmt.Sprintf("%s%s (%d bytes)", name, via, len(raw)))
	detail := fmt.Sprintf("the event %s came first and ends the gate; no decision is taken there any more", name)
	if g.kind == gateChanges {
		detail = fmt.Sprintf("the event %s came first and ends the gate while changes were asked of %s; no revision or decision is taken there any more", name, r.req.RequestedBy)
	}
	r.log(ctx, "first_of", s.Name, e.Actor, detail)
	r.finishStep(ctx, s.Name, StepCompleted, e.Actor, "", fmt.Sprintf("event %s received before a decision", name), "")
	r.state.Status = StatusInProgress
	r.publish(ctx)
}

// approvalWon records that a decision, not the event, ended the gate of step s: in its
// output out (kept in the record, as the event's is) and its history.
func (ip *interpreter) approvalWon(ctx workflow.Context, s planStep, by string, out map[string]any) {
	if s.gate.orEvent == nil {
		return
	}
	out["won"] = WonApproval
	ip.keep(s.Name, out)
	ip.r.log(ctx, "first_of", s.Name, by, fmt.Sprintf("the approval came first and ends the gate; the event %s is no longer taken", s.Approval.OrEvent.Event))
}

// orEventSteps are the steps of d that take an event: waits for one, and gates with
// or_event.
func orEventSteps(d Definition) []string {
	var out []string
	for _, s := range d.Steps {
		if (s.Wait != nil && s.Wait.Event != "") || (s.Approval != nil && s.Approval.OrEvent != nil) {
			out = append(out, s.Name)
		}
	}
	return slices.Clip(out)
}
