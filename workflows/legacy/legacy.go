// Package legacy holds the Go code of the built-in kinds (onboarding, deployment, audit)
// from before they became process definitions, and their registered workflow types. It is
// kept only so the runs started then finish, and replay, on the code they began with: a
// run's commands must match its history. Runs started since carry their definition in
// their input (BuiltinInput.Process) and never reach the Go code.
//
// Deletion criterion: delete this package (with workflows/legacyapi.go, the "go" half of
// the tests that run a kind both ways, and the recorded histories of runs without a
// process) when no open run lacks a process input. Input is
// not searchable, so an operator lists the open runs of the three types,
//
//	temporal workflow list --query "ExecutionStatus='Running' AND WorkflowType IN ('onboarding','deployment','audit')"
//
// and checks that none has an input without "process" (temporal workflow show
// --workflow-id ID: the input of its first event). Every run started since the
// definitions shipped carries one, so adding "AND StartTime < '<when the first worker with
// the definitions started>'" to the query must list nothing. What the three workflow
// types keep then is run's first branch: workflows.Process on the input's definition.
package legacy

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// Activity receivers: the code names activities by method value; the worker registers
// real instances under the same names.
var (
	db    *activities.Database
	gw    *activities.Gateway
	files *activities.Files
)

// OnboardingInput starts an onboarding run on the Go code, as runs were started before
// the kind became a definition.
type OnboardingInput struct {
	workflows.Request
	Params workflows.OnboardingParams `json:"params"`
}

// DeploymentInput starts a deployment run on the Go code, as runs were started before
// the kind became a definition.
type DeploymentInput struct {
	workflows.Request
	Params workflows.DeploymentParams `json:"params"`
}

// AuditInput starts an audit run on the Go code, as runs were started before the kind
// became a definition.
type AuditInput struct {
	workflows.Request
	Params workflows.AuditParams `json:"params"`
}

// run runs a run of a built-in kind: on the shipped definition it carries, or, when it
// was started before its kind became a definition, on the kind's Go code with its typed
// parameters.
func run[P any](ctx workflow.Context, in workflows.BuiltinInput, kind workflows.Kind, code func(workflow.Context, workflows.Request, P) (workflows.State, error)) (workflows.State, error) {
	if in.Process != nil {
		return workflows.Process(ctx, workflows.ProcessInput{Request: in.Request, Process: *in.Process, Params: in.Params, Resume: in.Resume})
	}
	var p P
	if err := json.Unmarshal(in.Params, &p); err != nil {
		return workflows.State{}, invalidStart(fmt.Errorf("%s parameters: %w", kind, err))
	}
	return code(ctx, in.Request, p)
}

// OnboardingRun is the onboarding workflow type: the shipped definition for runs that
// carry one, Onboarding for the runs started before.
func OnboardingRun(ctx workflow.Context, in workflows.BuiltinInput) (workflows.State, error) {
	return run(ctx, in, workflows.KindOnboarding, func(ctx workflow.Context, req workflows.Request, p workflows.OnboardingParams) (workflows.State, error) {
		return Onboarding(ctx, OnboardingInput{Request: req, Params: p})
	})
}

// DeploymentRun is the deployment workflow type: the shipped definition for runs that
// carry one, Deployment for the runs started before.
func DeploymentRun(ctx workflow.Context, in workflows.BuiltinInput) (workflows.State, error) {
	return run(ctx, in, workflows.KindDeployment, func(ctx workflow.Context, req workflows.Request, p workflows.DeploymentParams) (workflows.State, error) {
		return Deployment(ctx, DeploymentInput{Request: req, Params: p})
	})
}

// AuditRun is the audit workflow type: the shipped definition for runs that carry one,
// Audit for the runs started before.
func AuditRun(ctx workflow.Context, in workflows.BuiltinInput) (workflows.State, error) {
	return run(ctx, in, workflows.KindAudit, func(ctx workflow.Context, req workflows.Request, p workflows.AuditParams) (workflows.State, error) {
		return Audit(ctx, AuditInput{Request: req, Params: p})
	})
}

// post calls a gateway service with POST and a fixed idempotency key, so a retry — by
// Temporal or by an operator's continue — reaches the service as the same request.
func post(ctx workflow.Context, summary, service, endpoint, key string, data any) (activities.CallResult, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return activities.CallResult{}, err
	}
	var res activities.CallResult
	err = workflow.ExecuteActivity(workflows.WithActivity(ctx, summary), gw.CallService, activities.CallInput{
		Service: service, Endpoint: endpoint, Method: "POST", Data: raw, IdempotencyKey: key,
	}).Get(ctx, &res)
	return res, err
}

// get calls a gateway service with GET.
func get(ctx workflow.Context, summary, service, endpoint string) (activities.CallResult, error) {
	var res activities.CallResult
	err := workflow.ExecuteActivity(workflows.WithActivity(ctx, summary), gw.CallService, activities.CallInput{
		Service: service, Endpoint: endpoint, Method: "GET",
	}).Get(ctx, &res)
	return res, err
}

// invalidStart ends a run whose input fails validation; clients validate first, so this
// only guards starts that bypass them.
func invalidStart(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeInvalidInput, nil)
}
