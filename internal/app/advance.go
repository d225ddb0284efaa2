package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/words"
	"github.com/flowgate/flowgate/workflows"
)

// Decision is what a caller decides at the gate a run waits at.
type Decision struct {
	WorkflowID string
	// RunID, when set, is the first run id the decision is for: a later run that reuses
	// the workflow id is not decided.
	RunID  string
	Action workflows.Action
	// Step is the gate the caller saw; a decision for another step is refused.
	Step    string
	Comment string
	// Inputs are what an approve carries at a gate that declares inputs.
	Inputs map[string]any
	// Parameters are a revise's new values of revisable parameters.
	Parameters map[string]any
	// ReassignTo is who a reassign hands the gate to.
	ReassignTo *workflows.Reassignment
	// Nonce, when set, makes the decision single-use: an approval link's nonce, so a link
	// decides once.
	Nonce string
}

// Check refuses a decision whose arguments are malformed, before any call to Temporal.
func (d Decision) Check() error {
	if err := CheckID("workflow_id", d.WorkflowID); err != nil {
		return err
	}
	if !slices.Contains(workflows.Actions, d.Action) {
		return &ArgError{"action", fmt.Sprintf("%q is not an action", d.Action), strings.Join(words.Strings(workflows.Actions), " | ")}
	}
	if len(d.Comment) > MaxCommentLength {
		return &ArgError{"comment", fmt.Sprintf("is %d characters long", len(d.Comment)), fmt.Sprintf("at most %d", MaxCommentLength)}
	}
	for _, f := range []struct {
		field  string
		values map[string]any
	}{{"inputs", d.Inputs}, {"parameters", d.Parameters}} {
		field, values := f.field, f.values
		if len(values) == 0 {
			continue
		}
		raw, err := json.Marshal(values)
		switch {
		case err != nil:
			return &ArgError{field, "cannot be written as JSON", "a JSON object"}
		case len(raw) > MaxInputsSize:
			return &ArgError{field, fmt.Sprintf("is %d bytes long", len(raw)), fmt.Sprintf("at most %d bytes", MaxInputsSize)}
		}
	}
	if len(d.Step) > MaxIDLength {
		return &ArgError{"step", "is too long", "the step name get_workflow_status shows"}
	}
	return nil
}

// NeededScopes are the scopes a decision needs, any one of them, as its action's spec
// says: approve to approve or reject at a gate, write to continue after a failed step,
// either to remind.
func (d Decision) NeededScopes() []string {
	spec, _ := d.Action.Spec()
	var out []string
	for _, r := range spec.By {
		switch r {
		case workflows.Approvers:
			out = append(out, ScopeApprove)
		case workflows.Operators:
			out = append(out, ScopeWrite)
		case workflows.Admins:
			out = append(out, ScopeAdmin)
		}
	}
	return out
}

// Advance sends the caller's decision through the run's validated advance update and
// returns where the run stands after it. The caller must hold the decision's scope; the
// run's own gate then decides whether this caller may decide there (its approvers, scope,
// quorum and separation of duties). The decision is signed when the Service has keys.
func (s *Service) Advance(ctx context.Context, c Caller, d Decision) (workflows.StatusView, error) {
	var v workflows.StatusView
	if err := d.Check(); err != nil {
		return v, err
	}
	if need := d.NeededScopes(); !slices.ContainsFunc(need, c.Has) {
		return v, &ScopeError{Caller: c.Name, Need: strings.Join(need, " or "), Doing: string(d.Action)}
	}
	req := workflows.AdvanceRequest{Action: d.Action, Step: d.Step, Actor: c.Name, Comment: d.Comment, Inputs: d.Inputs, Parameters: d.Parameters, Reassign: d.ReassignTo, Scopes: c.Scopes, AllScopes: c.All}
	if c.All {
		req.Scopes = nil
	}
	keys := s.cfg.DecisionKeys
	if keys == nil && d.Nonce != "" {
		keys = s.cfg.LinkKeys
	}
	if keys != nil {
		// The caller's identity was verified: sign what it decides, so the workflow can tell
		// this decision from one typed into Temporal directly.
		if d.Nonce != "" {
			req = keys.SignWithNonce(d.WorkflowID, req, d.Nonce, time.Now())
		} else {
			signed, err := keys.Sign(d.WorkflowID, req, time.Now())
			if err != nil {
				return v, err
			}
			req = signed
		}
	}
	err := s.update(ctx, client.UpdateWorkflowOptions{
		WorkflowID: d.WorkflowID, FirstExecutionRunID: d.RunID,
		UpdateName: workflows.UpdateAdvance, Args: []any{req},
	}, &v)
	if err != nil {
		s.cfg.Logger.Info("advance refused", "workflow_id", d.WorkflowID, "action", d.Action, "actor", c.Name, "error", err)
	}
	return v, err
}
