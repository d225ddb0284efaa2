package e2e

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

func sessions(t *testing.T) map[string]*mcp.ClientSession {
	env := testenv.Shared(t)
	return map[string]*mcp.ClientSession{
		"http":  connectHTTP(t, env.MCPURL),
		"stdio": connectStdio(t, env.Server.FrontendAddress()),
	}
}

func TestMCPListsToolsResourcesAndPrompts(t *testing.T) {
	for name, cs := range sessions(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
				if tool.Description == "" || tool.InputSchema == nil || tool.OutputSchema == nil {
					t.Errorf("tool %s lacks a description, input schema or output schema", tool.Name)
				}
			}
			slices.Sort(names)
			want := []string{"advance_workflow", "call_service", "cancel_workflow", "create_schedule", "delete_schedule", "describe_process", "execute_query", "get_workflow_status",
				"list_files", "list_schedules", "list_workflows", "parse_file", "pause_schedule", "search_table", "send_event", "start_workflow", "test_process", "trigger_schedule", "unpause_schedule", "validate_process"}
			if !slices.Equal(names, want) {
				t.Errorf("tools = %v, want %v", names, want)
			}
			templates, err := cs.ListResourceTemplates(ctx, nil)
			if err != nil || len(templates.ResourceTemplates) != 4 { // workflow://, db://, file://, process://
				t.Errorf("resource templates = %+v, %v", templates, err)
			}
			resources, err := cs.ListResources(ctx, nil)
			var uris []string
			for _, r := range resources.Resources {
				uris = append(uris, r.URI)
			}
			slices.Sort(uris)
			// The stats, the caller's pending approvals, and the shipped definitions.
			if err != nil || !slices.Equal(uris, []string{"admin://system/stats", "approvals://pending", "process://audit", "process://deployment", "process://onboarding"}) {
				t.Errorf("resources = %+v, %v", resources, err)
			}
			prompts, err := cs.ListPrompts(ctx, nil)
			if err != nil || len(prompts.Prompts) != 2 {
				t.Errorf("prompts = %+v, %v", prompts, err)
			}
			p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "start_deployment", Arguments: map[string]string{"service": "orders", "version": "1.0.0", "environment": "staging"}})
			if err != nil || len(p.Messages) != 1 {
				t.Errorf("start_deployment prompt = %+v, %v", p, err)
			}
		})
	}
}

func TestMCPApprovalLifecycleOfEachKind(t *testing.T) {
	kinds := []struct {
		kind   string
		params map[string]any
		gate   string
	}{
		{"onboarding", map[string]any{"email": "mcp.hire@example.com", "name": "MCP Hire", "role": "editor"}, workflows.StepManagerApproval},
		{"deployment", map[string]any{"service": "orders", "version": "7.1.0", "environment": "production", "manifest": "manifests/orders.json"}, workflows.StepDeployApproval},
		{"audit", map[string]any{"tables": []string{"orders"}, "evidence": []string{"evidence/orders.json"}}, workflows.StepAuditorSignoff},
	}
	for transport, cs := range sessions(t) {
		for _, k := range kinds {
			t.Run(transport+"/"+k.kind, func(t *testing.T) {
				params := k.params
				if k.kind == "onboarding" {
					params = map[string]any{"email": transport + "." + uuid.NewString()[:8] + "@example.com", "name": "MCP Hire", "role": "editor"}
				}
				var started mcpserver.StartResult
				callTool(t, cs, "start_workflow", map[string]any{"workflow_type": k.kind, "parameters": params}).decode(t, &started)
				if !strings.HasPrefix(started.WorkflowID, k.kind+"-") || started.RunID == "" || !strings.Contains(started.UIURL, started.WorkflowID) {
					t.Fatalf("start = %+v", started)
				}
				env := testenv.Shared(t)
				testenv.WaitForStatus(t, env.Client, started.WorkflowID, workflows.StatusWaitingApproval)
				var st mcpserver.StatusResult
				callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": started.WorkflowID}).decode(t, &st)
				if st.Status != workflows.StatusWaitingApproval || st.Waiting == nil || st.Waiting.Step != k.gate {
					t.Fatalf("status = %+v", st)
				}
				var adv mcpserver.StatusResult
				approve := map[string]any{"workflow_id": started.WorkflowID, "action": "approve", "step": k.gate, "comment": "looks right"}
				if k.kind == "deployment" {
					approve["inputs"] = changeTicket
				}
				callTool(t, cs, "advance_workflow", approve).decode(t, &adv)
				if adv.Status == workflows.StatusWaitingApproval {
					t.Fatalf("advance returned %s", adv.Status)
				}
				testenv.WaitForStatus(t, env.Client, started.WorkflowID, workflows.StatusCompleted)
				ctx := context.Background()
				res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "workflow://" + started.WorkflowID + "/details"})
				if err != nil || len(res.Contents) != 1 || !strings.Contains(res.Contents[0].Text, `"looks right"`) {
					t.Errorf("details resource = %+v, %v", res, err)
				}
			})
		}
	}
}

