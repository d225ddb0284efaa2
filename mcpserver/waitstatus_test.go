package mcpserver

import (
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// TestAWaitingRunSaysWhenItGoesOn: get_workflow_status of a run held at a wait step says
// until when, and that nobody has anything to decide.
func TestAWaitingRunSaysWhenItGoesOn(t *testing.T) {
	wake := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	v := workflows.StatusView{Type: "vendor_access", WorkflowID: "vendor_access-1", Status: workflows.StatusWaiting, CurrentStep: "access_period",
		TotalSteps: 6, StepsCompleted: 4, Progress: 66, Waiting: &workflows.Waiting{Step: "access_period", For: "timer", Actions: []workflows.Action{}, Deadline: wake}}
	got := describeStatus(v)
	want := "vendor_access vendor_access-1 is waiting (66%, 4 of 6 steps done). It waits at step access_period until 2026-05-04T09:00:00Z, then goes on by itself: nothing to decide (cancel_workflow ends it sooner)."
	if got != want {
		t.Errorf("describeStatus = %q\nwant %q", got, want)
	}
	if taskStatus(v.Status) != "working" || strings.Contains(got, "approve") {
		t.Errorf("a waiting run is task status %s", taskStatus(v.Status))
	}
}

// TestAnEventWaitSaysWhatToSendAndHow: get_workflow_status of a run held at an event wait
// says which event, until when, and how to send it; a task for it stays working, since
// nobody is asked for input.
func TestAnEventWaitSaysWhatToSendAndHow(t *testing.T) {
	deadline := time.Date(2026, 5, 4, 11, 0, 0, 0, time.UTC)
	v := workflows.StatusView{Type: "ci_deploy", WorkflowID: "ci_deploy-1", Status: workflows.StatusWaiting, CurrentStep: "wait_ci",
		TotalSteps: 4, StepsCompleted: 2, Progress: 50, Waiting: &workflows.Waiting{Step: "wait_ci", For: "event", Actions: []workflows.Action{}, Deadline: deadline,
			Event: "ci_passed", Scope: "write:data", PayloadSchema: map[string]any{"type": "object"}}}
	got := describeStatus(v)
	want := "ci_deploy ci_deploy-1 is waiting (50%, 2 of 4 steps done). It waits at step wait_ci for the event ci_passed until 2026-05-04T11:00:00Z: nothing to decide. Send it with send_event (step wait_ci, event ci_passed, a payload matching waiting.payload_schema; needs the scope write:data), or the sender posts it to the step's callback URL."
	if got != want {
		t.Errorf("describeStatus = %q\nwant %q", got, want)
	}
	if taskStatus(v.Status) != "working" {
		t.Errorf("a run waiting for an event is task status %s, want working", taskStatus(v.Status))
	}
}
