package workflows

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Changes requested: at a gate that allows it, an approver sends the run back to its
// requester with what to change. The run waits (status changes_requested) for the
// requester to revise the revisable parameters, which opens the gate again as a new
// round whose approvals start from none, or to withdraw, which ends the run and undoes
// what it did. Every round is in the record: who asked what, and what changed.

// ChangesStep is what a gate allows its approvers to send back.
type ChangesStep struct {
	// Revisable are the parameters a revise may change.
	Revisable []string `yaml:"revisable" json:"revisable"`
	// MaxRounds is how many times changes may be requested (default 3).
	MaxRounds int `yaml:"max_rounds,omitempty" json:"max_rounds,omitempty"`
	// Deadline is how long the requester has to revise (default: the gate's deadline).
	Deadline string `yaml:"deadline,omitempty" json:"deadline,omitempty"`
}

// DefaultMaxRounds is how many times changes may be requested when a gate does not say.
const DefaultMaxRounds = 3

// changesPlan is a gate's compiled changes.
type changesPlan struct {
	revisable []string
	maxRounds int
	// deadline is the requester's wait; 0 takes the gate's.
	deadline time.Duration
}

// ChangeRequest is what an approver asked to change.
type ChangeRequest struct {
	By      string    `json:"by"`
	Comment string    `json:"comment"`
	At      time.Time `json:"at"`
}

// ChangesAsked is what a run waiting for its requester's revision shows: what was asked,
// by whom, what may change, and who may revise.
type ChangesAsked struct {
	ChangeRequest
	// Revisable are the parameters a revise may change; Requester is who may revise or
	// withdraw.
	Revisable []string `json:"revisable"`
	Requester string   `json:"requester"`
	// Round is this request's number, of at most MaxRounds.
	Round     int `json:"round"`
	MaxRounds int `json:"max_rounds"`
}

// checkChanges checks a gate's changes at load; params are the declared parameters, and
// services those that name a gateway service (never revisable: a start checks them).
func (c *checker) checkChanges(path []any, a ApprovalStep, params map[string]bool, services []string) {
	ch := a.Changes
	if ch == nil {
		return
	}
	path = append(slices.Clone(path), "changes")
	if len(ch.Revisable) == 0 {
		c.at(path, "changes names no revisable parameter; allowed: revisable: [a parameter, …]")
	}
	for i, name := range ch.Revisable {
		switch {
		case !params[name]:
			c.at(append(slices.Clone(path), "revisable", i), "revisable parameter %q is not declared; allowed: %s", name, strings.Join(slices.Sorted(maps.Keys(params)), ", "))
		case slices.Contains(services, name):
			c.at(append(slices.Clone(path), "revisable", i), "parameter %q names the service a step calls, which only a start may choose; allowed: other parameters", name)
		case slices.Index(ch.Revisable, name) < i:
			c.at(append(slices.Clone(path), "revisable", i), "revisable parameter %q is listed twice; allowed: each once", name)
		}
	}
	if ch.MaxRounds < 0 || ch.MaxRounds > 20 {
		c.at(append(slices.Clone(path), "max_rounds"), "max_rounds %d; allowed: 1 to 20 (default %d)", ch.MaxRounds, DefaultMaxRounds)
	}
	if ch.Deadline != "" {
		c.duration(append(slices.Clone(path), "deadline"), ch.Deadline, 0)
	}
}

// compileChanges compiles a gate's changes; nil when it allows none.
func compileChanges(ch *ChangesStep, parse func(field, text string) time.Duration) *changesPlan {
	if ch == nil {
		return nil
	}
	return &changesPlan{revisable: slices.Clone(ch.Revisable), maxRounds: cmp.Or(ch.MaxRounds, DefaultMaxRounds),
		deadline: parse("approval.changes.deadline", ch.Deadline)}
}

// mayRequestChanges tells whether the gate takes a request for changes now.
func (g *gate) mayRequestChanges() bool {
	return g.kind == gateApproval && g.changes != nil && g.round < g.changes.maxRounds
}

