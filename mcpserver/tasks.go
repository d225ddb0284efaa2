package mcpserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/workflows"
)

// MCP tasks (2025-11-25) backed by Temporal. A task is a run that start_workflow started
// with params.task: its id is the workflow id, its status the run's status query, and it
// lives as long as the run and the namespace's retention after it. Nothing about a task
// is kept in this process, so any MCP server process answers for any task, before and
// after a restart. mcp-go keeps tasks in memory for one session of one process, so the
// transports hand these methods here before mcp-go sees them (checkTask):
// tools/call with params.task, tasks/get, tasks/list and tasks/cancel are answered
// directly; tasks/result becomes a call of the hidden task-result tool, which mcp-go runs
// in the caller's session so the person can be asked at a gate through elicitation.

// TaskPollInterval is the pollInterval every task suggests.
const TaskPollInterval = 2 * time.Second

// taskPageSize is how many tasks one tasks/list page holds.
const taskPageSize = 50

// taskResultTool is the hidden tool tasks/result is served through; it is never listed,
// and a call that did not come from tasks/result is refused.
const taskResultTool = "flowgate_task_result"

// taskTokenKey is the _meta field that proves a task-result call came from tasks/result.
const taskTokenKey = "flowgate/task-result"

// taskTools are the tools that may be called as tasks (execution.taskSupport optional):
// start_workflow, whose task is the run, and the data tools, whose task is their short
// tool_call run.
var taskTools = []string{"start_workflow", "execute_query", "search_table", "call_service", "parse_file", "list_files"}

// A data tool's task is its tool_call run: its id starts with toolTaskPrefix, its
// FlowgateStatus search attribute is toolTaskMarker (so tasks/list finds it among the
// plain calls), and its memo keeps the call's arguments, so tasks/result can answer what
// the plain call would have, from any MCP server process.
const (
	toolTaskPrefix   = "tool-task-"
	toolTaskMarker   = "task"
	toolTaskArgsMemo = "flowgate_task_arguments"
)

// toolTask tells callActivity that it runs for a task: start the run and return
// errTaskStarted, or (attach) wait for the run the task started.
type toolTask struct {
	id      string
	attach  bool
	args    json.RawMessage
	started bool
}

type toolTaskKey struct{}

// errTaskStarted ends a data tool's handler once its task's run is started.
var errTaskStarted = errors.New("started as a task; tasks/result has its answer")

type taskSessionKey struct{}

// withTaskSession names the MCP session a task method came in on, which is told of the
// task's status changes (notifications/tasks/status).
func withTaskSession(ctx context.Context, sid string) context.Context {
	return context.WithValue(ctx, taskSessionKey{}, sid)
}

func taskSession(ctx context.Context) string {
	sid, _ := ctx.Value(taskSessionKey{}).(string)
	return sid
}

// toolsClient is the client of the namespace the data tools' runs live in.
func (s *Server) toolsClient() client.Client {
	if s.cfg.ToolsClient != nil {
		return s.cfg.ToolsClient
	}
	return s.cfg.Client
}

type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// taskState is what the task methods share: the token of rewritten tasks/result calls and
// the namespace's retention (a task's ttl), read once.
type taskState struct {
	token     string
	retention sync.Once
	ttl       *int64
}

func newTaskState() *taskState {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return &taskState{token: hex.EncodeToString(b)}
}

// taskCall is a message checkTask serves: a task method, or a task-augmented call.
type taskCall struct {
	m rpcMessage
	// modern is a request of 2026-07-28 or later, whose tasks extension (SEP-2663) this
	// server does not declare: its task methods are refused, and a task-augmented call
	// is served as the plain call. None reaches mcp-go's own in-memory tasks, which know
	// no identity.
	modern bool
	p      *messageParams
}

