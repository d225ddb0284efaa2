package legacy

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// Onboarding brings a new user in: validate, create the user record, provision accounts,
// wait for a manager's approval, grant access and send a welcome. A rejection, a timeout
// or a cancellation deactivates the record and deprovisions the accounts.
func Onboarding(ctx workflow.Context, in OnboardingInput) (workflows.State, error) {
	if err := in.Params.Validate(); err != nil {
		return workflows.State{}, invalidStart(err)
	}
	r, err := workflows.NewEngine(ctx, workflows.KindOnboarding, in.Request, in.Params, []workflows.Step{
		{Name: workflows.StepValidate, Kind: workflows.StepActivity},
		{Name: workflows.StepCreateUserRecord, Kind: workflows.StepActivity},
		{Name: workflows.StepProvisionAccounts, Kind: workflows.StepActivity},
		{Name: workflows.StepManagerApproval, Kind: workflows.StepApproval},
		{Name: workflows.StepGrantAccess, Kind: workflows.StepActivity},
		{Name: workflows.StepSendWelcome, Kind: workflows.StepActivity},
	})
	if err != nil {
		return workflows.State{}, err
	}
	return r.Finish(ctx, onboard(ctx, r, in.Params))
}

// changeUserPending gates creating the user record pending and activating it at
// grant_access; runs started before it create the record active, as they did.
const changeUserPending = "user-pending-until-approved"

func onboard(ctx workflow.Context, r *workflows.Engine, p workflows.OnboardingParams) error {
	id := r.WorkflowID()
	pending := workflow.GetVersion(ctx, changeUserPending, workflow.DefaultVersion, 1) == 1
	err := r.ActivityStep(ctx, workflows.StepValidate, true, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "check that "+p.Email+" is free"), db.CheckEmailAvailable,
			activities.CheckEmailInput{Email: p.Email, RequestID: id}).Get(ctx, nil)
		return p.Email + " is free", err
	})
	if err != nil {
		return err
	}
	err = r.ActivityStep(ctx, workflows.StepCreateUserRecord, false, func(ctx workflow.Context) (string, error) {
		var u activities.UserRecord
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "create user record for "+p.Email), db.CreateUser,
			activities.CreateUserInput{RequestID: id, Email: p.Email, Name: p.Name, Role: p.Role, Team: p.Team, Pending: pending}).Get(ctx, &u)
		r.SetOutput("user_id", fmt.Sprint(u.ID))
		if pending {
			return fmt.Sprintf("user %d created, pending until approved", u.ID), err
		}
		return fmt.Sprintf("user %d created", u.ID), err
	})
	if err != nil {
		return err
	}
	r.OnUndo(workflows.StepCreateUserRecord, func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(workflows.WithActivity(ctx, "deactivate user record of "+p.Email), db.DeactivateUser,
			activities.DeactivateUserInput{RequestID: id, Reason: "onboarding " + id + " did not complete"}).Get(ctx, nil)
	})
	err = r.ActivityStep(ctx, workflows.StepProvisionAccounts, false, func(ctx workflow.Context) (string, error) {
		_, err := post(ctx, "provision accounts for "+p.Email, "users", "accounts", id+"/provision",
			map[string]string{"email": p.Email, "name": p.Name, "role": p.Role, "team": p.Team})
		return "accounts provisioned", err
	})
	if err != nil {
		return err
	}
	r.OnUndo(workflows.StepProvisionAccounts, func(ctx workflow.Context) error {
		_, err := post(ctx, "deprovision accounts of "+p.Email, "users", "accounts/deprovision", id+"/deprovision",
			map[string]string{"email": p.Email})
		return err
	})
	if _, err := r.Approval(ctx, workflows.StepManagerApproval); err != nil {
		return err
	}
	err = r.ActivityStep(ctx, workflows.StepGrantAccess, false, func(ctx workflow.Context) (string, error) {
		if pending {
			err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "activate user record of "+p.Email), db.ActivateUser,
				activities.ActivateUserInput{RequestID: id}).Get(ctx, nil)
			if err != nil {
				return "", err
			}
		}
		_, err := post(ctx, "grant "+p.Role+" access to "+p.Email, "users", "access", id+"/grant",
			map[string]string{"email": p.Email, "role": p.Role})
		return p.Role + " access granted", err
	})
	if err != nil {
		return err
	}
	return r.ActivityStep(ctx, workflows.StepSendWelcome, false, func(ctx workflow.Context) (string, error) {
		_, err := post(ctx, "send welcome to "+p.Email, "notifications", "messages", id+"/welcome",
			map[string]string{"to": p.Email, "template": "welcome", "name": p.Name})
		return "welcome sent to " + p.Email, err
	})
}
