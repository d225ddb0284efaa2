package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// Tools that run one activity through Temporal, so every call from an agent is durable,
// retried and visible in the UI as a short workflow run.
const (
	ToolExecuteQuery = "execute_query"
	ToolSearchTable  = "search_table"
	ToolGetRecord    = "get_record"
	ToolCallService  = "call_service"
	ToolParseFile    = "parse_file"
	ToolReadChunk    = "read_chunk"
	ToolListFiles    = "list_files"
	// ToolRecordIDs lists record ids for completion/complete of db://{table}/{record_id}.
	ToolRecordIDs = "complete_record_ids"
)

// ToolCallWorkflow is the workflow type of a tool call; the gateway holds its calls to
// the direct-call policy.
const ToolCallWorkflow = activities.ToolCallWorkflowType

// ToolNotFound is what a tool_call run returns when its lookup found nothing (a record or
// file that does not exist): an answer, so the run completes instead of showing as a
// failure among the processes' runs.
type ToolNotFound struct {
	NotFound string `json:"flowgate_not_found"`
}

// changeNotFoundAnswer gates the change that completes a lookup that found nothing; runs
// started before it replay as the failures they were.
const changeNotFoundAnswer = "lookup-not-found-is-an-answer"

// ToolCall is the input of the tool_call workflow.
type ToolCall struct {
	Tool  string          `json:"tool"`
	Actor string          `json:"actor"`
	Input json.RawMessage `json:"input"`
}

// RunTool executes one activity for a tool call and returns its output as JSON. It
// retries transient failures for up to a minute, and an attempt whose worker died within
// activities.HeartbeatTimeout; invalid input fails at once.
func RunTool(ctx workflow.Context, call ToolCall) (json.RawMessage, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    20 * time.Second,
		ScheduleToCloseTimeout: time.Minute,
		HeartbeatTimeout:       activities.HeartbeatTimeout,
		RetryPolicy:            defaultRetry,
		Summary:                call.Tool + " for " + call.Actor,
	})
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		AttrType.ValueSet(ToolCallWorkflow), AttrStep.ValueSet(call.Tool), AttrRequestedBy.ValueSet(call.Actor))
	switch call.Tool {
	case ToolExecuteQuery:
		return runTool[activities.QueryInput, activities.QueryResult](ctx, call, db.ExecuteQuery)
	case ToolSearchTable:
		return runTool[activities.SearchInput, activities.QueryResult](ctx, call, db.SearchTable)
	case ToolGetRecord:
		return runTool[activities.RecordInput, activities.Record](ctx, call, db.GetRecord)
	case ToolCallService:
		return runTool[activities.CallInput, activities.CallResult](ctx, call, gw.CallService)
	case ToolParseFile:
		return runTool[activities.ParseInput, activities.ParsedFile](ctx, call, files.ParseFile)
	case ToolReadChunk:
		return runTool[activities.ChunkInput, activities.Chunk](ctx, call, files.ReadChunk)
	case ToolListFiles:
		return runTool[activities.ListInput, activities.FileList](ctx, call, files.ListFiles)
	case ToolRecordIDs:
		return runTool[activities.RecordIDsInput, activities.RecordIDs](ctx, call, db.RecordIDs)
	}
	return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("tool %q is unknown", call.Tool), activities.ErrTypeInvalidInput, nil)
}

func runTool[In, Out any](ctx workflow.Context, call ToolCall, activity any) (json.RawMessage, error) {
	var in In
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("tool input is not valid: "+err.Error(), activities.ErrTypeInvalidInput, nil)
	}
	var out Out
	if err := workflow.ExecuteActivity(ctx, activity, in).Get(ctx, &out); err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == activities.ErrTypeNotFound &&
			workflow.GetVersion(ctx, changeNotFoundAnswer, workflow.DefaultVersion, 1) == 1 {
			return json.Marshal(ToolNotFound{NotFound: app.Message()})
		}
		return nil, err
	}
	return json.Marshal(out)
}
