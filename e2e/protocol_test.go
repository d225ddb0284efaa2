package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
)

// TestMCPToolAnnotationsAreTrue: every tool has a title, read-only tools say so (and are
// then neither destructive nor effectful when repeated), and every hint is set on purpose.
func TestMCPToolAnnotationsAreTrue(t *testing.T) {
	type hints struct{ readOnly, destructive, idempotent, openWorld bool }
	want := map[string]hints{
		"start_workflow":      {false, true, false, true},
		"get_workflow_status": {true, false, true, false},
		"advance_workflow":    {false, true, false, true},
		"list_workflows":      {true, false, true, false},
		"cancel_workflow":     {false, true, true, true},
		"execute_query":       {true, false, true, false},
		"search_table":        {true, false, true, false},
		"call_service":        {false, true, false, true},
		"parse_file":          {true, false, true, false},
		"list_files":          {true, false, true, false},
		"describe_process":    {true, false, true, false},
		"send_event":          {false, false, false, true},
		"validate_process":    {true, false, true, false},
		"test_process":        {true, false, true, false},
		"list_schedules":      {true, false, true, false},
		"create_schedule":     {false, false, false, true},
		"pause_schedule":      {false, false, true, false},
		"unpause_schedule":    {false, false, true, false},
		"trigger_schedule":    {false, false, false, true},
		"delete_schedule":     {false, true, true, false},
	}
	cs := connectHTTP(t, testenv.Shared(t).MCPURL)
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		w, known := want[tool.Name]
		if !known {
			t.Errorf("tool %s has no row in this test: add its expected annotations", tool.Name)
			continue
		}
		a := tool.Annotations
		if a == nil || tool.Title == "" || a.Title != tool.Title || a.DestructiveHint == nil || a.OpenWorldHint == nil {
			t.Errorf("tool %s: title %q, annotations %+v: want a title and every hint set", tool.Name, tool.Title, a)
			continue
		}
		got := hints{a.ReadOnlyHint, *a.DestructiveHint, a.IdempotentHint, *a.OpenWorldHint}
		if got != w {
			t.Errorf("tool %s hints (readOnly, destructive, idempotent, openWorld) = %+v, want %+v", tool.Name, got, w)
		}
	}
}

// resourceFailures are resource reads that fail; notFound marks those whose resource does
// not exist (the others are invalid params, -32602, in every revision).
var resourceFailures = []struct {
	uri      string
	notFound bool
	says     string
}{
	{"workflow://deployment-does-not-exist/details", true, `no workflow with id "deployment-does-not-exist"`},
	{"db://users/99999999", true, "no record with id 99999999"},
	{"db://users/abc", false, "record_id"},
	{"db://secrets/1", false, "table"},
	{"file://evidence/none.csv/stream", true, "none.csv"},
	{"file://../etc/passwd/stream", false, "path"},
}

