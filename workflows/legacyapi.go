package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"
)

// This file is the step engine as the Go code of the kinds kept for replay
// (workflows/legacy) drives it: thin wrappers around runner, so that code can live in
// its own package without the engine's internals becoming public. It goes when that
// package goes. Each method does exactly what the runner method it wraps does, so the
// commands a recorded run issues stay the same.

// Engine runs the steps of a run whose steps are Go code: it keeps the record, answers
// queries and decisions, runs steps and compensates, as it does for a definition.
type Engine struct{ r *runner }

// NewEngine builds the record of a run of kind with every step pending, registers its
// query, update and signal handlers, and publishes it.
func NewEngine(ctx workflow.Context, kind Kind, req Request, params any, steps []Step) (*Engine, error) {
	r, err := newRunner(ctx, kind, req, params, steps)
	if err != nil {
		return nil, err
	}
	return &Engine{r: r}, nil
}

// WorkflowID is the run's workflow id, which its idempotency keys start with.
func (e *Engine) WorkflowID() string { return e.r.state.WorkflowID }

// RequestedBy is who started the run.
func (e *Engine) RequestedBy() string { return e.r.req.RequestedBy }

// SetOutput records an output of the run, shown in its record.
func (e *Engine) SetOutput(name, value string) { e.r.state.Outputs[name] = value }

// Step returns a copy of the named step's record.
func (e *Engine) Step(name string) Step { return *e.r.step(name) }

// ActivityStep runs one step whose run calls activities. When it fails past its retries
// the run waits for input (continue or reject); when final is set, a failure ends the run.
func (e *Engine) ActivityStep(ctx workflow.Context, name string, final bool, run func(ctx workflow.Context) (string, error)) error {
	return e.r.activityStep(ctx, name, final, run)
}

// StepInWorkflow runs a step whose work is done in the workflow itself (no activity):
// run returns the step's output.
func (e *Engine) StepInWorkflow(ctx workflow.Context, name string, run func() string) {
	e.r.begin(ctx, name, StatusInProgress, StepRunning)
	output := run()
	e.r.finishStep(ctx, name, StepCompleted, "", "", output, "")
	e.r.publish(ctx)
}

// Skip records a step that does not apply to this run, and why.
func (e *Engine) Skip(ctx workflow.Context, name, why string) { e.r.skip(ctx, name, why) }

// Approval waits at an approval gate and returns who decided; an error ends the run
// (rejected, timed out or cancelled).
func (e *Engine) Approval(ctx workflow.Context, name string) (approver string, err error) {
	return e.r.approval(ctx, name)
}

// OnUndo registers the compensation of a completed step.
func (e *Engine) OnUndo(step string, undo func(ctx workflow.Context) error) { e.r.onUndo(step, undo) }

// Finish turns the run's outcome into its final status, compensating when it did not
// complete, and returns the workflow's result.
func (e *Engine) Finish(ctx workflow.Context, err error) (State, error) { return e.r.finish(ctx, err) }

// WithActivity returns a context whose activities carry a UI summary and the options
// every step's activities get: timeouts, heartbeat and the default retry policy.
func WithActivity(ctx workflow.Context, summary string) workflow.Context {
	return withActivity(ctx, summary)
}

// NonRetryableErrorTypes are the activity error types the default retry policy does not
// retry, for a step that needs a retry policy of its own.
func NonRetryableErrorTypes() []string { return slices.Clone(defaultRetry.NonRetryableErrorTypes) }
