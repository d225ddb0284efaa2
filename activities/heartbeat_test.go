package activities_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// TestSlowGatewayCallOutlivesItsHeartbeatTimeout: a gateway call whose backend answers
// only after longer than the call's heartbeat timeout completes on its first attempt. It
// heartbeats while it waits, so Temporal takes it for lost only when its worker is.
func TestSlowGatewayCallOutlivesItsHeartbeatTimeout(t *testing.T) {
	// The test environment sends heartbeats on at 80% of the timeout (the SDK's default;
	// it ignores the worker's MaxHeartbeatThrottleInterval): 400 ms to spare at 2 s.
	const timeout = 2 * time.Second
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(time.Minute)
	beats := make(chan time.Time, 1000)
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats <- time.Now() })
	// The backend answers once Temporal has heard from the activity more than a heartbeat
	// timeout after the request came in; without heartbeats it would never answer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		since := time.Now()
		for {
			select {
			case <-r.Context().Done():
				return
			case at := <-beats:
				if at.Sub(since) > timeout {
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`{"ok":true}`))
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	g := &activities.Gateway{Client: srv.Client(), Services: map[string]activities.Service{
		"orders": {BaseURL: srv.URL + "/orders", Timeout: 5 * timeout}}}
	env.RegisterActivity(g.CallService)
	env.ExecuteWorkflow(func(ctx workflow.Context) (activities.CallResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 20 * timeout, HeartbeatTimeout: timeout,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		var res activities.CallResult
		err := workflow.ExecuteActivity(ctx, g.CallService, activities.CallInput{Service: "orders", Endpoint: "slow", Method: "GET"}).Get(ctx, &res)
		return res, err
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("a call slower than its heartbeat timeout failed: %v", err)
	}
}
