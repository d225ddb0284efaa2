package workflows

import (
	"encoding/json"
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

// post calls a gateway service with POST and a fixed idempotency key, so a retry — by
// Temporal or by an operator's continue — reaches the service as the same request.
func post(ctx workflow.Context, summary, service, endpoint, key string, data any) (activities.CallResult, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return activities.CallResult{}, err
	}
	var res activities.CallResult
	err = workflow.ExecuteActivity(withActivity(ctx, summary), gw.CallService, activities.CallInput{
		Service: service, Endpoint: endpoint, Method: "POST", Data: raw, IdempotencyKey: key,
	}).Get(ctx, &res)
	return res, err
}

// get calls a gateway service with GET.
func get(ctx workflow.Context, summary, service, endpoint string) (activities.CallResult, error) {
	var res activities.CallResult
	err := workflow.ExecuteActivity(withActivity(ctx, summary), gw.CallService, activities.CallInput{
		Service: service, Endpoint: endpoint, Method: "GET",
	}).Get(ctx, &res)
	return res, err
}

// invalidStart ends a run whose input fails validation; clients validate first, so this
// only guards starts that bypass them.
func invalidStart(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeInvalidInput, nil)
}
