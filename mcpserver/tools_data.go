package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/words"
	"github.com/flowgate/flowgate/workflows"
)

// ParseArgs are the arguments of parse_file.
type ParseArgs struct {
	FilePath string `json:"file_path"`
}

func (s *Server) addDataTools() {
	s.mcp.AddTool(mcp.NewTool("execute_query",
		mcp.WithDescription(fmt.Sprintf(`Run one read-only SQL SELECT on Flowgate's application database (SQLite) and get rows as objects.
Tables and their columns: %s.
Only one SELECT/WITH statement; writes, PRAGMA and ATTACH are refused by the database itself. At most %d rows (default %d); truncated tells when there were more.
A result over %.1f MiB of JSON (%d bytes, below Temporal's 2 MB limit on one result) is refused with its size: select fewer or shorter columns, narrow the WHERE clause or lower limit, and page with WHERE id > the last id.`, activities.DescribeSchema(), activities.MaxQueryLimit, activities.DefaultQueryLimit,
			float64(activities.MaxResultBytes)/(1<<20), activities.MaxResultBytes)),
		mcp.WithString("query", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(activities.MaxQueryLength)),
		mcp.WithInteger("limit", mcp.Min(1), mcp.Max(activities.MaxQueryLimit), mcp.DefaultNumber(activities.DefaultQueryLimit)),
		mcp.WithOutputSchema[activities.QueryResult](),
		readOnly("Run a read-only SQL query"),
		// As a task (params.task), its tool_call run answers through tasks/result.
		mcp.WithTaskSupport(mcp.TaskSupportOptional),
	), typed(func(ctx context.Context, req mcp.CallToolRequest, in activities.QueryInput) (*mcp.CallToolResult, error) {
		if err := in.Validate(); err != nil {
			return mcp.NewToolResultError(errorText(err)), nil
		}
		var out activities.QueryResult
		return s.runTool(ctx, req, workflows.ToolExecuteQuery, in, &out, func() string {
			more := ""
			if out.Truncated {
				more = " (more rows matched: raise limit or narrow the query)"
			}
			return fmt.Sprintf("%s%s: %s", words.Plural(out.RowsReturned, "row"), more, compactJSON(out.Rows))
		})
	}))

	s.mcp.AddTool(mcp.NewTool("search_table",
		mcp.WithDescription(fmt.Sprintf("Find rows of users, products or orders whose text columns contain search_term (case-insensitive, at least %d characters). users: email, name, role, team, status; products: sku, name, category; orders: status, shipping_city, note. A result over %.1f MiB of JSON (%d bytes) is refused with its size: lower limit or use a narrower term.", activities.MinSearchTermLen,
			float64(activities.MaxResultBytes)/(1<<20), activities.MaxResultBytes)),
		mcp.WithString("table", mcp.Required(), mcp.Enum(activities.SearchableTables()...)),
		mcp.WithString("search_term", mcp.Required(), mcp.MinLength(activities.MinSearchTermLen), mcp.MaxLength(activities.MaxSearchTermLen)),
		mcp.WithInteger("limit", mcp.Min(1), mcp.Max(activities.MaxSearchLimit), mcp.DefaultNumber(activities.DefaultSearchLimit)),
		mcp.WithOutputSchema[activities.QueryResult](),
		readOnly("Search a table"),
		// As a task (params.task), its tool_call run answers through tasks/result.
		mcp.WithTaskSupport(mcp.TaskSupportOptional),
	), typed(func(ctx context.Context, req mcp.CallToolRequest, in activities.SearchInput) (*mcp.CallToolResult, error) {
		if err := in.Validate(); err != nil {
			return mcp.NewToolResultError(errorText(err)), nil
		}
		var out activities.QueryResult
		return s.runTool(ctx, req, workflows.ToolSearchTable, in, &out, func() string {
			verb := " match"
			if out.RowsReturned == 1 {
				verb = " matches"
			}
			return fmt.Sprintf("%s in %s%s %q: %s", words.Plural(out.RowsReturned, "row"), in.Table, verb, in.SearchTerm, compactJSON(out.Rows))
		})
	}))

	s.mcp.AddTool(mcp.NewTool("call_service",
		mcp.WithDescription(fmt.Sprintf(`Call an endpoint of a service behind Flowgate's API gateway, through Temporal (5xx answers and timeouts are retried; 4xx answers are final).
Services: %s. Every service answers GET health.
GET is open on every service. POST is open only to: %s. Every other write is done by a process after a person's approval: start it with start_workflow; a POST outside the list is refused and names that process.
POSTs carry an idempotency key, so a retry never does the work twice.`, s.serviceLine(), s.cfg.DirectCalls.String())),
		mcp.WithString("service", mcp.Required(), mcp.Description("A configured service name, e.g. orders.")),
		mcp.WithString("endpoint", mcp.Required(), mcp.MaxLength(activities.MaxEndpointLength), mcp.Description(`A path relative to the service, e.g. "health" or "deployments/orders/production". No scheme, host or "..".`)),
		mcp.WithString("method", mcp.Enum("GET", "POST"), mcp.DefaultString("GET")),
		mcp.WithObject("data", mcp.Description("JSON body of a POST.")),
		mcp.WithOutputSchema[activities.CallResult](),
		anyJSON("json", "The answer's body when it is JSON: any JSON value."),
		// A POST changes a service outside Flowgate, and each call gets a key of its own.
		behaviour("Call a service", writes, destructive, notIdempotent, openWorld),
		// As a task (params.task), its tool_call run answers through tasks/result.
		mcp.WithTaskSupport(mcp.TaskSupportOptional),
	), typed(func(ctx context.Context, req mcp.CallToolRequest, in activities.CallInput) (*mcp.CallToolResult, error) {
		in.IdempotencyKey = ""
		if strings.TrimSpace(in.Service) == "" {
			return argError("service", "is empty", strings.Join(activities.DefaultServiceNames, ", ")), nil
		}
		if err := in.Validate(); err != nil {
			return mcp.NewToolResultError(errorText(err)), nil
		}
		if !s.cfg.DirectCalls.Allows(in.Service, in.Method, in.Endpoint) {
			refusal := s.cfg.DirectCalls.Refusal(in.Service, in.Method, in.Endpoint, s.processMaking(in.Service, in.Method, in.Endpoint))
			return mcp.NewToolResultError(errorText(refusal)), nil
		}
		var out activities.CallResult
		return s.runTool(ctx, req, workflows.ToolCallService, in, &out, func() string {
			body := out.Text
			if len(out.JSON) > 0 {
				body = string(out.JSON)
			}
			return fmt.Sprintf("%s answered %d to %s %s: %s", out.Service, out.StatusCode, out.Method, out.Endpoint, body)
		})
	}))

	s.mcp.AddTool(mcp.NewTool("parse_file",
		mcp.WithDescription(fmt.Sprintf("Read a JSON or CSV file from Flowgate's file sandbox. JSON returns data; CSV returns header, rows as objects and row_count. Paths are relative to the sandbox (e.g. \"evidence/users.csv\", \"manifests/orders.json\"); nothing outside it can be read. "+
			"The result is at most %.1f MiB of JSON (%d bytes, below Temporal's 2 MB limit on one result) and at most %d CSV rows; files over %d MiB are refused. A larger file is refused with its size and row count: read it in pieces with the file://{path}/stream resource (offset and length, up to %d bytes a chunk).",
			float64(activities.MaxResultBytes)/(1<<20), activities.MaxResultBytes, activities.MaxParseRows, activities.DefaultMaxFileBytes>>20, activities.MaxChunkBytes)),
		mcp.WithString("file_path", mcp.Required(), mcp.MaxLength(activities.MaxPathLength)),
		mcp.WithOutputSchema[activities.ParsedFile](),
		anyJSON("data", "The file's content when it is JSON: any JSON value."),
		readOnly("Parse a sandbox file"),
		// As a task (params.task), its tool_call run answers through tasks/result.
		mcp.WithTaskSupport(mcp.TaskSupportOptional),
	), typed(func(ctx context.Context, req mcp.CallToolRequest, in ParseArgs) (*mcp.CallToolResult, error) {
		if _, err := activities.CleanSandboxPath("file_path", in.FilePath); err != nil {
			return mcp.NewToolResultError(errorText(err)), nil
		}
		var out activities.ParsedFile
		return s.runTool(ctx, req, workflows.ToolParseFile, activities.ParseInput{FilePath: in.FilePath}, &out, func() string {
			if out.Format == "csv" {
				return fmt.Sprintf("%s: CSV with %s, columns %s", out.Path, words.Plural(out.RowCount, "row"), strings.Join(out.Header, ", "))
			}
			return fmt.Sprintf("%s: %s", out.Path, string(out.Data))
		})
	}))
}

