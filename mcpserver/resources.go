package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/metrics"
	"github.com/flowgate/flowgate/internal/words"
	"github.com/flowgate/flowgate/workflows"
)

func (s *Server) addResources() {
	s.mcp.AddResourceTemplate(mcp.NewResourceTemplate("workflow://{workflow_id}/details", "Workflow details",
		mcp.WithTemplateDescription("The full record of a workflow: parameters, every step with actor, comment and error, and the audit history of every transition."),
		mcp.WithTemplateMIMEType("application/json"),
	), s.readWorkflowDetails)
	s.mcp.AddResourceTemplate(mcp.NewResourceTemplate("db://{table}/{record_id}", "Database record",
		mcp.WithTemplateDescription("One record of the application database by table ("+strings.Join(activities.RecordTables(), ", ")+") and numeric id."),
		mcp.WithTemplateMIMEType("application/json"),
	), s.readRecord)
	s.mcp.AddResourceTemplate(mcp.NewResourceTemplate("file://{+path}/stream{?offset,length}", "File chunk",
		mcp.WithTemplateDescription(fmt.Sprintf("A chunk of a file in the sandbox, for files too large to parse: offset (bytes, default 0) and length (default %d, at most %d). UTF-8 text comes as is, anything else base64.", activities.DefaultChunkBytes, activities.MaxChunkBytes)),
		mcp.WithTemplateMIMEType("application/json"),
	), s.readFileChunk)
	s.mcp.AddResource(mcp.NewResource("admin://system/stats", "System stats",
		mcp.WithResourceDescription("Counts of workflows by type and by status, and whether workers poll Flowgate's task queue."),
		mcp.WithMIMEType("application/json"),
	), s.readStats)
}

func argString(args map[string]any, name string) string {
	switch v := args[name].(type) {
	case string:
		return v
	case []string:
		if len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func jsonContents(uri string, v any) ([]mcp.ResourceContents, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "application/json", Text: string(b)}}, nil
}

func (s *Server) readWorkflowDetails(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	id := argString(req.Params.Arguments, "workflow_id")
	if bad := checkID("workflow_id", id); bad != nil {
		return nil, invalidParamsError("workflow_id in workflow://{workflow_id}/details is empty or malformed: give the id start_workflow or list_workflows returned")
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	var st workflows.State
	if err := s.app.Query(ctx, id, workflows.QueryDetails, &st); err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return nil, notFoundError(s.explain(ctx, id, err))
		}
		return nil, internalError(s.explain(ctx, id, err))
	}
	return jsonContents(req.Params.URI, st)
}

func (s *Server) readRecord(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	in := activities.RecordInput{Table: argString(req.Params.Arguments, "table")}
	id, err := strconv.ParseInt(argString(req.Params.Arguments, "record_id"), 10, 64)
	if err != nil {
		return nil, invalidParamsError("record_id in db://{table}/{record_id} must be a positive integer")
	}
	in.ID = id
	if err := in.Validate(); err != nil {
		return nil, invalidParamsError(errorText(err))
	}
	raw, err := s.callActivity(ctx, mcp.CallToolRequest{}, workflows.ToolGetRecord, in)
	if err != nil {
		return nil, asProtocolError(err)
	}
	var rec activities.Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, internalError("the record could not be read")
	}
	return jsonContents(req.Params.URI, rec)
}

func (s *Server) readFileChunk(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	in := activities.ChunkInput{Path: argString(req.Params.Arguments, "path")}
	if _, err := activities.CleanSandboxPath("path", in.Path); err != nil {
		return nil, invalidParamsError(errorText(err))
	}
	for name, dst := range map[string]*int64{"offset": &in.Offset} {
		if v := argString(req.Params.Arguments, name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, invalidParamsError(name + " must be a whole number of bytes, 0 or more")
			}
			*dst = n
		}
	}
	if v := argString(req.Params.Arguments, "length"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > activities.MaxChunkBytes {
			return nil, invalidParamsError(fmt.Sprintf("length must be 1 to %d bytes", activities.MaxChunkBytes))
		}
		in.Length = n
	}
	raw, err := s.callActivity(ctx, mcp.CallToolRequest{}, workflows.ToolReadChunk, in)
	if err != nil {
		return nil, asProtocolError(err)
	}
	var c activities.Chunk
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, internalError("the chunk could not be read")
	}
	return jsonContents(req.Params.URI, c)
}

// Stats is the content of admin://system/stats.
type Stats struct {
	ByType   map[string]int64 `json:"by_type"`
	ByStatus map[string]int64 `json:"by_status"`
	// WaitingApproval counts the runs waiting for a person, by workflow type and gate.
	WaitingApproval map[string]map[string]int64 `json:"waiting_approval"`
	// OldestWaitingStartedAt is when the longest-waiting of them started (to the second),
	// and OldestWaitingFor how long ago that was.
	OldestWaitingStartedAt *time.Time `json:"oldest_waiting_started_at,omitempty"`
	OldestWaitingFor       string     `json:"oldest_waiting_for,omitempty"`
	// Caches are this process's caches, when a worker or an embedded server runs in it.
	Caches    *Caches `json:"caches,omitempty"`
	TaskQueue struct {
		Name             string `json:"name"`
		WorkflowPollers  int    `json:"workflow_pollers"`
		ActivityPollers  int    `json:"activity_pollers"`
		Healthy          bool   `json:"healthy"`
		HealthyMeansThat string `json:"healthy_means"`
	} `json:"task_queue"`
}