// checkChangeAction refuses a request_changes, revise or withdraw the gate does not take.
func (r *runner) checkChangeAction(req AdvanceRequest) error {
	g := r.gate
	switch req.Action {
	case ActionRequestChanges:
		switch {
		case g.changes == nil:
			return fmt.Errorf("step %s allows no changes to be requested (its definition declares no approval.changes); approve or reject", g.step)
		case !g.mayRequestChanges():
			return fmt.Errorf("step %s already had %d rounds of changes, its most; approve or reject", g.step, g.changes.maxRounds)
		case strings.TrimSpace(req.Comment) == "":
			return fmt.Errorf("a request for changes at step %s needs a comment saying what to change", g.step)
		}
	case ActionRevise, ActionWithdraw:
		if !r.sameActor(req.Actor, r.req.RequestedBy) {
			return fmt.Errorf("%s may not %s at step %s; only the requester, %s, may", req.Actor, req.Action, g.step, r.req.RequestedBy)
		}
		if req.Action == ActionRevise {
			return g.checkRevision(req.Parameters)
		}
	}
	return nil
}

// checkRevision refuses a revision that changes a parameter the gate does not let
// change, changes nothing, or leaves the parameters invalid by their schema.
func (g *gate) checkRevision(params map[string]any) error {
	if len(params) == 0 {
		return fmt.Errorf("a revise at step %s needs parameters: new values for %s", g.step, nameList(g.changes.revisable))
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if !slices.Contains(g.changes.revisable, name) {
			return &ParamError{Field: "parameters." + name, Problem: "may not be revised at step " + g.step, Allowed: nameList(g.changes.revisable)}
		}
	}
	merged, diff, err := revised(g.params, params)
	if err != nil {
		return err
	}
	if len(diff) == 0 {
		return fmt.Errorf("the revision changes nothing: %s already have these values; change what was asked: %s", nameList(slices.Sorted(maps.Keys(params))), g.asked.Comment)
	}
	raw, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	if _, err := g.schema.Check(raw); err != nil {
		return err
	}
	return nil
}

func nameList(names []string) string { return strings.Join(names, ", ") }

// revised are params with the revision applied, and what changed: "amount_cents:
// 90000 → 40000", in the parameters' order.
func revised(params, revision map[string]any) (map[string]any, []string, error) {
	rev, err := normalInputs(revision)
	if err != nil {
		return nil, nil, err
	}
	merged := maps.Clone(params)
	var diff []string
	for _, name := range slices.Sorted(maps.Keys(rev)) {
		before, _ := json.Marshal(params[name])
		after, _ := json.Marshal(rev[name])
		if string(before) == string(after) {
			continue
		}
		merged[name] = rev[name]
		diff = append(diff, fmt.Sprintf("%s: %s → %s", name, before, after))
	}
	return merged, diff, nil
}

// askChanges turns the approval gate g into a wait for the requester's revision, as d
// (a request_changes) asked.
func (ip *interpreter) askChanges(ctx workflow.Context, g *gate, d AdvanceRequest) *gate {
	r := ip.r
	now := workflow.Now(ctx).UTC()
	wait := g.deadline.Sub(now)
	if g.changes.deadline > 0 {
		wait = g.changes.deadline
	}
	c := *g
	c.kind, c.round, c.deadline = gateChanges, g.round+1, now.Add(wait)
	c.asked = &ChangeRequest{By: d.Actor, Comment: d.Comment, At: now}
	c.toldAt = time.Time{}
	r.state.Status = StatusChangesRequested
	r.log(ctx, "changes_requested", g.step, d.Actor, fmt.Sprintf("round %d of %d: %s may revise %s until %s — %s",
		c.round, c.changes.maxRounds, r.req.RequestedBy, nameList(c.changes.revisable), c.deadline.Format(time.RFC3339), d.Comment))
	return &c
}

// revise applies the requester's revision d at the changes gate g: the parameters later
// steps and templates see, the record's parameters and what changed.
func (ip *interpreter) revise(ctx workflow.Context, g *gate, d AdvanceRequest) {
	r := ip.r
	merged, diff, err := revised(ip.params, d.Parameters)
	if err != nil { // the validator decoded the same values; cannot happen
		r.log(ctx, "revision_failed", g.step, d.Actor, err.Error())
		return
	}
	ip.params, ip.revisedParams = merged, true
	if raw, err := json.Marshal(merged); err == nil {
		r.state.Parameters = raw
		r.summary = renderSummary(ip.plan.Definition, raw, r.state.WorkflowID, r.state.RequestedBy, r.CostLimited)
	}
	detail := "round " + fmt.Sprint(g.round) + ": " + strings.Join(diff, "; ")
	if d.Comment != "" {
		detail += " — " + d.Comment
	}
	r.log(ctx, "revised", g.step, d.Actor, detail)
}
