package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// taskProbe is a process whose gate its requester may decide (separation of duties off),
// so the person asked through a task's elicitation can approve it, and whose first step
// is undone on cancel.
const taskProbe = `name: task_probe
title: Task probe
version: 1
parameters:
  type: object
  required: [email]
  properties:
    email: {type: string}
summary: "Probe {{params.email}}"
steps:
  - name: provision
    call: {service: users, method: POST, endpoint: accounts, body: {email: "{{params.email}}", name: Probe, role: viewer}}
    compensate:
      call: {service: users, method: POST, endpoint: accounts/deprovision, body: {email: "{{params.email}}"}}
  - name: sign_off
    approval: {scope: approve, separation_of_duties: false}
  - name: grant
    call: {service: users, method: POST, endpoint: access, body: {email: "{{params.email}}", role: viewer}}
`

// taskClient is mcp-go's client, which has the task methods, with an API key; it answers
// elicitation by approving and records what it was asked.
type taskClient struct {
	*mcpclient.Client
	next  atomic.Int64
	mu    sync.Mutex
	asked []mcpgo.ElicitationRequest
}

func (c *taskClient) Elicit(_ context.Context, req mcpgo.ElicitationRequest) (*mcpgo.ElicitationResult, error) {
	c.mu.Lock()
	c.asked = append(c.asked, req)
	c.mu.Unlock()
	return &mcpgo.ElicitationResult{ElicitationResponse: mcpgo.ElicitationResponse{
		Action: mcpgo.ElicitationResponseActionAccept, Content: map[string]any{"action": "approve", "comment": "approved from the task"}}}, nil
}

func connectTasks(t *testing.T, url, key string) *taskClient {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPHeaders(map[string]string{"X-API-Key": key}), transport.WithContinuousListening())
	if err != nil {
		t.Fatal(err)
	}
	tc := &taskClient{}
	tc.Client = mcpclient.NewClient(tr, mcpclient.WithElicitationHandler(tc))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	res := initializeMCPGo(t, ctx, tc.Client, true)
	if res.Capabilities.Tasks == nil {
		t.Fatalf("the server does not declare tasks: %+v", res.Capabilities)
	}
	t.Cleanup(func() { tc.Close() })
	return tc
}

// initializeMCPGo initializes mcp-go's client with protocol 2025-11-25, declaring
// elicitation when elicit is set.
func initializeMCPGo(t *testing.T, ctx context.Context, c *mcpclient.Client, elicit bool) *mcpgo.InitializeResult {
	t.Helper()
	init := mcpgo.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcpgo.Implementation{Name: "flowgate-e2e", Version: "1"}
	if elicit {
		init.Params.Capabilities.Elicitation = &mcpgo.ElicitationCapability{}
	}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return res
}

// raw sends one request and returns its result or its error.
func (c *taskClient) raw(t *testing.T, method string, params any) (json.RawMessage, *mcpgo.JSONRPCErrorDetails) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcpgo.NewRequestId(1000 + c.next.Add(1)), Method: method, Params: params})
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return resp.Result, resp.Error
}

func (c *taskClient) startTask(t *testing.T, email string) mcpgo.Task {
	t.Helper()
	out, rpcErr := c.raw(t, "tools/call", map[string]any{"name": "start_workflow", "task": map[string]any{"ttl": 60000},
		"arguments": map[string]any{"workflow_type": "task_probe", "parameters": map[string]any{"email": email}}})
	if rpcErr != nil {
		t.Fatalf("task-augmented start_workflow: %+v", rpcErr)
	}
	var created mcpgo.CreateTaskResult
	if err := json.Unmarshal(out, &created); err != nil || created.Task.TaskId == "" || created.Task.Status != mcpgo.TaskStatusWorking ||
		created.Task.PollInterval == nil || created.Task.CreatedAt == "" {
		t.Fatalf("CreateTaskResult = %s (%v)", out, err)
	}
	return created.Task
}