// Caches are the bounds of the caches in the MCP server's process, and what the workflow
// cache has done. A run the cache evicted is rebuilt by replay when it next has work: the
// misses count those replays.
type Caches struct {
	// WorkflowCacheLimit is the most runs the worker keeps in memory between their
	// workflow tasks (--workflow-cache).
	WorkflowCacheLimit int `json:"workflow_cache_limit"`
	// HistoryCacheLimit is the most runs whose state the embedded Temporal server keeps
	// in memory (--history-cache); 0 when the server runs elsewhere.
	HistoryCacheLimit int `json:"history_cache_limit,omitempty"`
	// WorkerCache is what the workflow cache has done since the process started.
	metrics.WorkerCache
	// Server is what the embedded Temporal server's history caches have done since it
	// started; nil when the server runs elsewhere.
	Server *metrics.ServerCaches `json:"server,omitempty"`
}

func (s *Server) readStats(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	st := Stats{ByType: map[string]int64{}, ByStatus: map[string]int64{}}
	count := func(q string) (int64, error) { return s.app.Count(ctx, q) }
	for _, k := range s.workflowTypes() {
		n, err := count(app.ListQuery(k, ""))
		if err != nil {
			return nil, internalError(s.explain(ctx, "", err))
		}
		st.ByType[k] = n
	}
	for _, status := range words.Strings(workflows.Statuses) {
		n, err := count(app.ListQuery("", status))
		if err != nil {
			return nil, internalError(s.explain(ctx, "", err))
		}
		st.ByStatus[status] = n
	}
	waiting, oldest, err := s.Waiting(ctx)
	if err != nil {
		return nil, internalError(s.explain(ctx, "", err))
	}
	st.WaitingApproval, st.OldestWaitingStartedAt = waiting, oldest
	if oldest != nil {
		st.OldestWaitingFor = time.Since(*oldest).Round(time.Second).String()
	}
	if s.cfg.Caches != nil {
		st.Caches = s.cfg.Caches()
	}
	st.TaskQueue.Name = workflows.TaskQueue
	for _, tqType := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		resp, err := s.cfg.Client.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: s.cfg.Namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.TaskQueue}, TaskQueueType: tqType,
		})
		if err != nil {
			return nil, internalError(s.explain(ctx, "", err))
		}
		if tqType == enumspb.TASK_QUEUE_TYPE_WORKFLOW {
			st.TaskQueue.WorkflowPollers = len(resp.GetPollers())
		} else {
			st.TaskQueue.ActivityPollers = len(resp.GetPollers())
		}
	}
	st.TaskQueue.Healthy = st.TaskQueue.WorkflowPollers > 0 && st.TaskQueue.ActivityPollers > 0
	st.TaskQueue.HealthyMeansThat = "at least one worker polled for workflow and activity tasks in the last minutes"
	return jsonContents(req.Params.URI, st)
}

// Waiting counts the runs waiting for a person at each gate of each process, and finds
// when the longest-waiting one started (nil when none waits) by halving a time range with
// counts (about 30 of them): SQL visibility cannot sort by start time ascending, and
// listing every waiting run to find it would cost what the pile costs. Each count scans
// the waiting runs, so the oldest the last look found is checked first: when no run
// started before it and one started within its second, two counts confirm it.
func (s *Server) Waiting(ctx context.Context) (map[string]map[string]int64, *time.Time, error) {
	count := func(q string) (int64, error) { return s.app.Count(ctx, q) }
	byGate := map[string]map[string]int64{}
	waiting := app.ListQuery("", string(workflows.StatusWaitingApproval))
	for _, kind := range s.workflowTypes() {
		for _, gate := range s.gates(kind) {
			n, err := count(fmt.Sprintf("%s AND FlowgateType = '%s' AND FlowgateStep = '%s'", waiting, kind, gate))
			if err != nil {
				return nil, nil, err
			}
			if byGate[kind] == nil {
				byGate[kind] = map[string]int64{}
			}
			byGate[kind][gate] = n
		}
	}
	if n, err := count(waiting); err != nil || n == 0 {
		return byGate, nil, err
	}
	startedBefore := func(t time.Time) (bool, error) {
		n, err := count(fmt.Sprintf("%s AND StartTime < '%s'", waiting, t.Format(time.RFC3339Nano)))
		return n > 0, err
	}
	// Whole seconds: no waiting run started before lo, one started before hi.
	lo, hi := int64(0), time.Now().Unix()+1
	s.oldestMu.Lock()
	hint := s.oldest
	s.oldestMu.Unlock()
	if !hint.IsZero() {
		// Runs never start in the past: the oldest is the hint or later.
		older, err := startedBefore(hint)
		if err != nil {
			return nil, nil, err
		}
		if !older {
			lo = hint.Unix()
			within, err := startedBefore(hint.Add(time.Second))
			if err != nil {
				return nil, nil, err
			}
			if within {
				return byGate, &hint, nil
			}
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		older, err := startedBefore(time.Unix(mid, 0).UTC())
		if err != nil {
			return nil, nil, err
		}
		if older {
			hi = mid
		} else {
			lo = mid
		}
	}
	oldest := time.Unix(lo, 0).UTC()
	s.oldestMu.Lock()
	s.oldest = oldest
	s.oldestMu.Unlock()
	return byGate, &oldest, nil
}

// gates are the approval steps of a process, in order.
func (s *Server) gates(kind string) []string {
	var def workflows.Definition
	if p, ok := s.cfg.Processes.Get(kind); ok {
		def = p.Definition
	} else if src, _, err := workflows.ShippedProcess(workflows.Kind(kind)); err == nil {
		if def, err = src.Definition(); err != nil {
			return nil
		}
	}
	var out []string
	for _, step := range def.Steps {
		if step.Approval != nil {
			out = append(out, step.Name)
		}
	}
	return out
}
