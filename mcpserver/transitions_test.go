package mcpserver

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flowgate/flowgate/workflows"
)

// history builds events at second offsets from t0: an upsert of status/step, or a
// bare event type (a completed workflow task, a close).
type ev struct {
	at     int // seconds after t0
	status workflows.Status
	step   string
	typ    enumspb.EventType
}

func events(t0 time.Time, list ...ev) []*historypb.HistoryEvent {
	out := make([]*historypb.HistoryEvent, len(list))
	for i, e := range list {
		h := &historypb.HistoryEvent{EventId: int64(i + 1), EventTime: timestamppb.New(t0.Add(time.Duration(e.at) * time.Second)), EventType: e.typ}
		if e.status != "" {
			status, _ := json.Marshal(e.status)
			step, _ := json.Marshal(e.step)
			h.EventType = enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
			h.Attributes = &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{
				UpsertWorkflowSearchAttributesEventAttributes: &historypb.UpsertWorkflowSearchAttributesEventAttributes{
					SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
						workflows.AttrStatus.GetName(): {Data: status}, workflows.AttrStep.GetName(): {Data: step},
					}},
				}}
		}
		out[i] = h
	}
	return out
}

func told(tr *transitions, hist []*historypb.HistoryEvent) []string {
	var out []string
	for _, e := range hist {
		if status, step, _, ok := tr.observe(e); ok {
			out = append(out, string(status)+"@"+step)
		}
	}
	return out
}

const wftDone = enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED

// TestAGateDecidedBeforeAnyLookIsStillTold: the follower reads the run's history, not its
// status now, so a gate that was decided before the follower looked is told, then the
// end: the client never misses input_required (what CI saw over stdio under load).
func TestAGateDecidedBeforeAnyLookIsStillTold(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	hist := events(t0,
		ev{at: 10, typ: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED},
		ev{at: 10, status: workflows.StatusInProgress, step: "validate"},
		ev{at: 11, status: workflows.StatusInProgress, step: "pre_check"},
		ev{at: 12, status: workflows.StatusWaitingApproval, step: "approval"},
		ev{at: 12, typ: wftDone},
		ev{at: 13, status: workflows.StatusInProgress, step: "deploy"},
		ev{at: 14, status: workflows.StatusCompleted},
		ev{at: 14, typ: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED},
	)
	tr := &transitions{since: t0.Add(10 * time.Second), told: [2]string{string(mcp.TaskStatusWorking)}, keyOf: taskKey}
	got := told(tr, hist)
	want := []string{"waiting_approval@approval", "in_progress@deploy", "completed@"}
	if len(got) != len(want) {
		t.Fatalf("told %v, want %v", got, want)
	}
	// Task statuses: input_required, working, completed, each once and in order.
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("told %v, want %v", got, want)
		}
	}
}

// TestWhatTheLookSawIsNotToldAgain: events recorded before the look (in the second of
// clock skew before since) set where the run stands without a word; only later changes
// are told, and a rejected run's close adds nothing to its recorded end.
func TestWhatTheLookSawIsNotToldAgain(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	since := t0.Add(20 * time.Second)
	hist := events(t0,
		ev{at: 5, status: workflows.StatusInProgress, step: "validate"}, // long before the look
		ev{at: 19, status: workflows.StatusWaitingApproval, step: "approval"},
		ev{at: 20, typ: wftDone}, // at the look: it saw the gate
		ev{at: 30, status: workflows.StatusRejected, step: "approval"},
		ev{at: 30, typ: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED},
	)
	tr := &transitions{since: since, told: [2]string{string(mcp.TaskStatusInputRequired)}, keyOf: taskKey}
	if got := told(tr, hist); len(got) != 1 || got[0] != "rejected@approval" {
		t.Fatalf("told %v, want only the rejection", got)
	}
	// Transitions (status and step) of a log follower that knew nothing: where the run
	// stood at since is told at the first event after it, then each change.
	tr = &transitions{since: since, keyOf: statusAndStep}
	if got := told(tr, hist); len(got) != 2 || got[0] != "waiting_approval@approval" || got[1] != "rejected@approval" {
		t.Fatalf("told %v", got)
	}
	// A run Temporal terminated at its gate is told as failed.
	hist = events(t0,
		ev{at: 21, status: workflows.StatusWaitingApproval, step: "approval"},
		ev{at: 40, typ: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED},
	)
	tr = &transitions{since: since, told: [2]string{string(mcp.TaskStatusWorking)}, keyOf: taskKey}
	if got := told(tr, hist); len(got) != 2 || got[1] != "failed@" {
		t.Fatalf("told %v, want the gate, then failed", got)
	}
}