// TestMCPErrorCodesFollowTheSpec: a resource that does not exist is -32002 up to
// 2025-11-25 and -32602 from 2026-07-28 (which the official Go SDK negotiates), invalid
// params are -32602, on both transports, never -32603; prompt arguments are checked like
// tool arguments.
func TestMCPErrorCodesFollowTheSpec(t *testing.T) {
	p := newPlainMCP(t, testenv.Shared(t).MCPURL) // 2025-11-25
	for i, tc := range resourceFailures {
		code, msg := p.rpcError(t, i, "resources/read", map[string]any{"uri": tc.uri})
		want := -32602
		if tc.notFound {
			want = -32002
		}
		if code != want || !strings.Contains(msg, tc.says) {
			t.Errorf("2025-11-25 read %s: %d %q, want %d saying %q", tc.uri, code, msg, want, tc.says)
		}
	}
	for transport, cs := range sessions(t) {
		t.Run(transport, func(t *testing.T) {
			ctx := context.Background()
			for _, tc := range resourceFailures {
				_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: tc.uri})
				checkCode(t, "read "+tc.uri, err, -32602, tc.says)
			}
			for _, tc := range []struct {
				name string
				args map[string]string
				says string
			}{
				{"review_pending_approvals", map[string]string{"workflow_type": "payroll"}, `workflow_type: "payroll" is not a workflow type`},
				{"start_deployment", map[string]string{"service": "orders"}, "version, environment: missing"},
				{"start_deployment", map[string]string{"service": "orders", "version": "latest", "environment": "staging"}, `version: "latest" is not a semantic version`},
				{"start_deployment", map[string]string{"service": "orders", "version": "1.0.0", "environment": "moon"}, `environment: "moon" is not an environment`},
				{"start_deployment", map[string]string{"service": "billing", "version": "1.0.0", "environment": "staging"}, `service: "billing" is not a service the gateway is configured for`},
			} {
				_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: tc.name, Arguments: tc.args})
				checkCode(t, "prompt "+tc.name, err, -32602, tc.says)
			}
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "start_deployment",
				Arguments: map[string]string{"service": "orders", "version": "1.0.0", "environment": "staging"}}); err != nil {
				t.Errorf("valid prompt arguments refused: %v", err)
			}
		})
	}
}

func checkCode(t *testing.T, what string, err error, code int64, says string) {
	t.Helper()
	var rpc *jsonrpc.Error
	if !errors.As(err, &rpc) {
		t.Errorf("%s: error %v, want JSON-RPC error %d", what, err, code)
		return
	}
	if rpc.Code != code || !strings.Contains(rpc.Message, says) {
		t.Errorf("%s: %d %q, want %d saying %q", what, rpc.Code, rpc.Message, code, says)
	}
}

// TestMCPCapabilitiesAndVersionsAreTrue: the server declares only server capabilities
// (elicitation is the client's); initialize negotiates at most 2025-11-25, the newest
// revision with an initialize handshake; 2026-07-28 is served without one.
func TestMCPCapabilitiesAndVersionsAreTrue(t *testing.T) {
	env := testenv.Shared(t)
	p := &plainMCP{url: env.MCPURL}
	resp, err := p.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2026-07-28","capabilities":{},"clientInfo":{"name":"plain","version":"1"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"protocolVersion":"2025-11-25"`) || strings.Contains(string(raw), "elicitation") {
		t.Errorf("initialize asking for 2026-07-28 answered %s", raw)
	}
	req, _ := http.NewRequest(http.MethodPost, env.MCPURL, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "server/discover")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, v := range []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"} {
		if !strings.Contains(string(raw), `"`+v+`"`) {
			t.Errorf("server/discover does not list %s: %s", v, raw)
		}
	}
	if strings.Contains(string(raw), "elicitation") {
		t.Errorf("server/discover declares elicitation: %s", raw)
	}
}

// TestMCPRequestsWithoutSessionAre400: a GET or a non-initialize POST without a session id
// is a bad request (400) at once, not an open stream or a 404.
func TestMCPRequestsWithoutSessionAre400(t *testing.T) {
	env := testenv.Shared(t)
	client := &http.Client{Timeout: 5 * time.Second}
	get, _ := http.NewRequest(http.MethodGet, env.MCPURL, nil)
	get.Header.Set("Accept", "text/event-stream")
	post, _ := http.NewRequest(http.MethodPost, env.MCPURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("Accept", "application/json, text/event-stream")
	for name, req := range map[string]*http.Request{"GET": get, "POST tools/list": post} {
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s without a session: %v after %s", name, err, time.Since(began))
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Mcp-Session-Id") {
			t.Errorf("%s without a session: %d %s, want 400 naming Mcp-Session-Id", name, resp.StatusCode, body)
		}
	}
}

// rpcError sends one request and returns the code and message of its JSON-RPC error.
func (p *plainMCP) rpcError(t *testing.T, id int, method string, params any) (int, string) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1000 + id, "method": method, "params": params})
	resp, err := p.post(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var msg struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Error == nil {
		t.Fatalf("%s %v answered %s, want an error", method, params, body)
	}
	return msg.Error.Code, msg.Error.Message
}

