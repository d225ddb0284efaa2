package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/flowgate/flowgate/internal/tracing"
	"github.com/flowgate/flowgate/workflows"
)

// idNamespace scopes idempotency-key-derived workflow ids to Flowgate.
var idNamespace = uuid.MustParse("6f1f3f5e-6b8a-4c7e-9a59-0d5bd1f0c2a1")

// StartRequest asks for a run of a process.
type StartRequest struct {
	// Process is a built-in process or a loaded definition, by name.
	Process    string
	Parameters json.RawMessage
	// IdempotencyKey, when set, makes the start idempotent for the caller: the same key
	// returns the run it started, and the same key with other parameters is refused.
	IdempotencyKey string
	// ApprovalTimeout is how long each gate waits, a Go duration; "" is the default.
	ApprovalTimeout string
}

// Started is what Start did.
type Started struct {
	WorkflowID string
	RunID      string
	Process    string
	// Summary says what the run does, in words.
	Summary string
	// Existing is set when the idempotency key named a run started before; Status and
	// CurrentStep then say where it stands.
	Existing    bool
	Status      workflows.Status
	CurrentStep string
}

// RefusedError is a request the Service refuses as it stands: parameters that do not fit
// the process, or an idempotency key used before for other parameters. Nothing changed.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// Processes lists the processes a run may be started of: the built-in ones, then the
// loaded definitions.
func (s *Service) Processes() []string {
	out := make([]string, 0, len(workflows.Kinds))
	for _, k := range workflows.Kinds {
		out = append(out, string(k))
	}
	if s.cfg.Processes != nil {
		for _, name := range s.cfg.Processes.Names() {
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// Start starts a run of a process as the caller, who must hold the write scope and is
// recorded as its requester.
func (s *Service) Start(ctx context.Context, c Caller, r StartRequest) (Started, error) {
	if !c.Has(ScopeWrite) {
		return Started{}, &ScopeError{Caller: c.Name, Need: ScopeWrite, Doing: "starting a run"}
	}
	req := workflows.Request{RequestedBy: c.Name, AllowSelfApproval: !s.cfg.SeparationOfDuties, RequireSignedDecisions: s.cfg.DecisionKeys != nil}
	if r.ApprovalTimeout != "" {
		d, err := time.ParseDuration(r.ApprovalTimeout)
		if err != nil || d < time.Second || d > 365*24*time.Hour {
			return Started{}, &ArgError{"approval_timeout", fmt.Sprintf("%q is not a duration between 1s and 8760h", r.ApprovalTimeout), `a Go duration such as "72h" or "30m"`}
		}
		req.ApprovalTimeout = d
	}
	if len(r.IdempotencyKey) > MaxIDLength {
		return Started{}, &ArgError{"idempotency_key", fmt.Sprintf("is %d characters long", len(r.IdempotencyKey)), fmt.Sprintf("at most %d characters", MaxIDLength)}
	}
	var start Prepared
	var err error
	if p, ok := s.cfg.Processes.Get(r.Process); ok {
		start, err = PrepareProcess(p.Source, p.Params, r.Parameters, req)
	} else if slices.Contains(workflows.Kinds, workflows.Kind(r.Process)) {
		start, err = PrepareStart(workflows.Kind(r.Process), r.Parameters, req)
	} else {
		return Started{}, &ArgError{"workflow_type", fmt.Sprintf("%q is not a workflow type", r.Process), strings.Join(s.Processes(), " | ")}
	}
	if err != nil {
		return Started{}, &RefusedError{err.Error()}
	}
	if err := s.checkServiceParams(start.Input); err != nil {
		return Started{}, err
	}
	id := r.Process + "-" + uuid.NewString()
	if r.IdempotencyKey != "" {
		id = r.Process + "-" + uuid.NewSHA1(idNamespace, []byte(req.RequestedBy+"\x00"+r.IdempotencyKey)).String()
	}
	res := Started{WorkflowID: id, Process: r.Process, Summary: start.Summary, Status: workflows.StatusPending}
	opts := start.Options(id)
	if tid := tracing.TraceID(ctx); tid != "" {
		// Recorded at start, never by the workflow: its commands stay what they were.
		opts.Memo[MemoTraceID] = tid
	}
	run, err := s.cfg.Client.ExecuteWorkflow(ctx, opts, r.Process, start.Input)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		// The key's workflow exists, running or ended: return it, do not start another,
		// unless the key was used for a start that asked for something else.
		res.Existing, res.RunID = true, started.RunId
		if same, err := s.sameStart(ctx, id, start); err != nil {
			return res, err
		} else if !same {
			return res, &RefusedError{fmt.Sprintf("idempotency_key %q was already used for workflow %s with other parameters; nothing was started. Use a new key to start another run, or the same parameters to get that run back",
				r.IdempotencyKey, id)}
		}
		if v, err := s.Status(ctx, id); err == nil {
			res.Status, res.CurrentStep = v.Status, v.CurrentStep
		}
	case err != nil:
		return res, err
	default:
		res.RunID = run.GetRunID()
	}
	return res, nil
}

// checkServiceParams refuses a start whose parameters name, as the service of a call
// step, a service the gateway is not configured for (nothing would reach it), or, as the
// path of a file a step parses, a file the sandbox does not have.
func (s *Service) checkServiceParams(in workflows.ProcessInput) error {
	if len(s.cfg.Services) == 0 && s.cfg.Sandbox == "" {
		return nil
	}
	d, err := in.Process.Definition()
	if err != nil {
		return nil // PrepareProcess decoded it; cannot happen
	}
	var values map[string]any
	if err := json.Unmarshal(in.Params, &values); err != nil {
		return nil // the schema has checked the shape; the worker refuses what is left
	}
	for _, name := range d.ServiceParams() {
		if v, ok := values[name].(string); ok && len(s.cfg.Services) > 0 && !slices.Contains(s.cfg.Services, v) {
			return &ArgError{"parameters." + name, fmt.Sprintf("%q is not a service the gateway is configured for", v), strings.Join(s.cfg.Services, ", ")}
		}
	}
	if s.cfg.Sandbox == "" {
		return nil
	}
	for _, name := range d.FileParams() {
		if v, ok := values[name].(string); ok && v != "" {
			if err := s.checkSandboxFile(v); err != nil {
				return &ArgError{"parameters." + name, err.Error(), "a file in the sandbox " + s.cfg.Sandbox}
			}
		}
	}
	return nil
}

// checkSandboxFile says why the sandbox has no regular file at p, or nil. The root
// refuses paths that leave the sandbox as the worker's does.
func (s *Service) checkSandboxFile(p string) error {
	root, err := os.OpenRoot(s.cfg.Sandbox)
	if err != nil {
		return nil // no sandbox here to look in: the worker's step decides
	}
	defer root.Close()
	info, err := root.Stat(path.Clean(p))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no file %q in the sandbox", p)
	case err != nil:
		return fmt.Errorf("%q cannot be read there", p)
	case !info.Mode().IsRegular():
		return fmt.Errorf("%q is not a regular file", p)
	}
	return nil
}

// sameStart reports whether the existing run id was started with what start asks for.
// Runs started before Flowgate recorded the fingerprint count as the same.
func (s *Service) sameStart(ctx context.Context, id string, start Prepared) (bool, error) {
	desc, err := s.cfg.Client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return false, err
	}
	p := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[MemoStartFingerprint]
	if p == nil {
		return true, nil
	}
	return DecodeKeyword(p) == start.Fingerprint(), nil
}

