package mcpserver

import (
	"context"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/workflows"
)

// PendingURI is the resource of the gates that wait on the caller.
const PendingURI = "approvals://pending"

// MaxPending bounds approvals://pending: the oldest deadlines first.
const MaxPending = 100

// Pending is one gate that waits on the caller.
type Pending struct {
	WorkflowID  string    `json:"workflow_id"`
	Type        string    `json:"type"`
	Step        string    `json:"step"`
	RequestedBy string    `json:"requested_by"`
	Deadline    time.Time `json:"deadline"`
	// Needs is how many more approvals the gate needs (quorum gates), at least 1.
	Needs int    `json:"needs"`
	UIURL string `json:"ui_url,omitempty"`
}

// PendingResult is the content of approvals://pending.
type PendingResult struct {
	For   string    `json:"for"`
	Items []Pending `json:"items"`
	// Truncated is set when more runs wait than were looked at.
	Truncated bool `json:"truncated,omitempty"`
}

func (s *Server) addInbox() {
	s.mcp.AddResource(mcp.NewResource(PendingURI, "Approvals waiting on you",
		mcp.WithResourceDescription("Every approval gate the caller may decide now, oldest deadline first (at most 100): runs the caller requested are left out when separation of duties is on, and gates of definitions name who may decide. Decide with advance_workflow."),
		mcp.WithMIMEType("application/json"),
	), s.readPending)
}

func (s *Server) readPending(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	res, err := s.pending(ctx)
	if err != nil {
		return nil, err
	}
	return jsonContents(PendingURI, res)
}

// pending lists the gates the caller may decide now.
func (s *Server) pending(ctx context.Context) (PendingResult, error) {
	actor := s.actor(ctx)
	var scopes []string
	all := true
	if id, ok := IdentityFromContext(ctx); ok {
		scopes, all = id.Scopes, false
	}
	res := PendingResult{For: actor, Items: []Pending{}}
	if !all && !slices.Contains(scopes, ScopeApprove) {
		return res, nil // deciding needs the approve scope
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
		v, err := s.queryStatus(ctx, id)
		if err != nil || v.Waiting == nil || v.Waiting.For != "approval" {
			continue // moved on since the listing
		}
		w := v.Waiting
		if w.NotBy == actor || slices.Contains(w.Approvals, actor) {
			continue
		}
		if len(w.Approvers) > 0 || w.Scope != "" {
			if !slices.Contains(w.Approvers, actor) && (w.Scope == "" || (!all && !slices.Contains(scopes, w.Scope))) {
				continue
			}
		}
		needs := max(w.Quorum-len(w.Approvals), 1)
		res.Items = append(res.Items, Pending{WorkflowID: id, Type: string(v.Type), Step: w.Step, RequestedBy: v.RequestedBy,
			Deadline: w.Deadline, Needs: needs, UIURL: s.uiLink(id)})
	}
	slices.SortFunc(res.Items, func(a, b Pending) int { return a.Deadline.Compare(b.Deadline) })
	if len(res.Items) > MaxPending {
		res.Items, res.Truncated = res.Items[:MaxPending], true
	}
	return res, nil
}
