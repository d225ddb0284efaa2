package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// Activity receivers: workflows name activities by method value; the worker registers
// real instances under the same names.
var (
	db     *activities.Database
	gw     *activities.Gateway
	files  *activities.Files
	audits *activities.Audits
	// callbacks makes the callback URLs of event waits (event.go).
	callbacks *activities.Callbacks
)

// defaultRetry retries transient failures with backoff; errors the activities mark
// non-retryable (invalid input, not found, conflict, a 4xx answer) fail at once.
var defaultRetry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
	MaximumAttempts:    5,
	NonRetryableErrorTypes: []string{
		activities.ErrTypeInvalidInput, activities.ErrTypeNotFound,
		activities.ErrTypeConflict, activities.ErrTypeRemoteRejected,
	},
}

// withActivity returns a context whose activities carry a UI summary, a 30-second
// start-to-close timeout, the default retry policy and a heartbeat timeout: the
// activities heartbeat while they work, so an attempt whose worker died is retried on
// another within activities.HeartbeatTimeout instead of after its 30 seconds. (Activity
// options are not part of what replay checks: runs scheduled before keep their record.)
func withActivity(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		HeartbeatTimeout:    activities.HeartbeatTimeout,
		RetryPolicy:         defaultRetry,
		Summary:             summary,
	})
}

// invalidStart ends a run whose input fails validation; clients validate first, so this
// only guards starts that bypass them.
func invalidStart(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeInvalidInput, nil)
}