// Cancel asks a running run to stop, as the caller (who must hold the write scope), with
// a reason: it stops at its current step and undoes what its completed steps changed. A
// run that has ended is refused, saying how and when it ended.
func (s *Service) Cancel(ctx context.Context, c Caller, workflowID, reason string) error {
	if err := CheckID("workflow_id", workflowID); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > MaxCommentLength {
		return &ArgError{"reason", "is empty or too long", fmt.Sprintf("1 to %d characters saying why", MaxCommentLength)}
	}
	if !c.Has(ScopeWrite) {
		return &ScopeError{Caller: c.Name, Need: ScopeWrite, Doing: "cancelling a run"}
	}
	desc, err := s.cfg.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return err
	}
	if info := desc.GetWorkflowExecutionInfo(); info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		ended := DecodeKeyword(info.GetSearchAttributes().GetIndexedFields()[workflows.AttrStatus.GetName()])
		if ended == "" {
			ended = strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))
		}
		return &RefusedError{fmt.Sprintf("cannot cancel %s: it already ended %s at %s, so there is nothing to cancel and nothing was changed; get_workflow_status shows its record",
			workflowID, ended, info.GetCloseTime().AsTime().UTC().Format(time.RFC3339))}
	}
	_, err = s.cfg.Client.WorkflowService().RequestCancelWorkflowExecution(ctx, &workflowservice.RequestCancelWorkflowExecutionRequest{
		Namespace:         s.cfg.Namespace,
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflowID},
		Identity:          c.Name,
		RequestId:         uuid.NewString(),
		Reason:            reason + " (by " + c.Name + ")",
	})
	return err
}

// TraceID is the OpenTelemetry trace id in the run's memo (MemoTraceID), or "" when it
// was started without tracing or cannot be described.
func (s *Service) TraceID(ctx context.Context, workflowID string) string {
	desc, err := s.cfg.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return ""
	}
	return DecodeKeyword(desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[MemoTraceID])
}

// DecodeKeyword reads a Keyword search attribute's value, or "".
func DecodeKeyword(p *commonpb.Payload) string {
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}