// asTaskCall reads m as a task method or a task-augmented tools/call, of any protocol
// revision; ok is false for every other message (notifications, garbage).
func asTaskCall(m *message) (c taskCall, ok bool) {
	if !m.isRequest() {
		return c, false
	}
	switch m.Method {
	case string(mcp.MethodToolsCall), string(mcp.MethodTasksGet), string(mcp.MethodTasksList), string(mcp.MethodTasksCancel),
		string(mcp.MethodTasksResult), "tasks/update":
	default:
		return c, false // its params are not read
	}
	p, _ := m.paramsOf()
	c = taskCall{m: m.rpcMessage, p: p, modern: p.Meta[mcp.MetaKeyProtocolVersion] != nil}
	switch c.m.Method {
	case string(mcp.MethodToolsCall):
		return c, c.p.Task != nil
	case "tasks/update":
		return c, c.modern
	}
	return c, true
}

// isTaskCall says whether checkTask serves m: it may wait on Temporal to answer.
func isTaskCall(m *message) bool {
	_, ok := asTaskCall(m)
	return ok
}

// checkTask answers a task method or a task-augmented tools/call from Temporal, or turns
// it into the message mcp-go should serve instead (in.forward); every other message goes
// on unchanged.
func (s *Server) checkTask(in *inbound) *reply {
	c, ok := asTaskCall(in.msg)
	if !ok {
		return nil
	}
	answer, rewritten := s.serveTask(withTaskSession(in.ctx, in.session), c)
	if answer != nil {
		return &reply{body: answer}
	}
	in.forward = rewritten
	return nil
}

