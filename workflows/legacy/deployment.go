package legacy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// Deployment rolls a version of a service out to an environment: validate, load the
// manifest, pre-check health, wait for approval (staging and production), deploy once
// (idempotency key), verify health with backoff, and record it. A failed verification
// rolls back to the previous version and ends the run failed.
func Deployment(ctx workflow.Context, in DeploymentInput) (workflows.State, error) {
	if err := in.Params.Validate(); err != nil {
		return workflows.State{}, invalidStart(err)
	}
	r, err := workflows.NewEngine(ctx, workflows.KindDeployment, in.Request, in.Params, []workflows.Step{
		{Name: workflows.StepValidate, Kind: workflows.StepActivity},
		{Name: workflows.StepLoadManifest, Kind: workflows.StepActivity},
		{Name: workflows.StepPreCheck, Kind: workflows.StepActivity},
		{Name: workflows.StepDeployApproval, Kind: workflows.StepApproval},
		{Name: workflows.StepDeploy, Kind: workflows.StepActivity},
		{Name: workflows.StepVerify, Kind: workflows.StepActivity},
		{Name: workflows.StepRecordDeployment, Kind: workflows.StepActivity},
	})
	if err != nil {
		return workflows.State{}, err
	}
	return r.Finish(ctx, deploy(ctx, r, in.Params))
}

// deployAnswer is what the deploy service returns for a deployment.
type deployAnswer struct {
	PreviousVersion string `json:"previous_version"`
	Status          string `json:"status"`
}

func deploy(ctx workflow.Context, r *workflows.Engine, p workflows.DeploymentParams) error {
	id := r.WorkflowID()
	what := fmt.Sprintf("%s %s to %s", p.Service, p.Version, p.Environment)
	err := r.ActivityStep(ctx, workflows.StepValidate, true, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "check that the gateway knows "+p.Service), gw.CheckService,
			activities.ServiceInput{Service: p.Service}).Get(ctx, nil)
		return "service " + p.Service + " is known", err
	})
	if err != nil {
		return err
	}
	var manifest json.RawMessage
	if p.Manifest == "" {
		r.Skip(ctx, workflows.StepLoadManifest, "no manifest given")
	} else if err := r.ActivityStep(ctx, workflows.StepLoadManifest, false, func(ctx workflow.Context) (string, error) {
		var f activities.ParsedFile
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "load manifest "+p.Manifest), files.ParseFile,
			activities.ParseInput{FilePath: p.Manifest}).Get(ctx, &f)
		manifest = f.Data
		return fmt.Sprintf("manifest %s loaded (%d bytes)", f.Path, f.SizeBytes), err
	}); err != nil {
		return err
	}
	err = r.ActivityStep(ctx, workflows.StepPreCheck, false, func(ctx workflow.Context) (string, error) {
		_, err := get(ctx, "check health of "+p.Service+" before deploying", p.Service, "health")
		return p.Service + " is healthy", err
	})
	if err != nil {
		return err
	}
	approver := ""
	if !p.NeedsApproval() {
		r.Skip(ctx, workflows.StepDeployApproval, "dev deployments need no approval")
	} else if approver, err = r.Approval(ctx, workflows.StepDeployApproval); err != nil {
		return err
	}
	var answer deployAnswer
	err = r.ActivityStep(ctx, workflows.StepDeploy, false, func(ctx workflow.Context) (string, error) {
		res, err := post(ctx, "deploy "+what, "deploy", "deployments", id+"/deploy", map[string]any{
			"service": p.Service, "version": p.Version, "environment": p.Environment, "manifest": manifest,
		})
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(res.JSON, &answer); err != nil {
			return "", fmt.Errorf("deploy service answered unreadable JSON: %w", err)
		}
		r.SetOutput("previous_version", answer.PreviousVersion)
		if answer.PreviousVersion == "" {
			return fmt.Sprintf("deployed %s (nothing was deployed there before)", what), nil
		}
		return fmt.Sprintf("deployed %s (previous version %s)", what, answer.PreviousVersion), nil
	})
	if err != nil {
		return err
	}
	r.OnUndo(workflows.StepDeploy, func(ctx workflow.Context) error {
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
	err = r.ActivityStep(ctx, workflows.StepVerify, true, func(ctx workflow.Context) (string, error) {
		vctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			HeartbeatTimeout:    activities.HeartbeatTimeout,
			Summary:             "verify health of " + what,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 20 * time.Second, MaximumAttempts: 6,
				NonRetryableErrorTypes: workflows.NonRetryableErrorTypes(),
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
	return r.ActivityStep(ctx, workflows.StepRecordDeployment, false, func(ctx workflow.Context) (string, error) {
		var row activities.RecordedRow
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "record deployment of "+what), db.RecordDeployment,
			activities.DeploymentRecord{
				RequestID: id, Service: p.Service, Version: p.Version, Environment: p.Environment,
				PreviousVersion: answer.PreviousVersion, Status: "deployed", RequestedBy: r.RequestedBy(), ApprovedBy: approver,
			}).Get(ctx, &row)
		r.SetOutput("deployment_id", fmt.Sprint(row.ID))
		return fmt.Sprintf("deployment %d recorded", row.ID), err
	})
}
