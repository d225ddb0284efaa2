package workflows

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// Steps of a deployment run.
const (
	StepLoadManifest     = "load_manifest"
	StepPreCheck         = "pre_check"
	StepDeployApproval   = "approval"
	StepDeploy           = "deploy"
	StepVerify           = "verify"
	StepRecordDeployment = "record_deployment"
)

// Deployment rolls a version of a service out to an environment: validate, load the
// manifest, pre-check health, wait for approval (staging and production), deploy once
// (idempotency key), verify health with backoff, and record it. A failed verification
// rolls back to the previous version and ends the run failed.
func Deployment(ctx workflow.Context, in DeploymentInput) (State, error) {
	if err := in.Params.Validate(); err != nil {
		return State{}, invalidStart(err)
	}
	r, err := newRunner(ctx, KindDeployment, in.Request, in.Params, []Step{
		{Name: StepValidate, Kind: StepActivity},
		{Name: StepLoadManifest, Kind: StepActivity},
		{Name: StepPreCheck, Kind: StepActivity},
		{Name: StepDeployApproval, Kind: StepApproval},
		{Name: StepDeploy, Kind: StepActivity},
		{Name: StepVerify, Kind: StepActivity},
		{Name: StepRecordDeployment, Kind: StepActivity},
	})
	if err != nil {
		return State{}, err
	}
	return r.finish(ctx, r.deploy(ctx, in.Params))
}

// deployAnswer is what the deploy service returns for a deployment.
type deployAnswer struct {
	PreviousVersion string `json:"previous_version"`
	Status          string `json:"status"`
}

func (r *runner) deploy(ctx workflow.Context, p DeploymentParams) error {
	id := r.state.WorkflowID
	what := fmt.Sprintf("%s %s to %s", p.Service, p.Version, p.Environment)
	err := r.activityStep(ctx, StepValidate, true, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(withActivity(ctx, "check that the gateway knows "+p.Service), gw.CheckService,
			activities.ServiceInput{Service: p.Service}).Get(ctx, nil)
		return "service " + p.Service + " is known", err
	})
	if err != nil {
		return err
	}
	var manifest json.RawMessage
	if p.Manifest == "" {
		r.skip(ctx, StepLoadManifest, "no manifest given")
	} else if err := r.activityStep(ctx, StepLoadManifest, false, func(ctx workflow.Context) (string, error) {
		var f activities.ParsedFile
		err := workflow.ExecuteActivity(withActivity(ctx, "load manifest "+p.Manifest), files.ParseFile,
			activities.ParseInput{FilePath: p.Manifest}).Get(ctx, &f)
		manifest = f.Data
		return fmt.Sprintf("manifest %s loaded (%d bytes)", f.Path, f.SizeBytes), err
	}); err != nil {
		return err
	}
	err = r.activityStep(ctx, StepPreCheck, false, func(ctx workflow.Context) (string, error) {
		_, err := get(ctx, "check health of "+p.Service+" before deploying", p.Service, "health")
		return p.Service + " is healthy", err
	})
	if err != nil {
		return err
	}
	approver := ""
	if !p.NeedsApproval() {
		r.skip(ctx, StepDeployApproval, "dev deployments need no approval")
	} else if approver, err = r.approval(ctx, StepDeployApproval); err != nil {
		return err
	}
	var answer deployAnswer
	err = r.activityStep(ctx, StepDeploy, false, func(ctx workflow.Context) (string, error) {
		res, err := post(ctx, "deploy "+what, "deploy", "deployments", id+"/deploy", map[string]any{
			"service": p.Service, "version": p.Version, "environment": p.Environment, "manifest": manifest,
		})
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(res.JSON, &answer); err != nil {
			return "", fmt.Errorf("deploy service answered unreadable JSON: %w", err)
		}
		r.state.Outputs["previous_version"] = answer.PreviousVersion
		if answer.PreviousVersion == "" {
			return fmt.Sprintf("deployed %s (nothing was deployed there before)", what), nil
		}
		return fmt.Sprintf("deployed %s (previous version %s)", what, answer.PreviousVersion), nil
	})
	if err != nil {
		return err
	}
	r.onUndo(StepDeploy, func(ctx workflow.Context) error {
		summary := fmt.Sprintf("roll %s in %s back to %s", p.Service, p.Environment, answer.PreviousVersion)
		if answer.PreviousVersion == "" {
			summary = fmt.Sprintf("undeploy %s from %s (nothing was deployed there before)", p.Service, p.Environment)
		}
		_, err := post(ctx, summary,
			"deploy", "rollbacks", id+"/rollback", map[string]string{
				"service": p.Service, "environment": p.Environment, "version": answer.PreviousVersion,
			})
		return err
	})
	err = r.activityStep(ctx, StepVerify, true, func(ctx workflow.Context) (string, error) {
		vctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			HeartbeatTimeout:    activities.HeartbeatTimeout,
			Summary:             "verify health of " + what,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 20 * time.Second, MaximumAttempts: 6,
				NonRetryableErrorTypes: defaultRetry.NonRetryableErrorTypes,
			},
		})
		var res activities.CallResult
		err := workflow.ExecuteActivity(vctx, gw.CallService, activities.CallInput{
			Service: "deploy", Method: "GET",
			Endpoint: "deployments/" + url.PathEscape(p.Service) + "/" + p.Environment + "/health",
		}).Get(ctx, &res)
		return what + " is healthy", err
	})
	if err != nil {
		return err
	}
	return r.activityStep(ctx, StepRecordDeployment, false, func(ctx workflow.Context) (string, error) {
		var row activities.RecordedRow
		err := workflow.ExecuteActivity(withActivity(ctx, "record deployment of "+what), db.RecordDeployment,
			activities.DeploymentRecord{
				RequestID: id, Service: p.Service, Version: p.Version, Environment: p.Environment,
				PreviousVersion: answer.PreviousVersion, Status: "deployed", RequestedBy: r.req.RequestedBy, ApprovedBy: approver,
			}).Get(ctx, &row)
		r.state.Outputs["deployment_id"] = fmt.Sprint(row.ID)
		return fmt.Sprintf("deployment %d recorded", row.ID), err
	})
}