func TestMCPIdempotentStartReturnsTheSameRun(t *testing.T) {
	cs := connectHTTP(t, testenv.Shared(t).MCPURL)
	args := map[string]any{"workflow_type": "deployment", "idempotency_key": "release-" + uuid.NewString(),
		"parameters": map[string]any{"service": "products", "version": "1.0.1", "environment": "staging"}}
	var first, second mcpserver.StartResult
	callTool(t, cs, "start_workflow", args).decode(t, &first)
	callTool(t, cs, "start_workflow", args).decode(t, &second)
	if first.Existing || !second.Existing || first.WorkflowID != second.WorkflowID || first.RunID != second.RunID {
		t.Errorf("first %+v, second %+v", first, second)
	}
}

func TestMCPErrorsNameTheProblem(t *testing.T) {
	env := testenv.Shared(t)
	cs := connectHTTP(t, env.MCPURL)
	var waiting mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "9.9.9", "environment": "staging"}}).decode(t, &waiting)
	testenv.WaitForStatus(t, env.Client, waiting.WorkflowID, workflows.StatusWaitingApproval)

	cases := []struct {
		tool string
		args map[string]any
		want []string
	}{
		{"start_workflow", map[string]any{"workflow_type": "payroll", "parameters": map[string]any{}}, []string{"workflow_type", "onboarding | deployment | audit"}},
		{"start_workflow", map[string]any{"workflow_type": "onboarding", "parameters": map[string]any{"email": "x", "name": "A", "role": "viewer"}}, []string{"parameters.email", "plain address"}},
		{"start_workflow", map[string]any{"workflow_type": "deployment", "parameters": map[string]any{"service": "orders", "version": "1.0.0", "environment": "prod"}}, []string{"parameters.environment", "one of dev, staging, production"}},
		{"start_workflow", map[string]any{"workflow_type": "audit", "parameters": map[string]any{"tables": []string{"users"}}, "approval_timeout": "soon"}, []string{"approval_timeout"}},
		{"get_workflow_status", map[string]any{"workflow_id": "deployment-does-not-exist"}, []string{"no workflow with id"}},
		{"get_workflow_status", map[string]any{"workflow_id": ""}, []string{"workflow_id", "empty"}},
		{"advance_workflow", map[string]any{"workflow_id": waiting.WorkflowID, "action": "approve", "step": "deploy"}, []string{"waits at step approval, not deploy", "waiting_approval"}},
		{"advance_workflow", map[string]any{"workflow_id": waiting.WorkflowID, "action": "continue"}, []string{"not continue"}},
		{"advance_workflow", map[string]any{"workflow_id": waiting.WorkflowID, "action": "merge"}, []string{"action", "approve | reject | continue"}},
		{"list_workflows", map[string]any{"limit": 1000}, []string{"limit", "1 to 100"}},
		{"list_workflows", map[string]any{"status": "sleeping"}, []string{"status", "waiting_approval"}},
		{"list_workflows", map[string]any{"cursor": "%%%"}, []string{"cursor"}},
		{"cancel_workflow", map[string]any{"workflow_id": waiting.WorkflowID, "reason": "  "}, []string{"reason"}},
		{"execute_query", map[string]any{"query": "DELETE FROM users"}, []string{"query", "read-only"}},
		{"execute_query", map[string]any{"query": "SELECT 1; DROP TABLE users"}, []string{"query", "2 statements"}},
		{"execute_query", map[string]any{"query": "SELECT * FROM nope"}, []string{"query", "no such table"}},
		{"search_table", map[string]any{"table": "secrets", "search_term": "abc"}, []string{"table", "users, products, orders"}},
		{"search_table", map[string]any{"table": "users", "search_term": "ab"}, []string{"search_term", "3 to"}},
		{"call_service", map[string]any{"service": "billing", "endpoint": "health"}, []string{"service", "billing"}},
		{"call_service", map[string]any{"service": "orders", "endpoint": "http://169.254.169.254/latest"}, []string{"endpoint", "scheme or host"}},
		{"call_service", map[string]any{"service": "orders", "endpoint": "../admin"}, []string{"endpoint", ".."}},
		{"call_service", map[string]any{"service": "orders", "endpoint": "orders", "method": "POST", "data": map[string]any{"sku": "KB-100", "quantity": 0}}, []string{"refused", "422"}},
		// Writes that processes make after an approval are not open to agents directly.
		{"call_service", map[string]any{"service": "deploy", "endpoint": "deployments", "method": "POST", "data": map[string]any{"service": "orders", "environment": "production", "version": "9.9.9"}},
			[]string{"POST deploy/deployments is done by the deployment process after its approval", "start_workflow workflow_type=deployment"}},
		{"call_service", map[string]any{"service": "users", "endpoint": "accounts", "method": "POST", "data": map[string]any{"email": "x@example.com", "role": "admin"}},
			[]string{"onboarding process", "start_workflow workflow_type=onboarding"}},
		{"call_service", map[string]any{"service": "orders", "endpoint": "refunds/", "method": "POST", "data": map[string]any{"order_id": "ORD-01004", "amount_cents": 900000}},
			[]string{"POST orders/refunds", "orders: POST orders"}},
		{"parse_file", map[string]any{"file_path": "/etc/passwd"}, []string{"file_path", "absolute"}},
		{"parse_file", map[string]any{"file_path": "../../etc/passwd"}, []string{"file_path", ".."}},
		{"parse_file", map[string]any{"file_path": "README.txt"}, []string{"file_path", ".json, .csv"}},
		{"parse_file", map[string]any{"file_path": "missing.csv"}, []string{"no file"}},
	}
	for _, c := range cases {
		res := callTool(t, cs, c.tool, c.args)
		if !res.IsError {
			t.Errorf("%s %v: not an error: %s", c.tool, c.args, res.Text)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(res.Text, w) {
				t.Errorf("%s %v: %q does not mention %q", c.tool, c.args, res.Text, w)
			}
		}
		if strings.Contains(res.Text, "goroutine") || strings.Contains(res.Text, ".go:") {
			t.Errorf("%s: error leaks internals: %s", c.tool, res.Text)
		}
	}
	// The refused advances changed nothing.
	var st mcpserver.StatusResult
	callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": waiting.WorkflowID}).decode(t, &st)
	if st.Status != workflows.StatusWaitingApproval {
		t.Errorf("after refused calls the workflow is %s", st.Status)
	}
	// Cancel compensates and ends it.
	var cancelled mcpserver.CancelResult
	callTool(t, cs, "cancel_workflow", map[string]any{"workflow_id": waiting.WorkflowID, "reason": "wrong version"}).decode(t, &cancelled)
	testenv.WaitForStatus(t, env.Client, waiting.WorkflowID, workflows.StatusCancelled)
	res := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": waiting.WorkflowID, "action": "approve"})
	if !res.IsError || !strings.Contains(res.Text, "already ended") {
		t.Errorf("advance of a cancelled workflow: %s", res.Text)
	}
}

