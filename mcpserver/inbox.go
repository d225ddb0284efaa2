package mcpserver

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/internal/app"
)

// PendingURI is the resource of the gates that wait on the caller.
const PendingURI = "approvals://pending"

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

// pending lists the gates the caller may decide now, each with its web UI page.
func (s *Server) pending(ctx context.Context) (app.PendingResult, error) {
	res, err := s.app.Pending(ctx, s.caller(ctx))
	for i := range res.Items {
		res.Items[i].UIURL = s.uiLink(res.Items[i].WorkflowID)
	}
	return res, err
}
