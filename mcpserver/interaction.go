package mcpserver

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// progressInterval is how often a call that waits on Temporal tells the client it is alive.
const progressInterval = 500 * time.Millisecond

// withProgress sends notifications/progress every progressInterval while work runs, when
// the client asked for progress (a progressToken in the call's _meta).
func (s *Server) withProgress(ctx context.Context, req mcp.CallToolRequest, message string, work func() error) error {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return work()
	}
	token := req.Params.Meta.ProgressToken
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = s.mcp.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
					"progressToken": token, "progress": n, "message": fmt.Sprintf("%s (%s)", message, time.Duration(n)*progressInterval),
				})
			}
		}
	}()
	err := work()
	close(done)
	<-stopped
	return err
}

// confirmID names the confirmation in a multi round-trip exchange.
const confirmID = "confirm"

// canElicit reports whether the client declared that it can ask its person questions.
func canElicit(ctx context.Context) bool {
	info, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	return ok && info.GetClientCapabilities().Elicitation != nil
}

// askToConfirm is a tool result asking the client to have its person confirm message.
// From protocol 2026-07-28 the client answers and retries the call; for older clients
// mcp-go sends elicitation/create and calls the handler again with the answer.
// state is the signed requestState the answer must carry back.
func askToConfirm(message, state string) *mcp.CallToolResult {
	return server.NewInputRequestBuilder(state).Elicit(confirmID, mcp.ElicitationParams{
		Message: message,
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Confirm", "description": "Yes, do it."},
			},
			"required": []string{"confirm"},
		},
	}).ToolResult()
}

// confirmedIn reads the person's answer from a retried call: nil when not asked yet.
func confirmedIn(req mcp.CallToolRequest) *bool {
	res := server.ElicitationResponse(req.Params.InputResponses, confirmID)
	if res == nil {
		return nil
	}
	yes := false
	if res.Action == mcp.ElicitationResponseActionAccept {
		if content, ok := res.Content.(map[string]any); ok && content["confirm"] == true {
			yes = true
		}
	}
	return &yes
}
