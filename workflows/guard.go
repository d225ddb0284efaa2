package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// FailStep is a guard: when its condition holds, the run ends failed with the reason,
// undoing what was done; otherwise the step completes and the run goes on. It stops a
// run that a read found should not go on ("ORD-01007 is already refunded"), where when
// could only skip steps.
type FailStep struct {
	// When is a CEL condition over params, steps and run, as a step's when.
	When string `yaml:"when" json:"when"`
	// Reason is a template of why the run stopped: the run's error and the step's.
	Reason string `yaml:"reason" json:"reason"`
}

// StepGuard is the kind of a fail step in the record.
const StepGuard StepKind = "guard"

// guardStop ends a run whose guard held: the run fails with the guard's reason.
type guardStop struct {
	step   string
	reason string
}

func (g *guardStop) Error() string {
	return fmt.Sprintf("step %s stopped the run: %s", g.step, g.reason)
}

// checkGuard checks a fail step: a boolean condition and a reason, which may use the
// steps before it.
func (c *checker) checkGuard(path []any, f FailStep, refs refChecker) {
	if strings.TrimSpace(f.When) == "" {
		c.at(path, "fail needs when; allowed: a boolean CEL condition over params, steps and run that stops the run when true")
	} else {
		c.checkCondition(c.env, append(path, "when"), f.When)
		refs.expression(append(path, "when"), f.When)
	}
	if strings.TrimSpace(f.Reason) == "" {
		c.at(path, "fail needs a reason; allowed: a template saying why the run stops, such as \"{{params.order_id}} is already refunded\"")
	}
	refs.templates(append(path, "reason"), f.Reason)
}

// guard runs a fail step: when its condition holds, the step fails with the rendered
// reason and the run ends failed (finish undoes what was done); otherwise the step
// completes. It runs no activity and issues no command of its own.
func (ip *interpreter) guard(ctx workflow.Context, s planStep) error {
	r, f := ip.r, s.Fail
	r.begin(ctx, s.Name, StatusInProgress, StepRunning)
	stop, err := ip.condition(f.When)
	if err != nil {
		msg := fmt.Sprintf("fail.when %q: %v", f.When, err)
		r.finishStep(ctx, s.Name, StepFailed, "", "", "", msg)
		return &stepFailure{step: s.Name, err: fmt.Errorf("fail.when %q: %w", f.When, err)}
	}
	if !stop {
		r.finishStep(ctx, s.Name, StepCompleted, "", "", fmt.Sprintf("guard passed: %s is false", f.When), "")
		r.publish(ctx)
		return nil
	}
	reason, err := ip.render(f.Reason)
	switch {
	case err != nil:
		reason = fmt.Sprintf("%s is true (its reason could not be filled: %v)", f.When, err)
	case strings.TrimSpace(reason) == "":
		reason = f.When + " is true"
	}
	r.finishStep(ctx, s.Name, StepFailed, "", "", "", reason)
	return &guardStop{step: s.Name, reason: CleanText(reason)}
}
