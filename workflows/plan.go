package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Plan is a definition compiled for running: its steps in order, each with its kind
// resolved and its durations parsed. A run compiles its definition once (and every run
// of the same source shares the plan), so no text is parsed again while it runs, and a
// definition that cannot run is refused before its first step with the reason.
type Plan struct {
	Definition
	steps []planStep
	// params checks a revision's parameters, on a plan whose gates allow changes.
	params *ParamSchema
}

// planStep is one step of a plan.
type planStep struct {
	StepDef
	// retry is the step's retry policy and timeout, nil for the defaults.
	retry *retryPlan
	// gate is set on an approval step.
	gate *gatePlan
	// wait is set on a wait step.
	wait *waitPlan
	// callbacks are the event waits whose callback URLs the step names, made before it
	// runs (event.go).
	callbacks []string
}

// retryPlan is a step's declared retry policy, applied over the defaults.
type retryPlan struct {
	policy temporal.RetryPolicy
	// timeout bounds one attempt; 0 keeps the default.
	timeout time.Duration
}

// gatePlan is an approval gate's waits.
type gatePlan struct {
	// deadline is the gate's wait; 0 takes the run's approval timeout.
	deadline time.Duration
	// reminder is how long before the deadline approvers are reminded; 0 for never.
	reminder time.Duration
	// escalate is the escalation's own wait, on a gate that escalates.
	escalate time.Duration
	// inputs are what an approve carries, nil when the gate declares none.
	inputs *inputsPlan
	// changes say what a revision may change, nil when the gate allows none.
	changes *changesPlan
	// orEvent is the event that may end the gate first, nil when it takes none.
	orEvent *eventPlan
}

// Compile makes the plan of d. Its errors name the step and field; a definition the
// loader accepted always compiles.
func Compile(d Definition) (*Plan, error) {
	p := &Plan{Definition: d, steps: make([]planStep, len(d.Steps))}
	var problems []error
	for i, s := range d.Steps {
		ps := planStep{StepDef: s}
		parse := func(field, text string) time.Duration {
			if text == "" {
				return 0
			}
			v, err := time.ParseDuration(text)
			if err != nil {
				problems = append(problems, fmt.Errorf("step %s: %s %q is not a duration", s.Name, field, text))
			}
			return v
		}
		if kinds := s.kinds(); len(kinds) != 1 {
			problems = append(problems, fmt.Errorf("step %s has the kinds %v; it must have exactly one of %v", s.Name, kinds, StepKinds))
		}
		if r := s.Retry; r != nil {
			rp := &retryPlan{policy: *defaultRetry, timeout: parse("retry.timeout", r.Timeout)}
			if r.MaximumAttempts > 0 {
				rp.policy.MaximumAttempts = int32(r.MaximumAttempts)
			}
			if r.InitialInterval != "" {
				rp.policy.InitialInterval = parse("retry.initial_interval", r.InitialInterval)
			}
			if r.MaximumInterval != "" {
				rp.policy.MaximumInterval = parse("retry.maximum_interval", r.MaximumInterval)
			}
			if r.BackoffCoefficient > 0 {
				rp.policy.BackoffCoefficient = r.BackoffCoefficient
			}
			ps.retry = rp
		}
		if a := s.Approval; a != nil {
			ps.gate = &gatePlan{deadline: parse("approval.deadline", a.Deadline), reminder: parse("approval.reminder", a.Reminder)}
			var err error
			if ps.gate.inputs, err = compileInputs(*a); err != nil {
				problems = append(problems, fmt.Errorf("step %s: approval.inputs: %w", s.Name, err))
			}
			if ps.gate.changes = compileChanges(a.Changes, parse); ps.gate.changes != nil && p.params == nil {
				if p.params, err = CompileParams(d); err != nil {
					problems = append(problems, fmt.Errorf("parameters: %w", err))
				}
			}
			if a.OrEvent != nil {
				if ps.gate.orEvent, err = compileEvent(a.OrEvent.wait()); err != nil {
					problems = append(problems, fmt.Errorf("step %s: approval.or_event: %w", s.Name, err))
				}
			}
			if a.OnTimeout == "escalate" {
				if a.Escalate == nil {
					problems = append(problems, fmt.Errorf("step %s escalates to nobody", s.Name))
				} else {
					ps.gate.escalate = parse("approval.escalate.deadline", a.Escalate.Deadline)
				}
			}
		}
		if s.Wait != nil {
			wp, err := compileWait(*s.Wait)
			if err != nil {
				problems = append(problems, fmt.Errorf("step %s: %w", s.Name, err))
			}
			ps.wait = wp
		}
		ps.callbacks = callbackRefs(s)
		p.steps[i] = ps
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return p, nil
}

// plans caches compiled plans by source hash: compiling is pure.
var plans pureCache[string, *Plan]

// Plan decodes and compiles the carried definition, after checking its hash.
func (s ProcessSource) Plan() (*Plan, error) {
	d, err := s.Definition() // checks the hash, which the cache is keyed by
	if err != nil {
		return nil, err
	}
	if p, ok := plans.get(s.Hash); ok {
		return p, nil
	}
	p, err := Compile(d)
	if err != nil {
		return nil, fmt.Errorf("process %s: %w", s.Name, err)
	}
	plans.put(s.Hash, p)
	return p, nil
}