// serveModernTask answers a task message of 2026-07-28 or later. Flowgate's tasks follow
// 2025-11-25 (negotiated through initialize); the 2026-07-28 tasks extension is not
// declared, so a task-augmented call gets the plain call's answer (the extension allows
// CreateTaskResult only to a client that declared it) and a task method is not found.
func (s *Server) serveModernTask(c taskCall) (answer, rewritten []byte) {
	if c.m.Method != string(mcp.MethodToolsCall) {
		return rpcError(c.m.ID, &protocolError{mcp.METHOD_NOT_FOUND, fmt.Sprintf(
			"%s is not served to protocol 2026-07-28 requests: this server does not declare the tasks extension. Call the tool without params.task, or negotiate 2025-11-25 through initialize, whose tasks it serves",
			c.m.Method)}), nil
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(c.m.Params, &params); err != nil {
		return rpcError(c.m.ID, invalidParamsError("params: "+err.Error())), nil
	}
	delete(params, "task")
	plain, _ := json.Marshal(rpcMessage{JSONRPC: "2.0", ID: c.m.ID, Method: c.m.Method, Params: mustJSON(params)})
	return nil, plain
}

func (s *Server) serveTask(ctx context.Context, c taskCall) (answer, rewritten []byte) {
	if c.modern {
		return s.serveModernTask(c)
	}
	m, p := c.m, c.p
	switch m.Method {
	case string(mcp.MethodToolsCall):
		if p.Task == nil {
			return nil, nil
		}
		return s.createTask(ctx, m.ID, p.Name, p.Arguments), nil
	case string(mcp.MethodTasksGet):
		t, err := s.ownedTask(ctx, p.TaskID)
		if err != nil {
			return rpcError(m.ID, err), nil
		}
		s.follow.watchTask(taskSession(ctx), p.TaskID, t.task.Status, t.run.Revision)
		return rpcResult(m.ID, mcp.GetTaskResult{Task: t.task}), nil
	case string(mcp.MethodTasksList):
		return s.listTasks(ctx, m.ID, p.Cursor), nil
	case string(mcp.MethodTasksCancel):
		return s.cancelTask(ctx, m.ID, p.TaskID), nil
	case string(mcp.MethodTasksResult):
		if _, err := s.ownedTask(ctx, p.TaskID); err != nil {
			return rpcError(m.ID, err), nil
		}
		meta := map[string]any{taskTokenKey: s.tasks.token}
		for k, v := range p.Meta {
			if k != taskTokenKey {
				meta[k] = v
			}
		}
		call, _ := json.Marshal(rpcMessage{JSONRPC: "2.0", ID: m.ID, Method: string(mcp.MethodToolsCall),
			Params: mustJSON(map[string]any{"name": taskResultTool, "arguments": map[string]any{"task_id": p.TaskID}, "_meta": meta})})
		return nil, call
	}
	return nil, nil
}

// createTask starts a task-augmented tools/call: the run starts as the plain call would
// start it, and the answer is the task, at once.
func (s *Server) createTask(ctx context.Context, id json.RawMessage, tool string, args json.RawMessage) []byte {
	if !slices.Contains(taskTools, tool) {
		return rpcError(id, &protocolError{mcp.METHOD_NOT_FOUND, fmt.Sprintf(
			"tool %q cannot be called as a task (its execution.taskSupport is forbidden); call it without params.task. Tools that can: %s",
			tool, strings.Join(taskTools, ", "))})
	}
	if tool != "start_workflow" {
		return s.createToolTask(ctx, id, tool, args)
	}
	var sa StartArgs
	if len(args) > 0 {
		if err := json.Unmarshal(args, &sa); err != nil {
			return rpcError(id, invalidParamsError("arguments of start_workflow: "+err.Error()))
		}
	}
	started, text, err := s.start(ctx, sa)
	if err != nil {
		if refusal(err) {
			return rpcError(id, invalidParamsError("start_workflow refused: "+s.explain(ctx, started.WorkflowID, err)))
		}
		return rpcError(id, internalError("start_workflow failed: "+s.explain(ctx, started.WorkflowID, err)))
	}
	t, err := s.ownedTask(ctx, started.WorkflowID)
	if err != nil {
		// Started, but not readable yet: the task exists all the same.
		now := time.Now().UTC().Format(time.RFC3339Nano)
		t = taskView{task: mcp.Task{TaskId: started.WorkflowID, Status: mcp.TaskStatusWorking, CreatedAt: now, LastUpdatedAt: now,
			TTL: s.taskTTL(ctx), PollInterval: pollInterval()}}
	}
	s.follow.watchTask(taskSession(ctx), t.task.TaskId, t.task.Status, t.run.Revision)
	return rpcResult(id, mcp.CreateTaskResult{Task: t.task,
		Result: mcp.Result{Meta: &mcp.Meta{AdditionalFields: map[string]any{"io.modelcontextprotocol/model-immediate-response": text}}}})
}

// createToolTask runs a data tool's own handler (its checks, then its tool_call run) in
// task mode: the run starts under the task's id and the answer is the task.
func (s *Server) createToolTask(ctx context.Context, id json.RawMessage, tool string, args json.RawMessage) []byte {
	st := s.mcp.GetTool(tool)
	if st == nil {
		return rpcError(id, invalidParamsError(fmt.Sprintf("tool %q does not exist", tool)))
	}
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	var arguments map[string]any
	if err := json.Unmarshal(args, &arguments); err != nil {
		return rpcError(id, invalidParamsError("arguments of "+tool+" are not a JSON object"))
	}
	task := &toolTask{id: toolTaskPrefix + tool + "-" + uuid.NewString(), args: args}
	res, err := st.Handler(context.WithValue(ctx, toolTaskKey{}, task), mcp.CallToolRequest{Params: mcp.CallToolParams{Name: tool, Arguments: arguments}})
	if !task.started {
		why := resultText(res)
		if err != nil {
			why = err.Error()
		}
		return rpcError(id, invalidParamsError(tool+" refused: "+why))
	}
	t, terr := s.ownedTask(ctx, task.id)
	if terr != nil {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		t = taskView{task: mcp.Task{TaskId: task.id, Status: mcp.TaskStatusWorking, CreatedAt: now, LastUpdatedAt: now, TTL: s.taskTTL(ctx), PollInterval: pollInterval()}}
	}
	return rpcResult(id, mcp.CreateTaskResult{Task: t.task})
}

// unknownTask is the answer for a task that does not exist and for another identity's,
// alike: nothing tells one from the other.
func (s *Server) unknownTask(ctx context.Context, id string) error {
	return invalidParamsError(fmt.Sprintf("no task %s among the tasks of %s", id, s.actor(ctx)))
}

// ownedToolTask reads a data tool's task from its run's description.
func (s *Server) ownedToolTask(ctx context.Context, id string) (taskView, error) {
	qctx, cancel := s.callContext(ctx)
	defer cancel()
	d, err := s.toolsClient().DescribeWorkflowExecution(qctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return taskView{}, s.unknownTask(ctx, id)
	}
	if err != nil {
		return taskView{}, internalError("task " + id + ": " + s.explain(qctx, id, err))
	}
	info := d.GetWorkflowExecutionInfo()
	if app.DecodeKeyword(info.GetSearchAttributes().GetIndexedFields()[workflows.AttrRequestedBy.GetName()]) != s.actor(ctx) {
		return taskView{}, s.unknownTask(ctx, id)
	}
	return taskView{task: toolTaskOf(id, info.GetStatus(), info.GetStartTime().AsTime(), info.GetCloseTime().AsTime(), s.taskTTL(ctx)),
		tool: app.DecodeKeyword(info.GetSearchAttributes().GetIndexedFields()[workflows.AttrStep.GetName()]),
		args: app.DecodeKeyword(info.GetMemo().GetFields()[toolTaskArgsMemo])}, nil
}

// toolTaskOf maps a tool_call run onto a task.
func toolTaskOf(id string, st enumspb.WorkflowExecutionStatus, started, closed time.Time, ttl *int64) mcp.Task {
	t := mcp.Task{TaskId: id, CreatedAt: started.UTC().Format(time.RFC3339Nano), LastUpdatedAt: started.UTC().Format(time.RFC3339Nano), TTL: ttl, PollInterval: pollInterval()}
	if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.LastUpdatedAt = closed.UTC().Format(time.RFC3339Nano)
	}
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		t.Status, t.StatusMessage = mcp.TaskStatusWorking, "the call runs"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		t.Status, t.StatusMessage = mcp.TaskStatusCompleted, "the call finished; tasks/result has its answer"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		t.Status, t.StatusMessage = mcp.TaskStatusCancelled, "the call was cancelled"
	default:
		t.Status, t.StatusMessage = mcp.TaskStatusFailed, "the call failed; tasks/result says why"
	}
	return t
}

