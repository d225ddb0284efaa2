package workflows_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// TestEveryActivityIsWatchedByItsHeartbeat: each activity that runs of the built-in
// kinds, on their definitions and on their Go code, and of a tool call carries a
// heartbeat timeout, so that an attempt whose worker died is retried on another within it
// instead of at the end of its start-to-close timeout (30 s). The notification too: it
// resends its progress while it waits (activities' TestSlowChannelKeepsNotifyAliveAndItsProgress),
// so a channel slower than the heartbeat timeout does not fail it.
func TestEveryActivityIsWatchedByItsHeartbeat(t *testing.T) {
	runs := []struct {
		name  string
		start func(h *harness)
	}{
		{"deployment", func(h *harness) {
			h.at(time.Hour, func() {
				h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Inputs: h.changeTicket()})
			})
			h.startDeployment(deployment("production", "1.4.2"))
		}},
		{"onboarding", func(h *harness) {
			h.at(time.Minute, func() {
				h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "manager"})
			})
			h.startOnboarding(onboarding())
		}},
		{"audit", func(h *harness) {
			h.at(time.Minute, func() {
				h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: workflows.StepAuditorSignoff, Actor: "auditor"})
			})
			h.startAudit(auditInput{Request: alice, Params: workflows.AuditParams{Tables: []string{"users"}, Evidence: []string{"evidence/users.csv"}}})
		}},
	}
	want := func(activityType string) time.Duration {
		switch activityType {
		case "CollectAuditRecords", "ReadAuditEvidence", "AnalyzeAudit", "PublishAuditReport":
			return activities.AuditHeartbeatTimeout
		}
		return activities.HeartbeatTimeout
	}
	// watch fails t for each activity h runs without the heartbeat timeout it needs, and
	// returns how many ran.
	watch := func(t *testing.T, h *harness) *int {
		ran := new(int)
		h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			*ran++
			if name := info.ActivityType.Name; info.HeartbeatTimeout != want(name) {
				t.Errorf("%s ran with heartbeat timeout %s, want %s", name, info.HeartbeatTimeout, want(name))
			}
		})
		return ran
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			onGoAndDefinition(t, func(t *testing.T, defined bool) {
				h := newHarnessOn(t, defined)
				ran := watch(t, h)
				run.start(h)
				if _, err := h.result(); err != nil {
					t.Fatal(err)
				}
				if *ran == 0 {
					t.Error("no activity ran")
				}
			})
		})
	}
	t.Run("tool call", func(t *testing.T) {
		h := newHarness(t)
		ran := watch(t, h)
		input, _ := json.Marshal(activities.CallInput{Service: "orders", Endpoint: "health", Method: "GET"})
		h.env.ExecuteWorkflow(workflows.ToolCallWorkflow, workflows.ToolCall{Tool: workflows.ToolCallService, Actor: "agent", Input: input})
		if err := h.env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		if *ran != 1 {
			t.Errorf("%d activities ran, want 1", *ran)
		}
	})
}
