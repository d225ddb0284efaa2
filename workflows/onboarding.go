package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// Steps of an onboarding run.
const (
	StepValidate          = "validate"
	StepCreateUserRecord  = "create_user_record"
	StepProvisionAccounts = "provision_accounts"
	StepManagerApproval   = "manager_approval"
	StepGrantAccess       = "grant_access"
	StepSendWelcome       = "send_welcome"
)

// Onboarding brings a new user in: validate, create the user record, provision accounts,
// wait for a manager's approval, grant access and send a welcome. A rejection, a timeout
// or a cancellation deactivates the record and deprovisions the accounts.
func Onboarding(ctx workflow.Context, in OnboardingInput) (State, error) {
	if err := in.Params.Validate(); err != nil {
		return State{}, invalidStart(err)
	}
	r, err := newRunner(ctx, KindOnboarding, in.Request, in.Params, []Step{
		{Name: StepValidate, Kind: StepActivity},
		{Name: StepCreateUserRecord, Kind: StepActivity},
		{Name: StepProvisionAccounts, Kind: StepActivity},
		{Name: StepManagerApproval, Kind: StepApproval},
		{Name: StepGrantAccess, Kind: StepActivity},
		{Name: StepSendWelcome, Kind: StepActivity},
	})
	if err != nil {
		return State{}, err
	}
	return r.finish(ctx, r.onboard(ctx, in.Params))
}

// changeUserPending gates creating the user record pending and activating it at
// grant_access; runs started before it create the record active, as they did.
const changeUserPending = "user-pending-until-approved"

func (r *runner) onboard(ctx workflow.Context, p OnboardingParams) error {
	id := r.state.WorkflowID
	pending := workflow.GetVersion(ctx, changeUserPending, workflow.DefaultVersion, 1) == 1
	err := r.activityStep(ctx, StepValidate, true, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(withActivity(ctx, "check that "+p.Email+" is free"), db.CheckEmailAvailable,
			activities.CheckEmailInput{Email: p.Email, RequestID: id}).Get(ctx, nil)
		return p.Email + " is free", err
	})
	if err != nil {
		return err
	}
	err = r.activityStep(ctx, StepCreateUserRecord, false, func(ctx workflow.Context) (string, error) {
		var u activities.UserRecord
		err := workflow.ExecuteActivity(withActivity(ctx, "create user record for "+p.Email), db.CreateUser,
			activities.CreateUserInput{RequestID: id, Email: p.Email, Name: p.Name, Role: p.Role, Team: p.Team, Pending: pending}).Get(ctx, &u)
		r.state.Outputs["user_id"] = fmt.Sprint(u.ID)
		if pending {
			return fmt.Sprintf("user %d created, pending until approved", u.ID), err
		}
		return fmt.Sprintf("user %d created", u.ID), err
	})
	if err != nil {
		return err
	}
	r.onUndo(StepCreateUserRecord, func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(withActivity(ctx, "deactivate user record of "+p.Email), db.DeactivateUser,
			activities.DeactivateUserInput{RequestID: id, Reason: "onboarding " + id + " did not complete"}).Get(ctx, nil)
	})
	err = r.activityStep(ctx, StepProvisionAccounts, false, func(ctx workflow.Context) (string, error) {
		_, err := post(ctx, "provision accounts for "+p.Email, "users", "accounts", id+"/provision",
			map[string]string{"email": p.Email, "name": p.Name, "role": p.Role, "team": p.Team})
		return "accounts provisioned", err
	})
	if err != nil {
		return err
	}
	r.onUndo(StepProvisionAccounts, func(ctx workflow.Context) error {
		_, err := post(ctx, "deprovision accounts of "+p.Email, "users", "accounts/deprovision", id+"/deprovision",
			map[string]string{"email": p.Email})
		return err
	})
	if _, err := r.approval(ctx, StepManagerApproval); err != nil {
		return err
	}
	err = r.activityStep(ctx, StepGrantAccess, false, func(ctx workflow.Context) (string, error) {
		if pending {
			err := workflow.ExecuteActivity(withActivity(ctx, "activate user record of "+p.Email), db.ActivateUser,
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
	return r.activityStep(ctx, StepSendWelcome, false, func(ctx workflow.Context) (string, error) {
		_, err := post(ctx, "send welcome to "+p.Email, "notifications", "messages", id+"/welcome",
			map[string]string{"to": p.Email, "template": "welcome", "name": p.Name})
		return "welcome sent to " + p.Email, err
	})
}
