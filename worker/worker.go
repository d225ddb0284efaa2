// Package worker is the one place that knows every Flowgate workflow and activity: it
// registers them on a Temporal worker for the Flowgate task queue.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
	"github.com/flowgate/flowgate/workflows/legacy"
)

// Activities are the dependencies the worker's activities run against.
type Activities struct {
	Database *activities.Database
	Gateway  *activities.Gateway
	Files    *activities.Files
	// Notifier tells people of gates; nil notifies nobody.
	Notifier *activities.Notifier
	// Callbacks make the callback URLs of event waits; nil makes none.
	Callbacks *activities.Callbacks
}

// RegisterWorkflows registers every Flowgate workflow under its kind's name, and the
// process interpreter as the dynamic workflow.
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	// The built-in kinds follow their shipped definitions; runs started before, the Go code.
	r.RegisterWorkflowWithOptions(legacy.OnboardingRun, workflow.RegisterOptions{Name: string(workflows.KindOnboarding)})
	r.RegisterWorkflowWithOptions(legacy.DeploymentRun, workflow.RegisterOptions{Name: string(workflows.KindDeployment)})
	r.RegisterWorkflowWithOptions(legacy.AuditRun, workflow.RegisterOptions{Name: string(workflows.KindAudit)})
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
	if a.Callbacks == nil {
		a.Callbacks = &activities.Callbacks{}
	}
	audits := &activities.Audits{Database: a.Database, Files: a.Files}
	for _, fn := range []any{
		a.Notifier.Notify, a.Callbacks.CallbackURL,
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

// StickyScheduleToStartTimeout is how long a workflow task waits on the queue of the
// worker that has its run in memory before Temporal gives it to any worker, which rebuilds
// the run from its history (about 15 ms for a waiting deployment, BENCHMARKS.md). When
// that worker died, every run it held waits this long at its next task: a decision, a
// query, an activity's result. The SDK's 5 s made 5 of the 13 s its slowest run took to
// finish after a SIGKILL (BenchmarkRecoveryAfterWorkerKill); a live worker too busy to
// take a task within 2 s pays the rebuild instead.
const StickyScheduleToStartTimeout = 2 * time.Second

// New returns a worker for the Flowgate task queue with everything registered. Start it
// with Run or Start; it stops in-flight activities gracefully within opts.WorkerStopTimeout.
// Unless opts says otherwise, it sends the activities' heartbeats on within
// activities.HeartbeatInterval, well inside the heartbeat timeout the workflows give them,
// and its runs' tasks wait for it StickyScheduleToStartTimeout at most.
func New(c client.Client, a Activities, opts sdkworker.Options) sdkworker.Worker {
	if opts.MaxHeartbeatThrottleInterval == 0 {
		opts.MaxHeartbeatThrottleInterval = activities.HeartbeatInterval
	}
	if opts.StickyScheduleToStartTimeout == 0 {
		opts.StickyScheduleToStartTimeout = StickyScheduleToStartTimeout
	}
	w := sdkworker.New(c, workflows.TaskQueue, opts)
	Register(w, a)
	return w
}
