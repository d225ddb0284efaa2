package mcpserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// maxCompletions is the most values one completion answer carries (the spec's bound).
const maxCompletions = 100

// completions answers completion/complete for the prompts' arguments and the resource
// templates' variables, so a client can offer what exists as the person types.
type completions struct{ s *Server }

// CompletePromptArgument completes the arguments of Flowgate's prompts.
func (c completions) CompletePromptArgument(_ context.Context, prompt string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	var values []string
	switch prompt + "." + arg.Name {
	case "review_pending_approvals.workflow_type":
		values = c.s.workflowTypes()
	case "start_deployment.service":
		values = c.s.cfg.Services
		if len(values) == 0 {
			values = activities.DefaultServiceNames
		}
	case "start_deployment.environment":
		values = workflows.Environments
	case "start_deployment.version":
		return complete(nil, ""), nil // any semantic version: nothing to offer
	default:
		return nil, invalidParamsError(fmt.Sprintf("prompt %q has no argument %q to complete; allowed: review_pending_approvals.workflow_type, start_deployment.service, .environment, .version", prompt, arg.Name))
	}
	return complete(values, arg.Value), nil
}

// CompleteResourceArgument completes the variables of Flowgate's resource templates:
// workflow ids (newest first, from Temporal's visibility), tables and chunk bounds.
func (c completions) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	switch {
	case strings.HasPrefix(uri, "workflow://") && arg.Name == "workflow_id":
		return c.workflowIDs(ctx, arg.Value)
	case strings.HasPrefix(uri, "db://") && arg.Name == "table":
		return complete(activities.RecordTables(), arg.Value), nil
	case strings.HasPrefix(uri, "db://") && arg.Name == "record_id",
		strings.HasPrefix(uri, "file://"):
		// Record ids and file paths live behind activities; list_files and search_table
		// find them without a workflow run per keystroke.
		return complete(nil, ""), nil
	}
	return nil, invalidParamsError(fmt.Sprintf("resource %q has no variable %q to complete; allowed: workflow://{workflow_id}/details, db://{table}/{record_id}, file://{+path}/stream", uri, arg.Name))
}

// workflowIDs lists the Flowgate runs whose id starts with prefix, newest first.
func (c completions) workflowIDs(ctx context.Context, prefix string) (*mcp.Completion, error) {
	if len(prefix) > MaxIDLength || strings.ContainsAny(prefix, `'"\`) {
		return complete(nil, ""), nil
	}
	query := listQuery("", "")
	if prefix != "" {
		query += fmt.Sprintf(" AND WorkflowId STARTS_WITH '%s'", prefix)
	}
	ctx, cancel := c.s.callContext(ctx)
	defer cancel()
	resp, err := c.s.cfg.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: c.s.cfg.Namespace, PageSize: maxCompletions, Query: query,
	})
	if err != nil {
		return nil, internalError(c.s.explain(ctx, "", err))
	}
	ids := make([]string, 0, len(resp.GetExecutions()))
	for _, e := range resp.GetExecutions() {
		ids = append(ids, e.GetExecution().GetWorkflowId())
	}
	out := &mcp.Completion{Values: ids, HasMore: len(resp.GetNextPageToken()) > 0}
	return out, nil
}

// complete returns the values that start with prefix (case-insensitive), at most
// maxCompletions of them, saying how many there are in all.
func complete(values []string, prefix string) *mcp.Completion {
	out := &mcp.Completion{Values: []string{}}
	for _, v := range values {
		if strings.HasPrefix(strings.ToLower(v), strings.ToLower(prefix)) {
			out.Values = append(out.Values, v)
		}
	}
	out.Total = len(out.Values)
	if len(out.Values) > maxCompletions {
		out.Values, out.HasMore = slices.Clone(out.Values[:maxCompletions]), true
	}
	return out
}
