package workflows_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// TestAgentsCannotPostWhatAProcessGates: an agent's own call_service (a tool_call run) may
// not make a write that a process makes after its approval, whatever scopes it holds; the
// backend never hears of it. The deployment tests in this package show that the process
// itself still makes it, through the same gateway.
func TestAgentsCannotPostWhatAProcessGates(t *testing.T) {
	for _, tc := range []struct{ service, endpoint string }{
		{"deploy", "deployments"},
		{"users", "accounts"},
		{"users", "access"},
		{"orders", "refunds"},
		{"orders", "/refunds/?x=1"},
	} {
		t.Run(tc.service+"/"+tc.endpoint, func(t *testing.T) {
			h := newHarness(t)
			input, _ := json.Marshal(activities.CallInput{Service: tc.service, Endpoint: tc.endpoint, Method: "POST",
				Data: json.RawMessage(`{"service":"orders","environment":"production","version":"9.9.9","amount_cents":900000}`)})
			h.env.ExecuteWorkflow(workflows.ToolCallWorkflow, workflows.ToolCall{Tool: workflows.ToolCallService, Actor: "agent", Input: input})
			err := h.env.GetWorkflowError()
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != activities.ErrTypeNotAllowed || !strings.Contains(app.Message(), "not open to direct calls") {
				t.Fatalf("POST %s/%s by an agent: %v, want %s", tc.service, tc.endpoint, err, activities.ErrTypeNotAllowed)
			}
			if n := len(h.backends.Ledger()); n != 0 {
				t.Errorf("the backend recorded %d writes; want none", n)
			}
		})
	}
}
