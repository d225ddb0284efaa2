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
