// Package worker is the one place that knows every Flowgate workflow and activity: it
// registers them on a Temporal worker for the Flowgate task queue.
package worker

import (
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// Activities are the dependencies the worker's activities run against.
type Activities struct {
	Database *activities.Database
	Gateway  *activities.Gateway
	Files    *activities.Files
	// Notifier tells people of gates; nil notifies nobody.
	Notifier *activities.Notifier
}

// RegisterWorkflows registers every Flowgate workflow under its kind's name, and the
// process interpreter as the dynamic workflow.
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	// The built-in kinds follow their shipped definitions; runs started before, the Go code.
	r.RegisterWorkflowWithOptions(workflows.OnboardingRun, workflow.RegisterOptions{Name: string(workflows.KindOnboarding)})
	r.RegisterWorkflowWithOptions(workflows.DeploymentRun, workflow.RegisterOptions{Name: string(workflows.KindDeployment)})
	r.RegisterWorkflowWithOptions(workflows.AuditRun, workflow.RegisterOptions{Name: string(workflows.KindAudit)})
	r.RegisterWorkflowWithOptions(workflows.RunTool, workflow.RegisterOptions{Name: workflows.ToolCallWorkflow})
	// Every other workflow type is a process definition, carried in the run's input.
	r.RegisterDynamicWorkflow(workflows.ProcessDynamic, workflow.DynamicRegisterOptions{})
}

// Register registers every workflow and the given activities.
func Register(r sdkworker.Registry, a Activities) {
	RegisterWorkflows(r)
	if a.Notifier == nil {
		a.Notifier = &activities.Notifier{}
	}
	audits := &activities.Audits{Database: a.Database, Files: a.Files}
	for _, fn := range []any{
		a.Notifier.Notify,
		a.Database.ExecuteQuery, a.Database.SearchTable, a.Database.GetRecord, a.Database.RecordIDs, a.Database.CollectRecords,
		a.Database.CheckEmailAvailable, a.Database.CreateUser, a.Database.ActivateUser, a.Database.DeactivateUser,
		a.Database.RecordDeployment, a.Database.RecordAudit, a.Database.RunStatement,
		a.Gateway.CheckService, a.Gateway.CallService,
		a.Files.ParseFile, a.Files.ReadChunk, a.Files.ListFiles, a.Files.ReadEvidence, a.Files.WriteReport,
		audits.CollectAuditRecords, audits.ReadAuditEvidence, audits.AnalyzeAudit, audits.PublishAuditReport,
	} {
		r.RegisterActivity(fn)
	}
}

// New returns a worker for the Flowgate task queue with everything registered. Start it
// with Run or Start; it stops in-flight activities gracefully within opts.WorkerStopTimeout.
func New(c client.Client, a Activities, opts sdkworker.Options) sdkworker.Worker {
	w := sdkworker.New(c, workflows.TaskQueue, opts)
	Register(w, a)
	return w
}