// toolTaskResult answers tasks/result of a data tool's task: the tool's own handler,
// waiting for the task's run instead of starting one, answers exactly what the plain call
// would have.
func (s *Server) toolTaskResult(ctx context.Context, t taskView) (*mcp.CallToolResult, error) {
	st := s.mcp.GetTool(t.tool)
	var arguments map[string]any
	if st == nil || json.Unmarshal([]byte(t.args), &arguments) != nil {
		return nil, internalError("task " + t.task.TaskId + " does not say which call it is")
	}
	res, err := st.Handler(context.WithValue(ctx, toolTaskKey{}, &toolTask{id: t.task.TaskId, attach: true}),
		mcp.CallToolRequest{Params: mcp.CallToolParams{Name: t.tool, Arguments: arguments}})
	if res != nil {
		res.Meta = mcp.WithRelatedTask(t.task.TaskId)
	}
	return res, err
}

// taskView is a task and the run behind it.
type taskView struct {
	task mcp.Task
	run  workflows.StatusView
	// tool and args are the call of a data tool's task.
	tool, args string
}

// ownedTask reads the task id and checks that the caller created it. A task that does not
// exist and one another identity created get the same answer.
func (s *Server) ownedTask(ctx context.Context, id string) (taskView, error) {
	if id == "" || len(id) > MaxIDLength {
		return taskView{}, invalidParamsError(fmt.Sprintf("taskId %q is not a task id; allowed: the taskId a task-augmented start_workflow returned", truncate(id, 80)))
	}
	if strings.HasPrefix(id, toolTaskPrefix) {
		return s.ownedToolTask(ctx, id)
	}
	qctx, cancel := s.callContext(ctx)
	defer cancel()
	v, err := s.app.Status(qctx, id)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf) || (err == nil && v.RequestedBy != s.actor(ctx)):
		return taskView{}, s.unknownTask(ctx, id)
	case err != nil:
		return taskView{}, internalError("task " + id + ": " + s.explain(qctx, id, err))
	}
	return taskView{task: s.taskOf(ctx, v), run: v}, nil
}