func (c *taskClient) getTask(t *testing.T, id string) (mcpgo.GetTaskResult, *mcpgo.JSONRPCErrorDetails) {
	t.Helper()
	out, rpcErr := c.raw(t, "tasks/get", map[string]any{"taskId": id})
	var got mcpgo.GetTaskResult
	if rpcErr == nil {
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
	}
	return got, rpcErr
}

func (c *taskClient) waitTask(t *testing.T, id string, want mcpgo.TaskStatus) {
	t.Helper()
	// Ten a second: the server (auth on) allows the identity 20 a second, bursts of 40, and
	// a faster poll during a slow step left none for the test's next call (429).
	testenv.WaitForEvery(t, 30*time.Second, 100*time.Millisecond, id+" "+string(want), func() (bool, error) {
		got, rpcErr := c.getTask(t, id)
		if rpcErr != nil {
			return false, fmt.Errorf("%+v", rpcErr)
		}
		return got.Status == want, fmt.Errorf("status %s (%s)", got.Status, got.StatusMessage)
	})
}

// TestTasksAreRunsThatOutliveTheServer: an agent starts an approval as an MCP task and
// walks away. The task waits at the gate as input_required; after a kill -9 and restart of
// the whole stack, tasks/list, tasks/get, tasks/result and tasks/cancel still serve the
// tasks created before; tasks/result asks the person at the gate through elicitation
// (tagged with the task) and returns the run's end; a cancelled task undoes its first
// step; another identity cannot see or cancel them; the spec's errors are returned.
func TestTasksAreRunsThatOutliveTheServer(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	if err := os.WriteFile(filepath.Join(procs, "task_probe.yaml"), []byte(taskProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	keys := writeKeys(t, dir, map[string][]string{"dave": mcpserver.AllScopes, "eve": mcpserver.AllScopes})
	args, mcpAddr, demoPort := devOnFreePorts(t, filepath.Join(dir, "data"))
	args = append(args, "--processes", procs, "--api-keys", keys)
	first := startDev(t, args...)
	first.waitReady(t, mcpAddr)
	dave, eve := connectTasks(t, first.mcpURL, "dave-key"), connectTasks(t, first.mcpURL, "eve-key")

	tools, err := dave.ListTools(context.Background(), mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		want := mcpgo.TaskSupport("")
		if slices.Contains([]string{"start_workflow", "execute_query", "search_table", "call_service", "parse_file", "list_files"}, tool.Name) {
			want = mcpgo.TaskSupportOptional
		}
		var got mcpgo.TaskSupport
		if tool.Execution != nil {
			got = tool.Execution.TaskSupport
		}
		if got != want {
			t.Errorf("tool %s declares taskSupport %q, want %q", tool.Name, got, want)
		}
	}

	approved, cancelled := dave.startTask(t, "task.approved@example.com"), dave.startTask(t, "task.cancelled@example.com")
	dave.waitTask(t, approved.TaskId, mcpgo.TaskStatusInputRequired)
	dave.waitTask(t, cancelled.TaskId, mcpgo.TaskStatusInputRequired)

	// Another identity does not see them, and cannot cancel them.
	if _, rpcErr := eve.getTask(t, approved.TaskId); rpcErr == nil || rpcErr.Code != mcpgo.INVALID_PARAMS {
		t.Errorf("eve's tasks/get of dave's task: %+v, want -32602", rpcErr)
	}
	if _, rpcErr := eve.raw(t, "tasks/cancel", map[string]any{"taskId": cancelled.TaskId}); rpcErr == nil || rpcErr.Code != mcpgo.INVALID_PARAMS {
		t.Errorf("eve's tasks/cancel of dave's task: %+v, want -32602", rpcErr)
	}
	if _, rpcErr := eve.raw(t, "tasks/result", map[string]any{"taskId": approved.TaskId}); rpcErr == nil || rpcErr.Code != mcpgo.INVALID_PARAMS {
		t.Errorf("eve's tasks/result of dave's task: %+v, want -32602", rpcErr)
	}
	if list, err := eve.ListTasks(context.Background(), mcpgo.ListTasksRequest{}); err != nil || slices.ContainsFunc(list.Tasks, func(x mcpgo.Task) bool { return x.TaskId == approved.TaskId }) {
		t.Errorf("eve's tasks/list = %+v, %v; want none of dave's", list, err)
	}
	// A tool that forbids tasks, and a task that does not exist.
	if _, rpcErr := dave.raw(t, "tools/call", map[string]any{"name": "get_workflow_status", "task": map[string]any{},
		"arguments": map[string]any{"workflow_id": approved.TaskId}}); rpcErr == nil || rpcErr.Code != mcpgo.METHOD_NOT_FOUND {
		t.Errorf("task-augmented get_workflow_status: %+v, want -32601", rpcErr)
	}
	if _, rpcErr := dave.getTask(t, "task_probe-does-not-exist"); rpcErr == nil || rpcErr.Code != mcpgo.INVALID_PARAMS || rpcErr.Message == "" {
		t.Errorf("tasks/get of an unknown task: %+v, want -32602 with a sentence", rpcErr)
	}

	// A data tool as a task: its tool_call run, answered through tasks/result.
	query := map[string]any{"query": "SELECT email FROM users ORDER BY id LIMIT 3"}
	out, rpcErr := dave.raw(t, "tools/call", map[string]any{"name": "execute_query", "task": map[string]any{}, "arguments": query})
	var queryTask mcpgo.CreateTaskResult
	if rpcErr != nil || json.Unmarshal(out, &queryTask) != nil || queryTask.Task.TaskId == "" {
		t.Fatalf("task-augmented execute_query: %s %+v", out, rpcErr)
	}
	if _, rpcErr := dave.raw(t, "tools/call", map[string]any{"name": "execute_query", "task": map[string]any{},
		"arguments": map[string]any{"query": "DELETE FROM users"}}); rpcErr == nil || rpcErr.Code != mcpgo.INVALID_PARAMS {
		t.Errorf("a task-augmented write query: %+v, want -32602", rpcErr)
	}
	plain, err := dave.CallTool(context.Background(), mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "execute_query", Arguments: query}})
	if err != nil || plain.IsError {
		t.Fatalf("plain execute_query: %+v %v", plain, err)
	}

	// The whole stack dies; a new one serves the same tasks.
	first.stop(t, syscall.SIGKILL)
	second := startDev(t, args...)
	second.waitReady(t, mcpAddr)
	dave = connectTasks(t, second.mcpURL, "dave-key")
	list, err := dave.ListTasks(context.Background(), mcpgo.ListTasksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{approved.TaskId, cancelled.TaskId} {
		if !slices.ContainsFunc(list.Tasks, func(x mcpgo.Task) bool { return x.TaskId == id && x.Status == mcpgo.TaskStatusInputRequired }) {
			t.Errorf("tasks/list after the restart = %+v, want %s input_required", list.Tasks, id)
		}
	}
	dave.waitTask(t, approved.TaskId, mcpgo.TaskStatusInputRequired)
	if !slices.ContainsFunc(list.Tasks, func(x mcpgo.Task) bool { return x.TaskId == queryTask.Task.TaskId }) {
		t.Errorf("tasks/list after the restart does not list the execute_query task %s: %+v", queryTask.Task.TaskId, list.Tasks)
	}
	dave.waitTask(t, queryTask.Task.TaskId, mcpgo.TaskStatusCompleted)
	qres, err := dave.TaskResult(context.Background(), mcpgo.TaskResultRequest{Params: mcpgo.TaskResultParams{TaskId: queryTask.Task.TaskId}})
	rowsOf := func(v any) string {
		m, _ := v.(map[string]any)
		return fmt.Sprint(m["rows"], m["columns"], m["rows_returned"])
	}
	// The same answer as the plain call, but when it ran (executed_at).
	if err != nil || qres.IsError || rowsOf(qres.StructuredContent) != rowsOf(plain.StructuredContent) || fmt.Sprint(qres.Content) != fmt.Sprint(plain.Content) {
		t.Errorf("tasks/result of execute_query = %+v, %v; want what the plain call answered: %+v", qres, err, plain)
	}

	// tasks/result asks at the gate, and the answer opens it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := dave.TaskResult(ctx, mcpgo.TaskResultRequest{Params: mcpgo.TaskResultParams{TaskId: approved.TaskId}})
	if err != nil {
		dave.mu.Lock()
		n := len(dave.asked)
		dave.mu.Unlock()
		got, _ := dave.getTask(t, approved.TaskId)
		t.Fatalf("tasks/result: %v (asked %d times; task %+v)\n%s", err, n, got, second.out)
	}
	var final mcpserver.StatusResult
	raw, _ := json.Marshal(res.StructuredContent)
	if json.Unmarshal(raw, &final) != nil || res.IsError || final.Status != workflows.StatusCompleted || final.WorkflowID != approved.TaskId {
		t.Errorf("tasks/result = %+v (%s)", res, raw)
	}
	dave.mu.Lock()
	asked := slices.Clone(dave.asked)
	dave.mu.Unlock()
	if len(asked) != 1 || asked[0].Params.Meta == nil || fmt.Sprint(asked[0].Params.Meta.AdditionalFields[mcpgo.RelatedTaskMetaKey]) != fmt.Sprint(map[string]any{"taskId": approved.TaskId}) {
		t.Errorf("elicitations = %+v, want one tagged with task %s", asked, approved.TaskId)
	}
	dave.waitTask(t, approved.TaskId, mcpgo.TaskStatusCompleted)

	// tasks/cancel undoes what the run did; a second cancel is refused.
	out, rpcErr = dave.raw(t, "tasks/cancel", map[string]any{"taskId": cancelled.TaskId})
	var got mcpgo.CancelTaskResult
	if rpcErr != nil || json.Unmarshal(out, &got) != nil || got.Status != mcpgo.TaskStatusCancelled {
		t.Fatalf("tasks/cancel = %s %+v", out, rpcErr)
	}
	testenv.WaitFor(t, 30*time.Second, "the cancelled task's account deprovisioned", func() (bool, error) {
		var accounts []map[string]string
		getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/users/accounts", demoPort), &accounts)
		for _, a := range accounts {
			if a["email"] == "task.cancelled@example.com" {
				return a["status"] == "deprovisioned", fmt.Errorf("account %v", a)
			}
		}
		return false, fmt.Errorf("no account in %v", accounts)
	})
	dave.waitTask(t, cancelled.TaskId, mcpgo.TaskStatusCancelled)
	if _, rpcErr := dave.raw(t, "tasks/cancel", map[string]any{"taskId": cancelled.TaskId}); rpcErr == nil || rpcErr.Code != mcpgo.INVALID_PARAMS {
		t.Errorf("second tasks/cancel: %+v, want -32602", rpcErr)
	}
}

// TestTasksOverStdio: the same task methods over the stdio transport: a deployment
// started as a task waits at its gate, another MCP server process reads it, tasks/list
// shows it, and tasks/result asks the
// person (here allowed to approve: stdio has no authentication) and returns its end.
func TestTasksOverStdio(t *testing.T) {
	env := testenv.Shared(t)
	// The server's debug log (its followers' looks) is kept, and printed if it fails.
	serverLog := &syncBuffer{}
	tr := transport.NewStdioWithOptions(flowgateBinary(t), append(os.Environ(), "TEMPORAL_ADDRESS="+env.Server.FrontendAddress(), "TEMPORAL_NAMESPACE=default"),
		[]string{"mcp", "--transport", "stdio", "--log-level", "debug", "--actor", "tester"}, transport.WithCommandStderrWriter(serverLog))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the stdio server's log:\n%s", serverLog)
		}
	})
	tc := &taskClient{}
	tc.Client = mcpclient.NewClient(tr, mcpclient.WithElicitationHandler(tc))
	var heardMu sync.Mutex
	heard := map[string][]string{} // task id → statuses told by notifications/tasks/status
	tc.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == string(mcpgo.MethodNotificationTasksStatus) {
			heardMu.Lock()
			id := fmt.Sprint(n.Params.AdditionalFields["taskId"])
			heard[id] = append(heard[id], fmt.Sprint(n.Params.AdditionalFields["status"]))
			heardMu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	if res := initializeMCPGo(t, ctx, tc.Client, true); res.Capabilities.Tasks == nil {
		t.Fatalf("initialize: no tasks capability in %+v", res.Capabilities)
	}
	out, rpcErr := tc.raw(t, "tools/call", map[string]any{"name": "start_workflow", "task": map[string]any{},
		"arguments": map[string]any{"workflow_type": "deployment", "parameters": map[string]any{"service": "orders", "version": "6.1.0", "environment": "staging"}}})
	var created mcpgo.CreateTaskResult
	if rpcErr != nil || json.Unmarshal(out, &created) != nil || created.Task.TaskId == "" {
		t.Fatalf("task-augmented start over stdio: %s %+v", out, rpcErr)
	}
	id := created.Task.TaskId
	tc.waitTask(t, id, mcpgo.TaskStatusInputRequired)
	// Another MCP server process (the test's own, over HTTP, same identity) serves the task.
	other := connectTasks(t, env.MCPURL, "")
	other.waitTask(t, id, mcpgo.TaskStatusInputRequired)
	list, err := tc.ListTasks(ctx, mcpgo.ListTasksRequest{})
	if err != nil || !slices.ContainsFunc(list.Tasks, func(x mcpgo.Task) bool { return x.TaskId == id }) {
		t.Errorf("tasks/list over stdio = %+v, %v", list, err)
	}
	res, err := tc.TaskResult(ctx, mcpgo.TaskResultRequest{Params: mcpgo.TaskResultParams{TaskId: id}})
	if err != nil || res.IsError {
		t.Fatalf("tasks/result over stdio: %+v %v", res, err)
	}
	if got, _ := tc.getTask(t, id); got.Status != mcpgo.TaskStatusCompleted {
		t.Errorf("after tasks/result the task is %s", got.Status)
	}
	// The session that created the task knew of the gate (from the answer that created it,
	// when the run got there that fast, or from a notification) and was told of the end.
	testenv.WaitFor(t, 10*time.Second, "notifications/tasks/status of the gate and the end", func() (bool, error) {
		heardMu.Lock()
		defer heardMu.Unlock()
		knew := append([]string{string(created.Task.Status)}, heard[id]...)
		gate := slices.Index(knew, "input_required")
		return gate >= 0 && slices.Contains(knew[gate+1:], "completed"), fmt.Errorf("created as %s, then told %v", created.Task.Status, heard[id])
	})
}