func TestMCPDataToolsRunThroughTemporal(t *testing.T) {
	env := testenv.Shared(t)
	cs := connectHTTP(t, env.MCPURL)
	began := time.Now().UTC()
	var q struct {
		Rows         []map[string]any `json:"rows"`
		RowsReturned int              `json:"rows_returned"`
		Truncated    bool             `json:"truncated"`
	}
	callTool(t, cs, "execute_query", map[string]any{"query": "SELECT sku FROM products ORDER BY sku", "limit": 5}).decode(t, &q)
	if q.RowsReturned != 5 || !q.Truncated || q.Rows[0]["sku"] != "CB-030" {
		t.Errorf("execute_query = %+v", q)
	}
	callTool(t, cs, "search_table", map[string]any{"table": "users", "search_term": "hopper"}).decode(t, &q)
	if q.RowsReturned != 1 || q.Rows[0]["email"] != "grace.hopper@example.com" {
		t.Errorf("search_table = %+v", q)
	}
	var svc struct {
		StatusCode int `json:"status_code"`
	}
	callTool(t, cs, "call_service", map[string]any{"service": "orders", "endpoint": "health"}).decode(t, &svc)
	if svc.StatusCode != 200 {
		t.Errorf("call_service = %+v", svc)
	}
	var f struct {
		RowCount int `json:"row_count"`
	}
	callTool(t, cs, "parse_file", map[string]any{"file_path": "evidence/users.csv"}).decode(t, &f)
	if f.RowCount != 6 {
		t.Errorf("parse_file = %+v", f)
	}
	// The sandbox can be listed, so an agent finds the files it may parse.
	var listed activities.FileList
	callTool(t, cs, "list_files", map[string]any{"folder": "evidence"}).decode(t, &listed)
	if !slices.ContainsFunc(listed.Files, func(e activities.FileEntry) bool { return e.Path == "evidence/users.csv" && e.Size > 0 }) {
		t.Errorf("list_files evidence = %+v", listed)
	}
	if r := callTool(t, cs, "list_files", map[string]any{"folder": "../.."}); !r.IsError || !strings.HasPrefix(r.Text, "folder:") {
		t.Errorf("list_files outside the sandbox: %+v", r)
	}
	// Each call was a workflow run, visible with its tool name in the tools namespace,
	// and none among the processes, which the web UI opens on.
	resp, err := env.ToolsClient.CountWorkflow(context.Background(), countIn(stack.DefaultToolsNamespace, "FlowgateType = 'tool_call' AND FlowgateStep = 'parse_file'"))
	if err != nil || resp.GetCount() == 0 {
		t.Errorf("tool call runs = %v, %v", resp.GetCount(), err)
	}
	if resp, err := env.Client.CountWorkflow(context.Background(), countRequest("WorkflowType = 'tool_call' AND StartTime > '"+began.Format(time.RFC3339Nano)+"'")); err != nil || resp.GetCount() != 0 {
		t.Errorf("tool call runs among the processes = %v, %v", resp.GetCount(), err)
	}
	ctx := context.Background()
	for uri, want := range map[string]string{
		"db://users/2": "grace.hopper@example.com",
		"file://evidence/users.csv/stream?length=5": `"email"`,
		"admin://system/stats":                      `"healthy": true`,
	} {
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil || !strings.Contains(res.Contents[0].Text, want) {
			t.Errorf("read %s = %+v, %v", uri, res, err)
		}
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "db://users/999999"}); err == nil || !strings.Contains(err.Error(), "no record with id 999999") {
		t.Errorf("missing record: %v", err)
	}
	// A lookup that found nothing is an answer: its run completed, none failed.
	testenv.WaitFor(t, 10*time.Second, "tool runs visible", func() (bool, error) {
		resp, err := env.ToolsClient.CountWorkflow(ctx, countIn(stack.DefaultToolsNamespace, "StartTime > '"+began.Format(time.RFC3339Nano)+"' AND ExecutionStatus = 'Running'"))
		return err == nil && resp.GetCount() == 0, err
	})
	failed, err := env.ToolsClient.CountWorkflow(ctx, countIn(stack.DefaultToolsNamespace, "StartTime > '"+began.Format(time.RFC3339Nano)+"' AND ExecutionStatus = 'Failed'"))
	if err != nil || failed.GetCount() != 0 {
		t.Errorf("failed tool runs after lookups = %v, %v", failed.GetCount(), err)
	}
}

