package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/workflows"
)

// maxCompletions is the most values one completion answer carries (the spec's bound).
const maxCompletions = 100

// completions answers completion/complete for the prompts' arguments and the resource
// templates' variables, so a client can offer what exists as the person types.
type completions struct{ s *Server }

// CompletePromptArgument completes the arguments of Flowgate's prompts.
func (c completions) CompletePromptArgument(_ context.Context, prompt string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	if len(arg.Value) > maxCompletionPrefix {
		return nil, invalidParamsError(fmt.Sprintf("argument %s: the value to complete is %d characters long; allowed: at most %d", arg.Name, len(arg.Value), maxCompletionPrefix))
	}
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
func (c completions) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	if len(arg.Value) > maxCompletionPrefix {
		return nil, invalidParamsError(fmt.Sprintf("argument %s: the value to complete is %d characters long; allowed: at most %d", arg.Name, len(arg.Value), maxCompletionPrefix))
	}
	switch {
	case strings.HasPrefix(uri, "workflow://") && arg.Name == "workflow_id":
		return c.workflowIDs(ctx, arg.Value)
	case strings.HasPrefix(uri, "db://") && arg.Name == "table":
		return complete(activities.RecordTables(), arg.Value), nil
	case strings.HasPrefix(uri, "db://") && arg.Name == "record_id":
		return c.recordIDs(ctx, cc.Arguments["table"], arg.Value)
	case strings.HasPrefix(uri, "file://") && (arg.Name == "path" || arg.Name == "+path"):
		return c.paths(ctx, arg.Value)
	}
	return nil, invalidParamsError(fmt.Sprintf("resource %q has no variable %q to complete; allowed: workflow://{workflow_id}/details, db://{table}/{record_id}, file://{+path}/stream", uri, arg.Name))
}

// maxCompletionPrefix is the longest value a completion request may carry.
const maxCompletionPrefix = MaxIDLength

// recordIDs lists the ids of the table's records that start with prefix, through the
// record-ids activity (the MCP server reaches the database only through Temporal). The
// table comes from the arguments already given (context.arguments.table).
func (c completions) recordIDs(ctx context.Context, table, prefix string) (*mcp.Completion, error) {
	if !slices.Contains(activities.RecordTables(), table) {
		return nil, invalidParamsError(fmt.Sprintf("record_id needs the table first: context.arguments.table is %q; allowed: %s", table, strings.Join(activities.RecordTables(), ", ")))
	}
	if strings.Trim(prefix, "0123456789") != "" {
		return complete(nil, ""), nil // ids are digits: nothing starts like that
	}
	raw, err := c.s.callActivity(ctx, mcp.CallToolRequest{}, workflows.ToolRecordIDs, activities.RecordIDsInput{Table: table, Prefix: prefix, Limit: maxCompletions})
	if err != nil {
		return nil, internalError(err.Error())
	}
	var out activities.RecordIDs
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, internalError("the record ids could not be read")
	}
	values := make([]string, len(out.IDs))
	for i, id := range out.IDs {
		values[i] = strconv.FormatInt(id, 10)
	}
	return &mcp.Completion{Values: values, HasMore: out.More}, nil
}

// paths lists the sandbox files whose path starts with prefix, from the folder the
// prefix names, through the list-files activity.
func (c completions) paths(ctx context.Context, prefix string) (*mcp.Completion, error) {
	folder := ""
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		folder = prefix[:i]
		if _, err := activities.CleanSandboxPath("path", folder); err != nil {
			return complete(nil, ""), nil // outside the sandbox: nothing to offer
		}
	}
	raw, err := c.s.callActivity(ctx, mcp.CallToolRequest{}, workflows.ToolListFiles, activities.ListInput{Folder: folder, Limit: activities.MaxListFiles})
	if err != nil {
		var ae *activityError
		if errors.As(err, &ae) && ae.kind == activities.ErrTypeNotFound {
			return complete(nil, ""), nil // no such folder
		}
		return nil, internalError(err.Error())
	}
	var list activities.FileList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, internalError("the file list could not be read")
	}
	paths := make([]string, len(list.Files))
	for i, f := range list.Files {
		paths[i] = f.Path
	}
	out := complete(paths, prefix)
	out.HasMore = out.HasMore || list.Truncated
	return out, nil
}

// workflowIDs lists the Flowgate runs whose id starts with prefix, newest first.
func (c completions) workflowIDs(ctx context.Context, prefix string) (*mcp.Completion, error) {
	if len(prefix) > MaxIDLength || strings.ContainsAny(prefix, `'"\`) {
		return complete(nil, ""), nil
	}
	query := app.ListQuery("", "")
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
