package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// Reassign hands a waiting gate to other people: an approver named on the gate, or an
// admin, names who decides from now on (approvers and/or a scope) and why. The gate keeps
// its deadline, quorum and the approvals it has; the new people are told.

// Reassignment is who a reassign hands the gate to.
type Reassignment struct {
	Approvers []string `json:"approvers,omitempty"`
	Scope     string   `json:"scope,omitempty"`
}

// AdminScope is the scope that lets its holder reassign any gate.
const AdminScope = "admin"

// checkReassign refuses a reassign the gate does not take: at a gate whose people its
// process does not name, from someone neither named on it nor an admin, without a reason,
// or to people who could not open it.
func (r *runner) checkReassign(req AdvanceRequest) error {
	g := r.gate
	p := g.policy
	if p == nil {
		return fmt.Errorf("step %s belongs to a kind whose approvers are fixed; it cannot be reassigned", g.step)
	}
	named := slices.ContainsFunc(p.Approvers, func(a string) bool { return r.sameActor(a, req.Actor) })
	if !named && !req.AllScopes && !slices.Contains(req.Scopes, AdminScope) {
		return fmt.Errorf("%s may not reassign step %s; allowed: an approver it names (%s) or anyone holding the admin scope", req.Actor, g.step, nameList(p.Approvers))
	}
	if strings.TrimSpace(req.Comment) == "" {
		return fmt.Errorf("a reassign of step %s needs a comment saying why", g.step)
	}
	to := req.Reassign
	if to == nil || (len(to.Approvers) == 0 && to.Scope == "") {
		return fmt.Errorf("a reassign of step %s needs reassign_to: approvers and/or a scope who decide from now on", g.step)
	}
	seen := map[string]bool{}
	fresh := 0
	for _, a := range to.Approvers {
		if err := CheckName("reassign_to.approvers", a); err != nil {
			return err
		}
		key := actorKey(a)
		if seen[key] {
			return fmt.Errorf("reassign_to.approvers names %s twice; allowed: each person once", a)
		}
		seen[key] = true
		if !slices.ContainsFunc(p.Approvals, func(x string) bool { return r.sameActor(x, a) }) {
			fresh++
		}
	}
	if to.Scope != "" {
		if err := CheckName("reassign_to.scope", to.Scope); err != nil {
			return err
		}
	}
	if left := p.Quorum - len(p.Approvals); to.Scope == "" && fresh < left {
		return fmt.Errorf("step %s needs %d more approvals, and reassign_to names %d people who have not approved; name at least %d, or a scope", g.step, left, fresh, left)
	}
	if to.Scope == "" && !g.policy.SelfApproval && len(to.Approvers) == 1 && r.sameActor(to.Approvers[0], r.req.RequestedBy) {
		return fmt.Errorf("%s requested this workflow and cannot approve it (separation of duties); reassign to someone else", r.req.RequestedBy)
	}
	if slices.Equal(to.Approvers, p.Approvers) && to.Scope == p.Scope {
		return fmt.Errorf("step %s is already %s's to decide", g.step, p.who())
	}
	return nil
}

// reassignNow hands g to the people d names, records who did it and why, and tells them.
func (r *runner) reassignNow(ctx workflow.Context, g *gate, d AdvanceRequest) {
	before := g.policy.who()
	// The policy is changed in place: the gate's loop holds it too.
	g.policy.Approvers, g.policy.Scope = slices.Clone(d.Reassign.Approvers), d.Reassign.Scope
	r.log(ctx, "reassigned", g.step, d.Actor, fmt.Sprintf("from %s to %s — %s", before, g.policy.who(), d.Comment))
	r.notifyGate(ctx, activities.EventGateOpened, g)
	r.publish(ctx)
}