// TestMCPCompletions: the server declares completions and completes prompt arguments and
// resource variables from what exists: workflow types, services, environments, tables and
// the ids of runs; an argument it does not know is invalid params.
func TestMCPCompletions(t *testing.T) {
	env := testenv.Shared(t)
	for name, cs := range map[string]*mcp.ClientSession{"http": connectHTTP(t, env.MCPURL), "stdio": connectStdio(t, env.Server.FrontendAddress())} {
		t.Run(name, func(t *testing.T) { testCompletions(t, env, cs) })
	}
}

func testCompletions(t *testing.T, env *testenv.Env, cs *mcp.ClientSession) {
	ctx := context.Background()
	var started mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "audit", "parameters": map[string]any{"tables": []string{"orders"}}}).decode(t, &started)
	testenv.WaitFor(t, 10*time.Second, "run visible", func() (bool, error) {
		n, err := env.Client.CountWorkflow(ctx, countRequest("WorkflowId = '"+started.WorkflowID+"'"))
		return err == nil && n.GetCount() == 1, err
	})
	users := map[string]string{"table": "users"}
	for _, tc := range []struct {
		ref         *mcp.CompleteReference
		arg, value  string
		context     map[string]string
		want, avoid string
	}{
		{&mcp.CompleteReference{Type: "ref/prompt", Name: "review_pending_approvals"}, "workflow_type", "dep", nil, "deployment", "audit"},
		{&mcp.CompleteReference{Type: "ref/prompt", Name: "start_deployment"}, "service", "or", nil, "orders", "users"},
		{&mcp.CompleteReference{Type: "ref/prompt", Name: "start_deployment"}, "environment", "pro", nil, "production", "staging"},
		{&mcp.CompleteReference{Type: "ref/resource", URI: "db://{table}/{record_id}"}, "table", "", nil, "deployments", ""},
		{&mcp.CompleteReference{Type: "ref/resource", URI: "db://{table}/{record_id}"}, "record_id", "1", users, "12", "2"},
		{&mcp.CompleteReference{Type: "ref/resource", URI: "file://{+path}/stream"}, "path", "evidence/u", nil, "evidence/users.csv", "orders"},
		{&mcp.CompleteReference{Type: "ref/resource", URI: "workflow://{workflow_id}/details"}, "workflow_id", started.WorkflowID[:14], nil, started.WorkflowID, "onboarding-"},
	} {
		params := &mcp.CompleteParams{Ref: tc.ref, Argument: mcp.CompleteParamsArgument{Name: tc.arg, Value: tc.value}}
		if tc.context != nil {
			params.Context = &mcp.CompleteContext{Arguments: tc.context}
		}
		res, err := cs.Complete(ctx, params)
		if err != nil {
			t.Errorf("complete %s %q: %v", tc.arg, tc.value, err)
			continue
		}
		got := strings.Join(res.Completion.Values, " ")
		if !slices.Contains(res.Completion.Values, tc.want) || (tc.avoid != "" && slices.Contains(res.Completion.Values, tc.avoid)) || len(res.Completion.Values) > 100 {
			t.Errorf("complete %s %q = %v, want %s and not %q", tc.arg, tc.value, got, tc.want, tc.avoid)
		}
	}
	_, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "start_deployment"}, Argument: mcp.CompleteParamsArgument{Name: "colour"}})
	checkCode(t, "complete an unknown argument", err, -32602, `has no argument "colour"`)
	_, err = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "db://{table}/{record_id}"}, Argument: mcp.CompleteParamsArgument{Name: "record_id", Value: "1"}})
	checkCode(t, "complete a record id without its table", err, -32602, "needs the table first")
	_, err = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "workflow://{workflow_id}/details"}, Argument: mcp.CompleteParamsArgument{Name: "workflow_id", Value: strings.Repeat("x", 300)}})
	checkCode(t, "complete an over-long prefix", err, -32602, "at most")
}