// anyJSON declares an output field that holds a JSON value of any shape (a
// json.RawMessage): the generated schema would say an array of bytes, which the value
// never is, and a client that validates structuredContent would refuse it.
func anyJSON(field, description string) mcp.ToolOption {
	return func(t *mcp.Tool) {
		if t.OutputSchema.Properties != nil {
			t.OutputSchema.Properties[field] = map[string]any{"description": description}
		}
	}
}

// processMaking names a loaded process whose definition makes the call method endpoint
// of service, or "" when none does.
func (s *Server) processMaking(service, method, endpoint string) string {
	if s.cfg.Processes == nil {
		return ""
	}
	for _, p := range s.cfg.Processes.List() {
		for _, c := range p.Definition.Calls() {
			if c.Makes(service, method, endpoint) {
				return p.Definition.Name
			}
		}
	}
	return ""
}

// addListFiles adds list_files, so agents can find what the sandbox holds.
func (s *Server) addListFiles() {
	s.mcp.AddTool(mcp.NewTool("list_files",
		mcp.WithDescription(fmt.Sprintf("List the files in Flowgate's file sandbox (path, size, modified), in path order: manifests for deployments, evidence for audits, reports the audits wrote. folder narrows it to a folder such as \"evidence\"; at most %d files (default %d), truncated tells when there were more. Read a file with parse_file or the file://{path}/stream resource.", activities.MaxListFiles, activities.DefaultListFiles)),
		mcp.WithString("folder", mcp.MaxLength(activities.MaxPathLength), mcp.Description(`A folder relative to the sandbox, e.g. "evidence"; omit it for the whole sandbox.`)),
		mcp.WithInteger("limit", mcp.Min(1), mcp.Max(activities.MaxListFiles), mcp.DefaultNumber(activities.DefaultListFiles)),
		mcp.WithOutputSchema[activities.FileList](),
		readOnly("List sandbox files"),
		// As a task (params.task), its tool_call run answers through tasks/result.
		mcp.WithTaskSupport(mcp.TaskSupportOptional),
	), typed(func(ctx context.Context, req mcp.CallToolRequest, in activities.ListInput) (*mcp.CallToolResult, error) {
		if in.Folder != "" {
			if _, err := activities.CleanSandboxPath("folder", in.Folder); err != nil {
				return mcp.NewToolResultError(errorText(err)), nil
			}
		}
		if in.Limit < 0 || in.Limit > activities.MaxListFiles {
			return argError("limit", fmt.Sprintf("is %d", in.Limit), fmt.Sprintf("1 to %d (default %d)", activities.MaxListFiles, activities.DefaultListFiles)), nil
		}
		var out activities.FileList
		return s.runTool(ctx, req, workflows.ToolListFiles, in, &out, func() string {
			where := "folder " + out.Folder
			if out.Folder == "." {
				where = "the sandbox"
			}
			lines := []string{fmt.Sprintf("%s in %s%s:", words.Plural(out.Count, "file"), where, map[bool]string{true: " (more not shown: raise limit or narrow folder)"}[out.Truncated])}
			for _, f := range out.Files {
				lines = append(lines, fmt.Sprintf("- %s (%d bytes)", f.Path, f.Size))
			}
			return strings.Join(lines, "\n")
		})
	}))
}