// taskOf maps a run onto a task: a gate is input_required, a completed run completed, a
// rejected, failed or timed-out run failed (with why), a cancelled run cancelled.
func (s *Server) taskOf(ctx context.Context, v workflows.StatusView) mcp.Task {
	t := mcp.Task{TaskId: v.WorkflowID, CreatedAt: v.StartedAt.UTC().Format(time.RFC3339Nano),
		LastUpdatedAt: v.UpdatedAt.UTC().Format(time.RFC3339Nano), TTL: s.taskTTL(ctx), PollInterval: pollInterval(),
		StatusMessage: describeStatus(v)}
	t.Status = taskStatus(v.Status)
	if v.UpdatedAt.IsZero() {
		t.LastUpdatedAt = t.CreatedAt
	}
	return t
}

// taskStatus is the task status of a run's status: a gate is input_required; a rejected,
// failed or timed-out run failed.
func taskStatus(s workflows.Status) mcp.TaskStatus {
	switch s {
	case workflows.StatusWaitingApproval, workflows.StatusWaitingInput, workflows.StatusChangesRequested:
		return mcp.TaskStatusInputRequired
	case workflows.StatusCompleted:
		return mcp.TaskStatusCompleted
	case workflows.StatusRejected, workflows.StatusFailed, workflows.StatusTimedOut:
		return mcp.TaskStatusFailed
	case workflows.StatusCancelled, workflows.StatusWithdrawn:
		return mcp.TaskStatusCancelled
	}
	return mcp.TaskStatusWorking
}

func terminal(status mcp.TaskStatus) bool {
	return status == mcp.TaskStatusCompleted || status == mcp.TaskStatusFailed || status == mcp.TaskStatusCancelled
}

