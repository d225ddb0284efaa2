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

// TestSlowChannelKeepsNotifyAliveAndItsProgress: a notification whose channel answers only
// after longer than the heartbeat timeout completes on its first attempt, and the
// heartbeats it sends while it waits still say which channels it reached (a retry must
// not tell them twice), so a lost worker is noticed within the heartbeat timeout, not at
// the end of the attempt.
func TestSlowChannelKeepsNotifyAliveAndItsProgress(t *testing.T) {
	const timeout = time.Second
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(time.Minute)
	type beat struct {
		at       time.Time
		channels []int
	}
	beats := make(chan beat, 1000)
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p struct {
			Channels []int `json:"channels"`
		}
		if details.HasValues() {
			_ = details.Get(&p)
		}
		beats <- beat{time.Now(), p.Channels}
	})
	slack := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(slack.Close)
	var waited []beat
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		since := time.Now()
		giveUp := time.After(10 * timeout) // without heartbeats it answers late, and the test fails
		for {
			select {
			case <-r.Context().Done():
				return
			case <-giveUp:
				return
			case b := <-beats:
				if b.at.After(since) {
					waited = append(waited, b)
				}
				if b.at.Sub(since) > timeout {
					return
				}
			}
		}
	}))
	t.Cleanup(slow.Close)
	n := &activities.Notifier{Secret: []byte("a webhook secret of the tests, long enough"), Channels: []activities.Channel{
		{Kind: activities.ChannelSlack, URL: slack.URL + "/services/x"},
		{Kind: activities.ChannelWebhook, URL: slow.URL + "/hook"},
	}}
	env.RegisterActivity(n.Notify)
	env.ExecuteWorkflow(func(ctx workflow.Context) (activities.NoticeResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 20 * timeout, HeartbeatTimeout: timeout,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		var res activities.NoticeResult
		err := workflow.ExecuteActivity(ctx, n.Notify, activities.Notice{Event: activities.EventRunEnded, WorkflowID: "deployment-1",
			Type: "deployment", Status: "completed"}).Get(ctx, &res)
		return res, err
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("a notification slower than its heartbeat timeout failed: %v", err)
	}
	if len(waited) == 0 {
		t.Fatal("no heartbeat while the slow channel answered")
	}
	for _, b := range waited {
		if len(b.channels) != 1 || b.channels[0] != 0 {
			t.Errorf("a heartbeat while the webhook answered says channels %v reached, want [0] (Slack)", b.channels)
		}
	}
}