// runTool runs one activity through the tool_call workflow and returns its output as
// structured content with a text rendering.
func (s *Server) runTool(ctx context.Context, request mcp.CallToolRequest, tool string, in any, out any, text func() string) (*mcp.CallToolResult, error) {
	raw, err := s.callActivity(ctx, request, tool, in)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return mcp.NewToolResultError("the tool returned an unreadable result"), nil
	}
	return mcp.NewToolResultStructured(out, text()), nil
}

// callActivity starts a tool_call workflow for one activity and waits for its result.
// Its error is a sentence for the agent.
func (s *Server) callActivity(ctx context.Context, request mcp.CallToolRequest, tool string, in any) (json.RawMessage, error) {
	input, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("arguments cannot be encoded: %v", err)
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	actor := s.actor(ctx)
	id := "tool-" + tool + "-" + uuid.NewString()
	tools := s.toolsClient()
	task, _ := ctx.Value(toolTaskKey{}).(*toolTask)
	var run client.WorkflowRun
	if task != nil && task.attach {
		// tasks/result: the task's run was started before; wait for it as the call would have.
		id, run = task.id, tools.GetWorkflow(ctx, task.id, "")
	} else {
		attrs := []temporal.SearchAttributeUpdate{
			workflows.AttrType.ValueSet(workflows.ToolCallWorkflow),
			workflows.AttrStep.ValueSet(tool),
			workflows.AttrRequestedBy.ValueSet(actor),
		}
		var memo map[string]any
		if task != nil {
			id = task.id
			attrs = append(attrs, workflows.AttrStatus.ValueSet(toolTaskMarker))
			memo = map[string]any{toolTaskArgsMemo: string(task.args)}
		}
		run, err = tools.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                    id,
			TaskQueue:             workflows.TaskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:         tool + " by " + actor,
			TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
			Memo:                  memo,
		}, workflows.ToolCallWorkflow, workflows.ToolCall{Tool: tool, Actor: actor, Input: input})
		if err != nil {
			return nil, fmt.Errorf("%s", s.explain(ctx, id, err))
		}
		if task != nil {
			task.started = true
			return nil, errTaskStarted // the result is for tasks/result
		}
	}
	var raw json.RawMessage
	err = s.withProgress(ctx, request, "running "+tool+" through Temporal", func() error { return run.Get(ctx, &raw) })
	if err != nil {
		s.cfg.Logger.Info("tool call failed", "tool", tool, "workflow_id", id, "error", err)
		failure := &activityError{msg: s.explain(ctx, id, err)}
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			failure.kind = app.Type()
		}
		return nil, failure
	}
	var nf workflows.ToolNotFound
	if json.Unmarshal(raw, &nf) == nil && nf.NotFound != "" {
		return nil, &activityError{msg: nf.NotFound, kind: activities.ErrTypeNotFound}
	}
	return raw, nil
}

