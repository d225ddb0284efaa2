package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/workflows"
)

// MaxPending is how many gates Pending lists at most.
const MaxPending = 100

// Pending is one gate that waits on the caller.
type Pending struct {
	WorkflowID string `json:"workflow_id"`
	// FirstRunID is the first run of the workflow id, which approval links are bound to.
	FirstRunID string `json:"first_run_id,omitempty"`
	Type       string `json:"type"`
	// Summary is the run's summary (workflows.Waiting.Summary): the requester's text.
	Summary     string    `json:"summary,omitempty"`
	Step        string    `json:"step"`
	RequestedBy string    `json:"requested_by"`
	Deadline    time.Time `json:"deadline"`
	// Needs is how many more approvals the gate needs (quorum gates), at least 1.
	Needs int `json:"needs"`
	// Inputs name what an approve there must carry (workflows.Waiting.Inputs), by name.
	Inputs []string `json:"inputs,omitempty"`
	// OrEnds, at a gate with or_event, says that the event also ends it
	// (workflows.Waiting.OrEnds).
	OrEnds string `json:"or_ends,omitempty"`
	UIURL  string `json:"ui_url,omitempty"`
}

// PendingResult is what waits on a caller.
type PendingResult struct {
	For   string    `json:"for"`
	Items []Pending `json:"items"`
	// Truncated is set when more runs wait than were looked at.
	Truncated bool `json:"truncated,omitempty"`
}

// Pending lists the gates the caller may approve now, oldest deadline first, at most
// MaxPending: deciding needs the approve scope, and each gate's own rule
// (workflows.Waiting.MayApprove) leaves out the runs the caller requested under
// separation of duties, the gates that name others, and those the caller approved.
func (s *Service) Pending(ctx context.Context, c Caller) (PendingResult, error) {
	res := PendingResult{For: c.Name, Items: []Pending{}}
	if !c.Has(ScopeApprove) {
		return res, nil
	}
	resp, err := s.cfg.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.cfg.Namespace, PageSize: 4 * MaxPending,
		Query: ListQuery("", string(workflows.StatusWaitingApproval)) + " AND ExecutionStatus = 'Running'",
	})
	if err != nil {
		return res, err
	}
	res.Truncated = len(resp.GetNextPageToken()) > 0
	for _, e := range resp.GetExecutions() {
		id := e.GetExecution().GetWorkflowId()
		v, err := s.Status(ctx, id)
		if err != nil || !v.Waiting.MayApprove(c.Name, c.Scopes, c.All) {
			continue // moved on since the listing, or not the caller's to decide
		}
		w := v.Waiting
		res.Items = append(res.Items, Pending{WorkflowID: id, FirstRunID: v.FirstRunID, Type: string(v.Type), Summary: w.Summary, Step: w.Step, RequestedBy: v.RequestedBy,
			Deadline: w.Deadline, Needs: max(w.Quorum-len(w.Approvals), 1), Inputs: inputNames(w.Inputs), OrEnds: w.OrEnds()})
	}
	slices.SortFunc(res.Items, func(a, b Pending) int { return a.Deadline.Compare(b.Deadline) })
	if len(res.Items) > MaxPending {
		res.Items, res.Truncated = res.Items[:MaxPending], true
	}
	return res, nil
}

// ListQuery is the visibility query of Flowgate's runs, of one process (kind) and one
// status when given.
func ListQuery(kind, status string) string {
	// Every Flowgate process, built in or defined, runs on Flowgate's task queue; the data
	// tools' tool_call runs are not processes.
	// A run that continued as new goes on as the next run of its id: only that one counts.
	parts := []string{fmt.Sprintf("TaskQueue = '%s' AND WorkflowType != '%s' AND ExecutionStatus != 'ContinuedAsNew'", workflows.TaskQueue, workflows.ToolCallWorkflow)}
	if kind != "" {
		parts = append(parts, fmt.Sprintf("FlowgateType = '%s'", kind))
	}
	if status != "" {
		parts = append(parts, fmt.Sprintf("FlowgateStatus = '%s'", status))
	}
	return strings.Join(parts, " AND ")
}

// inputNames are the fields of a gate's inputs schema, by name.
func inputNames(schema map[string]any) []string {
	props, _ := schema["properties"].(map[string]any)
	return slices.Sorted(maps.Keys(props))
}