func TestMCPListPaginates(t *testing.T) {
	env := testenv.Shared(t)
	cs := connectHTTP(t, env.MCPURL)
	startVisibleAudits(t, env.Client, cs, 3)
	seen := map[string]bool{}
	var pages [][]string
	cursor := ""
	var total int64
	for page := 0; page < 50; page++ {
		args := map[string]any{"workflow_type": "audit", "limit": 2}
		if cursor != "" {
			args["cursor"] = cursor
		}
		var l mcpserver.ListResult
		callTool(t, cs, "list_workflows", args).decode(t, &l)
		if l.Pagination.Total != nil {
			total = *l.Pagination.Total
		}
		var ids []string
		for _, it := range l.Items {
			ids = append(ids, it.WorkflowID+"/"+it.Status)
		}
		pages = append(pages, ids)
		for _, it := range l.Items {
			if it.Type != "audit" || seen[it.WorkflowID] {
				t.Fatalf("item %+v (seen before: %t)", it, seen[it.WorkflowID])
			}
			seen[it.WorkflowID] = true
		}
		if !l.Pagination.HasMore {
			break
		}
		cursor = l.Pagination.NextCursor
	}
	if total < 3 || int64(len(seen)) != total {
		t.Errorf("paged through %d of %d audits: %v", len(seen), total, pages)
	}
}

// TestMCPProtocolVersions initializes with every protocol version that has the
// initialize handshake and Streamable HTTP, and calls a tool on each.
func TestMCPProtocolVersions(t *testing.T) {
	env := testenv.Shared(t)
	for _, v := range []string{"2025-11-25", "2025-06-18", "2025-03-26"} {
		p := newPlainMCPVersion(t, env.MCPURL, v)
		if _, err := p.call("list_workflows", map[string]any{"limit": 1}); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

// TestMetricsAndHealth: /metrics carries the MCP server's tool-call metrics and the
// Temporal SDK's; /healthz and /readyz answer.
func TestMetricsAndHealth(t *testing.T) {
	env := testenv.Shared(t)
	cs := connectHTTP(t, env.MCPURL)
	callTool(t, cs, "list_workflows", map[string]any{"limit": 1})
	callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": ""})
	base := strings.TrimSuffix(env.MCPURL, "/mcp")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", path, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`flowgate_mcp_tool_calls_total{outcome="ok",tool="list_workflows"}`,
		`flowgate_mcp_tool_calls_total{outcome="tool_error",tool="get_workflow_status"}`,
		`flowgate_mcp_tool_call_seconds_bucket{tool="list_workflows"`,
		`temporal_request`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