// listTasks lists the caller's tasks a page at a time: the runs it started, newest first,
// then its data tools' tasks, which live in the tools namespace. The cursor names the
// phase and Temporal's page token.
func (s *Server) listTasks(ctx context.Context, id json.RawMessage, cursor string) []byte {
	badCursor := invalidParamsError("cursor is not one tasks/list returned; allowed: nextCursor of the previous page, or none")
	var c taskCursor
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || json.Unmarshal(raw, &c) != nil || c.Phase < 0 || c.Phase > 1 {
			return rpcError(id, badCursor)
		}
	}
	qctx, cancel := s.callContext(ctx)
	defer cancel()
	who := fmt.Sprintf("%s = %s", workflows.AttrRequestedBy.GetName(), quoteVisibility(s.actor(ctx)))
	phases := []struct {
		c     client.Client
		query string
	}{
		{s.cfg.Client, who + fmt.Sprintf(" AND %s != %s AND ExecutionStatus != 'ContinuedAsNew'", workflows.AttrType.GetName(), quoteVisibility(workflows.ToolCallWorkflow))},
		{s.toolsClient(), who + fmt.Sprintf(" AND %s = %s AND %s = %s", workflows.AttrType.GetName(), quoteVisibility(workflows.ToolCallWorkflow),
			workflows.AttrStatus.GetName(), quoteVisibility(toolTaskMarker))},
	}
	out := mcp.ListTasksResult{Tasks: []mcp.Task{}}
	for len(out.Tasks) < taskPageSize && c.Phase < len(phases) {
		ph := phases[c.Phase]
		resp, err := ph.c.ListWorkflow(qctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: int32(taskPageSize - len(out.Tasks)), NextPageToken: c.Token, Query: ph.query,
		})
		if err != nil {
			var bad *serviceerror.InvalidArgument
			if errors.As(err, &bad) && cursor != "" {
				return rpcError(id, badCursor)
			}
			return rpcError(id, internalError("tasks/list: "+s.explain(qctx, "", err)))
		}
		for _, e := range resp.GetExecutions() {
			wid := e.GetExecution().GetWorkflowId()
			if c.Phase == 1 {
				out.Tasks = append(out.Tasks, toolTaskOf(wid, e.GetStatus(), e.GetStartTime().AsTime(), e.GetCloseTime().AsTime(), s.taskTTL(ctx)))
				continue
			}
			out.Tasks = append(out.Tasks, s.listedTask(ctx, wid, e.GetStatus(), e.GetStartTime().AsTime(), e.GetCloseTime().AsTime(),
				app.DecodeKeyword(e.GetSearchAttributes().GetIndexedFields()[workflows.AttrStatus.GetName()])))
		}
		if c.Token = resp.GetNextPageToken(); len(c.Token) == 0 {
			c.Phase++
		}
	}
	if c.Phase < len(phases) {
		raw, _ := json.Marshal(c)
		out.NextCursor = mcp.Cursor(base64.RawURLEncoding.EncodeToString(raw))
	}
	return rpcResult(id, out)
}

// taskCursor is where tasks/list goes on: the phase (0 runs, 1 data tools' tasks) and
// Temporal's page token in it.
type taskCursor struct {
	Phase int    `json:"p"`
	Token []byte `json:"t,omitempty"`
}

// listedTask is a task as visibility lists it: its status from the run's status search
// attribute, without a query per task.
func (s *Server) listedTask(ctx context.Context, id string, exec enumspb.WorkflowExecutionStatus, started, closed time.Time, status string) mcp.Task {
	v := workflows.StatusView{WorkflowID: id, Status: workflows.Status(status), StartedAt: started, UpdatedAt: started}
	if exec != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v.UpdatedAt = closed
		if v.Status == "" || v.Status == workflows.StatusInProgress || v.Status == workflows.StatusPending {
			v.Status = workflows.StatusFailed // terminated or timed out by Temporal itself
		}
	}
	t := s.taskOf(ctx, v)
	t.StatusMessage = string(v.Status)
	return t
}

// cancelTask cancels the caller's run: it undoes what its steps did and ends cancelled.
func (s *Server) cancelTask(ctx context.Context, id json.RawMessage, taskID string) []byte {
	t, err := s.ownedTask(ctx, taskID)
	if err != nil {
		return rpcError(id, err)
	}
	if terminal(t.task.Status) {
		return rpcError(id, invalidParamsError(fmt.Sprintf("task %s has already ended (%s): there is nothing to cancel and nothing was changed", taskID, t.task.Status)))
	}
	if t.tool != "" {
		qctx, cancel := s.callContext(ctx)
		defer cancel()
		if err := s.toolsClient().CancelWorkflow(qctx, taskID, ""); err != nil {
			return rpcError(id, internalError("task "+taskID+": "+s.explain(qctx, taskID, err)))
		}
	} else {
		qctx, cancel := s.callContext(ctx)
		defer cancel()
		if err := s.app.Cancel(qctx, s.caller(ctx), taskID, "tasks/cancel"); err != nil {
			return rpcError(id, invalidParamsError("task "+taskID+": "+s.explain(qctx, taskID, err)))
		}
	}
	t.task.Status = mcp.TaskStatusCancelled
	t.task.StatusMessage = "cancelled: the run stops at its current step and undoes what its completed steps changed"
	t.task.LastUpdatedAt = time.Now().UTC().Format(time.RFC3339Nano)
	return rpcResult(id, mcp.CancelTaskResult{Task: t.task})
}