// TestModernTaskCallsNeverReachAnUnscopedStore: under 2026-07-28, whose tasks extension
// this server does not declare, a task-augmented call is answered as the plain call
// (nothing lands in mcp-go's in-memory task store, which knows no identity), and every
// task method is -32601, so no caller reads another's task.
func TestModernTaskCallsNeverReachAnUnscopedStore(t *testing.T) {
	env := testenv.Shared(t)
	start := postModern(t, env.MCPURL, "tools/call", "start_workflow", map[string]any{"name": "start_workflow",
		"arguments": map[string]any{"workflow_type": "audit", "parameters": map[string]any{"tables": []string{"users"}}},
		"task":      map[string]any{"ttl": 60000}, "_meta": modernMeta(map[string]any{})})
	sc, _ := start.Result["structuredContent"].(map[string]any)
	id, _ := sc["workflow_id"].(string)
	if start.Error != nil || id == "" || start.Result["task"] != nil {
		t.Fatalf("a 2026-07-28 task-augmented start answered %+v %+v; want the plain call's result", start.Result, start.Error)
	}
	for _, method := range []string{"tasks/get", "tasks/update", "tasks/cancel", "tasks/result", "tasks/list"} {
		got := postModern(t, env.MCPURL, method, id, map[string]any{"taskId": id, "_meta": modernMeta(map[string]any{})})
		if got.Error == nil || got.Error.Code != -32601 || !strings.Contains(got.Error.Message, "tasks extension") {
			t.Errorf("%s under 2026-07-28: %+v %+v, want -32601 naming the tasks extension", method, got.Result, got.Error)
		}
	}
	_ = env.Client.CancelWorkflow(context.Background(), id, "")
}
