package workflows

import (
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// Verifier verifies that a decision on a run was signed by Flowgate for the identity it
// names, and has not expired (internal/signing's Keys is one). A worker that holds
// decision keys injects it with SignedOnly.
type Verifier interface {
	Verify(workflowID string, d AdvanceRequest, now time.Time) error
}

// verifierKey holds, in a workflow's context, the Verifier of the worker running it.
type verifierKey struct{}

// SignedOnly is the interceptor of a worker that holds decision keys: every run it starts
// takes only signed decisions, whatever its input says, so a run started around the MCP
// server (a raw Temporal client, the web UI's API) cannot be decided by a signal or an
// unsigned update that claims any name; v verifies them.
func SignedOnly(v Verifier) interceptor.WorkerInterceptor { return &signedOnly{v: v} }

type signedOnly struct {
	interceptor.WorkerInterceptorBase
	v Verifier
}

func (s *signedOnly) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &signedOnlyInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, v: s.v}
}

type signedOnlyInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	v Verifier
}

func (i *signedOnlyInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	return i.Next.ExecuteWorkflow(workflow.WithValue(ctx, verifierKey{}, i.v), in)
}

// verifierOf is the Verifier of the worker running ctx's workflow, nil when it holds no
// decision keys.
func verifierOf(ctx workflow.Context) Verifier {
	v, _ := ctx.Value(verifierKey{}).(Verifier)
	return v
}