// taskResult serves tasks/result: it waits until the run ends and answers what
// get_workflow_status answers then. While the run waits at a gate, the person is asked
// for the decision through elicitation (once per gate), and an answer goes through the
// validated advance update as the caller.
func (s *Server) taskResult(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if req.Params.Meta == nil || req.Params.Meta.AdditionalFields[taskTokenKey] != s.tasks.token {
		return nil, invalidParamsError("tool " + taskResultTool + " is not a tool; use tasks/result")
	}
	id := req.GetString("task_id", "")
	if strings.HasPrefix(id, toolTaskPrefix) {
		t, err := s.ownedTask(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.toolTaskResult(ctx, t)
	}
	t, err := s.ownedTask(ctx, id)
	if err != nil {
		return nil, err
	}
	// The run's hub tells each transition after the one the look above saw.
	w := s.waitFeed(id, t.run.Revision)
	defer w.stop()
	asked := map[string]bool{}
	for {
		if t.run.ClosedAt != nil {
			res := mcp.NewToolResultStructured(StatusResult{StatusView: t.run, UIURL: s.uiLink(id)}, describeStatus(t.run))
			res.IsError = t.task.Status != mcp.TaskStatusCompleted
			res.Meta = mcp.WithRelatedTask(id)
			return res, nil
		}
		if wt := t.run.Waiting; wt != nil && t.task.Status == mcp.TaskStatusInputRequired && canElicit(ctx) {
			if gate := wt.Step + "@" + wt.Deadline.String(); !asked[gate] {
				asked[gate] = true
				s.askAtGate(ctx, t)
			}
		}
		u, err := w.next(ctx)
		if err != nil {
			return nil, err
		}
		if u.view.WorkflowID != "" {
			t = taskView{task: s.taskOf(ctx, u.view), run: u.view}
		}
		if e := u.end; e != nil {
			if e.Status == "" {
				return nil, internalError(fmt.Sprintf("task %s: %s", id, e.Detail))
			}
			// Terminated or timed out by Temporal itself: the record never reaches its end.
			res := mcp.NewToolResultStructured(StatusResult{StatusView: t.run, UIURL: s.uiLink(id)}, fmt.Sprintf("%s was %s; its record stops where it was", id, e.Detail))
			res.IsError, res.Meta = e.Status != workflows.StatusCompleted, mcp.WithRelatedTask(id)
			return res, nil
		}
		if u.closed && t.run.ClosedAt == nil {
			return nil, internalError("task " + id + " ended, but its record could not be read; tasks/get says where it stands")
		}
	}
}

// askAtGate asks the person for the decision the run waits for and passes an answer on
// through advance_workflow's checks (scope, separation of duties, stale step).
func (s *Server) askAtGate(ctx context.Context, t taskView) {
	w := t.run.Waiting
	actions := make([]any, 0, len(w.Actions))
	for _, a := range w.Actions {
		if spec, _ := a.Spec(); spec.Decides {
			actions = append(actions, string(a)) // a person asked to decide is offered decisions
		}
	}
	props := map[string]any{
		"action":  map[string]any{"type": "string", "enum": actions, "title": "Decision"},
		"comment": map[string]any{"type": "string", "title": "Comment", "maxLength": MaxCommentLength},
	}
	// A gate that asks an approve for inputs asks the person for them in the same form
	// (an approve without the required ones is refused by the gate, naming them).
	inputs, _ := w.Inputs["properties"].(map[string]any)
	for name, v := range inputs {
		if prop, ok := v.(map[string]any); ok && props[name] == nil {
			props[name] = elicitable(prop, nil)
		}
	}
	res, err := s.mcp.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
		Meta:            mcp.WithRelatedTask(t.task.TaskId),
		Message:         fmt.Sprintf("%s waits at %s: %s. Decide as %s.", t.task.TaskId, w.Step, describeStatus(t.run), s.actor(ctx)),
		RequestedSchema: map[string]any{"type": "object", "properties": props, "required": []string{"action"}},
	}})
	if err != nil || res == nil || res.Action != mcp.ElicitationResponseActionAccept {
		s.cfg.Logger.Info("the person was asked at a task's gate and did not decide", "workflow_id", t.task.TaskId, "error", err)
		return // declined, cancelled or not answered: the gate waits for anyone allowed
	}
	content, _ := res.Content.(map[string]any)
	action, _ := content["action"].(string)
	comment, _ := content["comment"].(string)
	args := AdvanceArgs{WorkflowID: t.task.TaskId, Action: action, Step: w.Step, Comment: comment}
	if action == string(workflows.ActionApprove) {
		for name := range inputs {
			if v, ok := content[name]; ok {
				if args.Inputs == nil {
					args.Inputs = map[string]any{}
				}
				args.Inputs[name] = v
			}
		}
	}
	out, err := s.advance(ctx, mcp.CallToolRequest{}, args, false)
	if err != nil || out.IsError {
		s.cfg.Logger.Info("a decision given through a task was refused", "workflow_id", t.task.TaskId, "actor", s.actor(ctx), "why", resultText(out))
	}
}

