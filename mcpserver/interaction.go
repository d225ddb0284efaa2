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
// state is the signed requestState the answer must carry back. At a gate that declares
// inputs (their JSON Schema), the person is asked for them in the same form, each
// filled with what the agent gave (given).
func askToConfirm(message, state string, inputs, given map[string]any) *mcp.CallToolResult {
	props := map[string]any{
		"confirm": map[string]any{"type": "boolean", "title": "Confirm", "description": "Yes, do it."},
	}
	required := []string{"confirm"}
	if p, ok := inputs["properties"].(map[string]any); ok {
		for name, v := range p {
			prop, ok := v.(map[string]any)
			if !ok || name == "confirm" {
				continue
			}
			props[name] = elicitable(prop, given[name])
		}
		for _, r := range asStrings(inputs["required"]) {
			if r != "confirm" {
				required = append(required, r)
			}
		}
	}
	return server.NewInputRequestBuilder(state).Elicit(confirmID, mcp.ElicitationParams{
		Message:         message,
		RequestedSchema: map[string]any{"type": "object", "properties": props, "required": required},
	}).ToolResult()
}

// elicitable is an input's schema as MCP's restricted elicitation schema allows it (no
// pattern: the gate still checks it), with the agent's value as its default.
func elicitable(prop map[string]any, given any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"type", "title", "description", "enum", "default", "minimum", "maximum", "minLength", "maxLength", "format"} {
		if v, ok := prop[k]; ok {
			out[k] = v
		}
	}
	if given != nil {
		out["default"] = given
	}
	return out
}

func asStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// confirmation is a person's answer: yes or no, and the inputs they gave with it.
type confirmation struct {
	yes    bool
	inputs map[string]any
}

// confirmedIn reads the person's answer from a retried call: nil when not asked yet.
func confirmedIn(req mcp.CallToolRequest) *confirmation {
	res := server.ElicitationResponse(req.Params.InputResponses, confirmID)
	if res == nil {
		return nil
	}
	out := &confirmation{}
	if res.Action == mcp.ElicitationResponseActionAccept {
		if content, ok := res.Content.(map[string]any); ok && content["confirm"] == true {
			out.yes = true
			for k, v := range content {
				if k == "confirm" {
					continue
				}
				if out.inputs == nil {
					out.inputs = map[string]any{}
				}
				out.inputs[k] = v
			}
		}
	}
	return out
}