// activityError is a failed tool call: a sentence for the agent and, when the activity
// said, the kind of failure (activities.ErrTypeNotFound, ErrTypeInvalidInput, ...).
type activityError struct {
	msg, kind string
}

func (e *activityError) Error() string { return e.msg }

// asProtocolError gives a resource read's failure the JSON-RPC code the spec gives it.
func asProtocolError(err error) error {
	var ae *activityError
	if errors.As(err, &ae) {
		switch ae.kind {
		case activities.ErrTypeNotFound:
			return notFoundError(ae.msg)
		case activities.ErrTypeInvalidInput:
			return invalidParamsError(ae.msg)
		}
	}
	return internalError(err.Error())
}

// errorText is the message of a validation error without Temporal's wrapping.
func errorText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	const max = 4000
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// demoServices says what each demo backend serves, for call_service's description.
var demoServices = map[string]string{
	"users": "GET accounts", "products": "GET items", "orders": "GET orders, GET refunds",
	"deploy": "GET deployments/{service}/{environment}", "notifications": "GET messages",
}

// serviceLine lists the services call_service can reach: the configured ones, or the
// demo backends (with what each serves) when none is configured.
func (s *Server) serviceLine() string {
	if len(s.cfg.Services) > 0 {
		return strings.Join(s.cfg.Services, ", ")
	}
	parts := make([]string, len(activities.DefaultServiceNames))
	for i, name := range activities.DefaultServiceNames {
		parts[i] = name
		if what := demoServices[name]; what != "" {
			parts[i] += " (" + what + ")"
		}
	}
	return strings.Join(parts, ", ")
}