// feedWait is a listener of a run that its caller waits on, one update at a time: updates
// not taken yet are merged (the transitions in order, the latest view, the close).
type feedWait struct {
	l       *listener
	mu      sync.Mutex
	pending *feedUpdate
	ready   chan struct{}
}

// waitFeed listens to the run id from revision since, for a caller that waits.
func (s *Server) waitFeed(id string, since int64) *feedWait {
	w := &feedWait{ready: make(chan struct{}, 1)}
	w.l = s.feeds.join(id, since, func(u feedUpdate) {
		w.mu.Lock()
		if p := w.pending; p != nil {
			u.transitions = append(p.transitions, u.transitions...)
			u.gap = p.gap || u.gap
		}
		w.pending = &u
		w.mu.Unlock()
		select {
		case w.ready <- struct{}{}:
		default:
		}
	}, true)
	return w
}

// next waits for what the run says next.
func (w *feedWait) next(ctx context.Context) (feedUpdate, error) {
	for {
		w.mu.Lock()
		p := w.pending
		w.pending = nil
		w.mu.Unlock()
		if p != nil {
			return *p, nil
		}
		select {
		case <-ctx.Done():
			return feedUpdate{}, ctx.Err()
		case <-w.ready:
		}
	}
}

func (w *feedWait) stop() { w.l.stop() }

// taskTTL is how long a task lives: the run, then the namespace's retention.
func (s *Server) taskTTL(ctx context.Context) *int64 {
	s.tasks.retention.Do(func() {
		qctx, cancel := s.callContext(context.WithoutCancel(ctx))
		defer cancel()
		ns, err := s.cfg.Client.WorkflowService().DescribeNamespace(qctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.cfg.Namespace})
		if err == nil {
			ms := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration().Milliseconds()
			s.tasks.ttl = &ms
		}
	})
	return s.tasks.ttl
}

func pollInterval() *int64 {
	ms := TaskPollInterval.Milliseconds()
	return &ms
}

// resultText is the text of a tool result.
func resultText(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

func rpcResult(id json.RawMessage, result any) []byte {
	out, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
	return out
}

func rpcError(id json.RawMessage, err error) []byte {
	code, msg := mcp.INTERNAL_ERROR, err.Error()
	var pe *protocolError
	if errors.As(err, &pe) {
		code = pe.code
	}
	out, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
	return out
}

func mustJSON(v any) json.RawMessage {
	out, _ := json.Marshal(v)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// quoteVisibility quotes a value for a visibility query.
func quoteVisibility(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
