package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flowgate/flowgate/workflows"
)

// Prepared is a validated start of a process: its name and the input of its run.
type Prepared struct {
	Kind  workflows.Kind
	Input workflows.ProcessInput
	// Summary is one line for the Temporal UI: what, for whom, requested by.
	Summary string
}

// Options are the start options every Flowgate start uses: the Flowgate task queue, the
// summary the UI shows, the search attributes known at start, and an id that may not be
// reused, so a repeated id (an idempotency key) finds the first run.
func (s Prepared) Options(id string) client.StartWorkflowOptions {
	req := s.Input.Request
	return client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// Where the client's own process runs a worker for the task queue (flowgate dev),
		// the start returns the first workflow task to it at once, without a trip through
		// matching; elsewhere this changes nothing.
		EnableEagerStart: true,
		StaticSummary:    s.Summary,
		Memo:             map[string]any{MemoStartFingerprint: s.Fingerprint()},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrType.ValueSet(string(s.Kind)),
			workflows.AttrStatus.ValueSet(string(workflows.StatusPending)),
			workflows.AttrRequestedBy.ValueSet(req.RequestedBy),
		),
	}
}

// MemoStartFingerprint is the memo field that holds a run's Prepared.Fingerprint, so a start
// that reuses an idempotency key can be checked against the run the key belongs to.
const MemoStartFingerprint = "flowgate_start_fingerprint"

// MemoTraceID is the memo field that holds the OpenTelemetry trace id of the request that
// started the run, when tracing is on, so its status and the Temporal UI lead to the trace.
const MemoTraceID = "flowgate_trace_id"

// Fingerprint is a digest of everything a start asks for once validated and normalized
// (kind, parameters, requester, approval timeout, separation of duties): two starts with
// the same fingerprint ask for the same run.
func (s Prepared) Fingerprint() string {
	in := s.Input
	// The interpreter that prepared a start is not what it asks for: a retry after an
	// upgrade asks for the same run.
	in.Interpreter = 0
	raw, _ := json.Marshal(struct {
		Kind  workflows.Kind `json:"kind"`
		Input any            `json:"input"`
	}{s.Kind, in})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// PrepareStart validates a start of a built-in process: its parameters against the
// schema of the definition the binary ships (unknown fields are refused), and returns
// the input that carries that definition.
func PrepareStart(kind workflows.Kind, params json.RawMessage, req workflows.Request) (Prepared, error) {
	if err := workflows.CheckRequest(req); err != nil {
		return Prepared{}, err
	}
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage("{}")
	}
	if !slices.Contains(workflows.DefinedKinds, kind) {
		return Prepared{}, &workflows.ParamError{Field: "workflow_type", Allowed: fmt.Sprint(workflows.DefinedKinds), Problem: fmt.Sprintf("%q is not a built-in process", kind)}
	}
	// New runs of a built-in process follow the definition the binary ships.
	src, schema, err := workflows.ShippedProcess(kind)
	if err != nil {
		return Prepared{}, err
	}
	return PrepareProcess(src, schema, params, req)
}

// PrepareProcess validates a start of a process definition: the parameters against its
// schema (defaults filled in), and returns the input that carries the definition.
func PrepareProcess(src workflows.ProcessSource, schema *workflows.ParamSchema, params json.RawMessage, req workflows.Request) (Prepared, error) {
	if err := workflows.CheckRequest(req); err != nil {
		return Prepared{}, err
	}
	d, err := src.Definition()
	if err != nil {
		return Prepared{}, err
	}
	checked, err := schema.Check(params)
	if err != nil {
		return Prepared{}, err
	}
	return Prepared{Kind: workflows.Kind(d.Name), Input: workflows.ProcessInput{Request: req, Process: src, Params: checked, Interpreter: workflows.InterpreterVersion},
		Summary: workflows.RenderSummary(d, checked, "", req.RequestedBy)}, nil
}
