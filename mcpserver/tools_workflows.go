package mcpserver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/words"
	"github.com/flowgate/flowgate/workflows"
)

// StartArgs are the arguments of start_workflow.
type StartArgs struct {
	WorkflowType    string          `json:"workflow_type"`
	Parameters      json.RawMessage `json:"parameters"`
	IdempotencyKey  string          `json:"idempotency_key,omitempty"`
	ApprovalTimeout string          `json:"approval_timeout,omitempty"`
}

// StartResult is the result of start_workflow.
type StartResult struct {
	WorkflowID  string           `json:"workflow_id"`
	RunID       string           `json:"run_id"`
	Type        string           `json:"type"`
	Status      workflows.Status `json:"status"`
	CurrentStep string           `json:"current_step,omitempty"`
	// Existing is true when the idempotency key matched a workflow started before.
	Existing bool   `json:"existing"`
	UIURL    string `json:"ui_url,omitempty"`
}

// StatusResult is the result of get_workflow_status and advance_workflow.
type StatusResult struct {
	workflows.StatusView
	UIURL string `json:"ui_url,omitempty"`
	// TraceID is the OpenTelemetry trace the run was started in, from its memo; set only
	// while this server traces (it costs a describe call).
	TraceID string `json:"trace_id,omitempty"`
}

// AdvanceArgs are the arguments of advance_workflow.
type AdvanceArgs struct {
	WorkflowID string `json:"workflow_id"`
	Action     string `json:"action"`
	Step       string `json:"step,omitempty"`
	Comment    string `json:"comment,omitempty"`
	// Inputs are what an approve carries at a gate that declares inputs.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Parameters are a revise's new values of the parameters the approver's request
	// let change.
	Parameters map[string]any `json:"parameters,omitempty"`
	// ReassignTo is who a reassign hands the gate to.
	ReassignTo *workflows.Reassignment `json:"reassign_to,omitempty"`
}

// SendEventArgs are the arguments of send_event.
type SendEventArgs struct {
	WorkflowID string         `json:"workflow_id"`
	Step       string         `json:"step"`
	Event      string         `json:"event"`
	Payload    map[string]any `json:"payload,omitempty"`
}

// WorkflowIDArgs are the arguments of tools that name one workflow.
type WorkflowIDArgs struct {
	WorkflowID string `json:"workflow_id"`
}

// CancelArgs are the arguments of cancel_workflow.
type CancelArgs struct {
	WorkflowID string `json:"workflow_id"`
	Reason     string `json:"reason"`
}

// CancelResult is the result of cancel_workflow.
type CancelResult struct {
	WorkflowID string `json:"workflow_id"`
	Requested  bool   `json:"cancel_requested"`
	Message    string `json:"message"`
}

// ListArgs are the arguments of list_workflows.
type ListArgs struct {
	WorkflowType string `json:"workflow_type,omitempty"`
	Status       string `json:"status,omitempty"`
	Limit        int    `json:"limit,omitempty"`
	Cursor       string `json:"cursor,omitempty"`
	// IncludeTotal counts every match however long it takes; without it a count that
	// takes longer than Config.ListCountBudget is left out.
	IncludeTotal bool `json:"include_total,omitempty"`
}

// ListItem is one workflow in list_workflows.
type ListItem struct {
	app.RunSummary
	UIURL string `json:"ui_url,omitempty"`
}

// Pagination tells how to get the next page.
type Pagination struct {
	Limit int `json:"limit"`
	// Total is how many workflows match, when it is known: on the page that holds the
	// last of them, or counted for the first page (within Config.ListCountBudget, or however long
	// it takes with include_total) and carried by the cursor to the pages after it, so
	// paging costs no count. A count scans every match, so with many runs it is left out.
	Total      *int64 `json:"total,omitempty"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// ListResult is the result of list_workflows.
type ListResult struct {
	Items      []ListItem `json:"items"`
	Pagination Pagination `json:"pagination"`
}

// Bounds of the workflow tools' arguments.
const (
	MaxIDLength      = app.MaxIDLength
	MaxCommentLength = app.MaxCommentLength
	DefaultListLimit = app.DefaultListLimit
	MaxListLimit     = app.MaxListLimit
)

func (s *Server) addWorkflowTools() {
	s.mcp.AddTool(mcp.NewTool("start_workflow",
		mcp.WithDescription(`Start a durable Flowgate workflow. It runs its steps in Temporal and stops at approval gates until a person approves or rejects (advance_workflow).
Processes and their parameters (as workflow_type and parameters; describe_process gives a process's whole schema and its gates):
`+s.processLines()+`Give an idempotency_key to make retries safe: the same key returns the workflow it started the first time instead of starting another.
To follow the run: if your client speaks MCP tasks, call this as a task (params.task) and then tasks/result, which ends when the run does and asks your person at its gates; to hear of each change while you hold a stream open, subscribe to workflow://{id}/details; to come back later, call get_workflow_status.`),
		mcp.WithString("workflow_type", mcp.Required(), mcp.Enum(s.workflowTypes()...), mcp.Description("Which process to run.")),
		mcp.WithObject("reassign_to", mcp.Description("With reassign: who decides from now on."),
			mcp.Properties(map[string]any{
				"approvers": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "API-key names or token subjects."},
				"scope":     map[string]any{"type": "string", "description": "Anyone holding this scope (approve, or group:NAME)."},
			})),
		mcp.WithObject("parameters", mcp.Required(), mcp.Description("The workflow type's parameters, as listed in the tool description.")),
		mcp.WithString("idempotency_key", mcp.MaxLength(MaxIDLength), mcp.Description("Optional key that makes the start idempotent.")),
		mcp.WithString("approval_timeout", mcp.Description(`Optional deadline of each approval gate as a Go duration such as "72h" (default) or "30m"; when it passes the workflow ends timed_out and undoes its work.`)),
		mcp.WithOutputSchema[StartResult](),
		// A dev deployment replaces what runs with no gate, and every process reaches the
		// gateway's services; without a key, each call starts another run.
		behaviour("Start a workflow", writes, destructive, notIdempotent, openWorld),
		// As a task (params.task), tasks/result waits for the run's end and asks at its gates.
		mcp.WithTaskSupport(mcp.TaskSupportOptional),
	), typed(s.startWorkflow))

	s.mcp.AddTool(mcp.NewTool("get_workflow_status",
		mcp.WithDescription("Get where a workflow stands: status, progress, current step and, when it waits, what for (waiting.step, waiting.actions, waiting.deadline, waiting.not_by). Call this before advance_workflow. To wait for a change, subscribe to workflow://{id}/details or use a task instead of calling this in a loop."),
		mcp.WithString("workflow_id", mcp.Required(), mcp.MaxLength(MaxIDLength), mcp.Description("The id start_workflow returned, e.g. deployment-9b1c…")),
		mcp.WithOutputSchema[StatusResult](),
		readOnly("Get workflow status"),
	), typed(s.getStatus))

	s.mcp.AddTool(mcp.NewTool("advance_workflow",
		mcp.WithDescription(`Approve or reject the step a workflow waits at, or continue a step that failed. Call get_workflow_status first and pass the waiting step as "step", so a decision about a step that has moved on is refused; its waiting.actions are the actions the step takes.
- approve / reject: for a workflow in waiting_approval. The requester cannot approve their own workflow when separation of duties is on.
- continue: for a workflow in waiting_input (a step failed after its retries): runs the step again once the cause is fixed. reject there ends the workflow as failed and undoes its work.
`+actionLines()+`Returns the new status.`),
		mcp.WithString("workflow_id", mcp.Required(), mcp.MaxLength(MaxIDLength)),
		mcp.WithString("action", mcp.Required(), mcp.Enum(words.Strings(workflows.Actions)...)),
		mcp.WithString("step", mcp.MaxLength(MaxIDLength), mcp.Description("The step you saw waiting (recommended).")),
		mcp.WithString("comment", mcp.MaxLength(MaxCommentLength), mcp.Description("Why; recorded in the workflow's audit history.")),
		mcp.WithObject("reassign_to", mcp.Description("With reassign: who decides from now on."),
			mcp.Properties(map[string]any{
				"approvers": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "API-key names or token subjects."},
				"scope":     map[string]any{"type": "string", "description": "Anyone holding this scope (approve, or group:NAME)."},
			})),
		mcp.WithObject("parameters", mcp.Description("With revise, when the workflow is in changes_requested: new values for the parameters waiting.changes.revisable names (only those), as waiting.changes.comment asks.")),
		mcp.WithObject("inputs", mcp.Description("With approve, at a gate whose waiting.inputs is set: the values it asks for (a JSON object matching that schema, and meeting waiting.rules), such as the amount approved. Later steps use them.")),
		mcp.WithOutputSchema[StatusResult](),
		// A reject undoes work through the services; a second call without step may decide
		// the next gate.
		behaviour("Approve, reject or continue a workflow", writes, destructive, notIdempotent, openWorld),
	), typed(s.advanceWorkflow))

	s.mcp.AddTool(mcp.NewTool("send_event",
		mcp.WithDescription(`Send an event to a workflow that waits for one (status waiting, waiting.for "event"): CI reporting green, a signature service answering. Call get_workflow_status first: waiting.step is the step, waiting.event the event, waiting.payload_schema the JSON Schema the payload must match, and waiting.scope the scope you need (write:data unless the process says otherwise). A gate may take an event too (waiting.for "approval", or "changes" while its requester is asked to revise, with waiting.event set): the event ends the gate as an approve would, whichever comes first; waiting.event_scope is then the scope you need.
An event for a step that does not wait for one, of another name, with a payload the schema refuses (the field is named) or over `+fmt.Sprint(workflows.MaxEventPayload/1024)+` KB is refused and changes nothing. Returns the new status; later steps read the payload as steps.STEP.output.payload.FIELD.`),
		mcp.WithString("workflow_id", mcp.Required(), mcp.MaxLength(MaxIDLength)),
		mcp.WithString("step", mcp.Required(), mcp.MaxLength(MaxIDLength), mcp.Description("The step that waits (waiting.step).")),
		mcp.WithString("event", mcp.Required(), mcp.MaxLength(MaxIDLength), mcp.Description("The event it waits for (waiting.event), such as ci_passed.")),
		mcp.WithObject("payload", mcp.Description("What the event says: a JSON object matching waiting.payload_schema.")),
		mcp.WithOutputSchema[StatusResult](),
		// The run goes on to its next steps, which reach the gateway's services; a second
		// event for the same step is refused, so a retry after a lost answer is a refusal,
		// not the first answer.
		behaviour("Send an event to a waiting workflow", writes, notDestructive, notIdempotent, openWorld),
	), typed(s.sendEvent))

	s.mcp.AddTool(mcp.NewTool("list_workflows",
		mcp.WithDescription("List Flowgate workflows, newest first, optionally filtered by type and status (status=waiting_approval lists what waits for a person). Pass pagination.next_cursor as cursor for the next page."),
		mcp.WithString("workflow_type", mcp.Enum(s.workflowTypes()...)),
		mcp.WithString("status", mcp.Enum(words.Strings(workflows.Statuses)...)),
		mcp.WithInteger("limit", mcp.Min(1), mcp.Max(MaxListLimit), mcp.DefaultNumber(DefaultListLimit)),
		mcp.WithString("cursor", mcp.Description("next_cursor from the previous page.")),
		mcp.WithBoolean("include_total", mcp.Description("count every match for pagination.total, however long it takes; without it a count that takes longer than "+s.cfg.ListCountBudget.String()+" (many thousands of runs) is left out, and has_more still says whether a page follows.")),
		mcp.WithOutputSchema[ListResult](),
		readOnly("List workflows"),
	), typed(s.listWorkflows))

	s.mcp.AddTool(mcp.NewTool("cancel_workflow",
		mcp.WithDescription("Cancel a running workflow. It undoes the work its completed steps did (deactivates records, rolls back deployments) and ends cancelled. The reason is recorded in its history."),
		mcp.WithString("workflow_id", mcp.Required(), mcp.MaxLength(MaxIDLength)),
		mcp.WithString("reason", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(MaxCommentLength)),
		mcp.WithOutputSchema[CancelResult](),
		// Cancelling again changes nothing more: the second call is refused.
		behaviour("Cancel a workflow", writes, destructive, idempotent, openWorld),
	), typed(s.cancelWorkflow))
}

// argError is a tool error for an argument: which one, what is wrong, what is allowed.
func argError(field, problem, allowed string) *mcp.CallToolResult {
	msg := field + ": " + problem
	if allowed != "" {
		msg += "; allowed: " + allowed
	}
	return mcp.NewToolResultError(msg)
}

func checkID(field, id string) *mcp.CallToolResult {
	if err := app.CheckID(field, id); err != nil {
		return mcp.NewToolResultError(err.Error())
	}
	return nil
}

func (s *Server) startWorkflow(ctx context.Context, _ mcp.CallToolRequest, args StartArgs) (*mcp.CallToolResult, error) {
	res, text, err := s.start(ctx, args)
	if err != nil {
		return s.toolError(ctx, "start_workflow", res.WorkflowID, err), nil
	}
	return mcp.NewToolResultStructured(res, text), nil
}

// start starts a run through the typed API, as start_workflow and task-augmented calls
// of it do: a new run's transitions reach the session as log messages.
func (s *Server) start(ctx context.Context, args StartArgs) (StartResult, string, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	started, err := s.app.Start(ctx, s.caller(ctx), app.StartRequest{Process: args.WorkflowType, Parameters: args.Parameters,
		IdempotencyKey: args.IdempotencyKey, ApprovalTimeout: args.ApprovalTimeout})
	res := StartResult{WorkflowID: started.WorkflowID, RunID: started.RunID, Type: args.WorkflowType, Status: started.Status,
		CurrentStep: started.CurrentStep, Existing: started.Existing, UIURL: s.uiLink(started.WorkflowID)}
	if err != nil {
		return res, "", err
	}
	if !started.Existing {
		s.follow.follow(ctx, res.WorkflowID)
	}
	text := fmt.Sprintf("Started %s workflow %s (%s).", args.WorkflowType, res.WorkflowID, started.Summary)
	if res.Existing {
		text = fmt.Sprintf("Workflow %s already exists for this idempotency key; status %s.", res.WorkflowID, res.Status)
	}
	if res.UIURL != "" {
		text += " Watch it at " + res.UIURL
	}
	return res, text, nil
}

// refusal tells whether err is the typed API refusing a request as it stands (an
// argument, a scope, a state), not a failure to reach Temporal.
func refusal(err error) bool {
	var arg *app.ArgError
	var scope *app.ScopeError
	var refused *app.RefusedError
	var event *app.EventRefusedError
	return errors.As(err, &arg) || errors.As(err, &scope) || errors.As(err, &refused) || errors.As(err, &event)
}

func (s *Server) getStatus(ctx context.Context, _ mcp.CallToolRequest, args WorkflowIDArgs) (*mcp.CallToolResult, error) {
	if bad := checkID("workflow_id", args.WorkflowID); bad != nil {
		return bad, nil
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	v, err := s.app.Status(ctx, args.WorkflowID)
	if err != nil {
		return s.toolError(ctx, "get_workflow_status", args.WorkflowID, err), nil
	}
	res := StatusResult{StatusView: v, UIURL: s.uiLink(v.WorkflowID)}
	text := describeStatus(v)
	if s.cfg.Tracing != nil {
		if res.TraceID = s.app.TraceID(ctx, args.WorkflowID); res.TraceID != "" {
			text += " Trace " + res.TraceID + "."
		}
	}
	return mcp.NewToolResultStructured(res, text), nil
}

// actionLines describe, in advance_workflow's description, the actions beyond the three
// it explains in prose.
func actionLines() string {
	var b strings.Builder
	for _, s := range workflows.ActionSpecs {
		switch s.Name {
		case workflows.ActionApprove, workflows.ActionReject, workflows.ActionContinue:
			continue
		}
		fmt.Fprintf(&b, "- %s: at an %s gate: %s; it leaves the gate waiting. Needs the %s scope.\n", s.Name, strings.Join(s.At, " or "), s.Does, strings.Join(app.Decision{Action: s.Name}.NeededScopes(), " or "))
	}
	return b.String()
}

// describeStatus renders a status as a sentence for clients that read text only.
func describeStatus(v workflows.StatusView) string {
	text := fmt.Sprintf("%s %s is %s (%d%%, %d of %d steps done)", v.Type, v.WorkflowID, v.Status, v.Progress, v.StepsCompleted, v.TotalSteps)
	if len(v.Undoing) > 0 {
		text += fmt.Sprintf(", undoing %s (%s)", words.Plural(len(v.Undoing), "step"), strings.Join(v.Undoing, ", "))
	}
	text += "."
	if w := v.Waiting; w != nil && w.For == "timer" {
		text += fmt.Sprintf(" It waits at step %s until %s, then goes on by itself: nothing to decide (cancel_workflow ends it sooner).", w.Step, w.Deadline.Format(time.RFC3339))
	} else if w != nil && w.For == "event" {
		text += fmt.Sprintf(" It waits at step %s for the event %s until %s: nothing to decide. Send it with send_event (step %s, event %s, a payload matching waiting.payload_schema; needs the scope %s), or the sender posts it to the step's callback URL.",
			w.Step, w.Event, w.Deadline.Format(time.RFC3339), w.Step, w.Event, w.Scope)
	} else if w != nil {
		acts := make([]string, len(w.Actions))
		for i, a := range w.Actions {
			acts[i] = string(a)
		}
		text += fmt.Sprintf(" It waits at step %s for %s (%s) until %s.", w.Step, w.For, strings.Join(acts, " or "), w.Deadline.Format(time.RFC3339))
		if w.NotBy != "" {
			text += " " + w.NotBy + " requested it and may not approve it."
		}
		if or := w.OrEnds(); or != "" {
			text += " " + or + " Its payload must match waiting.payload_schema."
		}
		if w.Failure != "" {
			text += " " + words.Sentence("The step failed: "+w.Failure)
		}
		if w.Inputs != nil {
			text += " An approve carries inputs (waiting.inputs is their JSON Schema)"
			if len(w.Rules) > 0 {
				text += " that must meet: " + strings.Join(w.Rules, "; ")
			}
			text += "."
		}
		if w.ReasonOnReject {
			text += " A reject needs a reason as its comment."
		}
		if len(w.Revisable) > 0 {
			text += " An approver may instead request_changes to " + strings.Join(w.Revisable, ", ") + "."
		}
		if c := w.Changes; c != nil {
			text += " " + words.Sentences(fmt.Sprintf("%s asked for changes (round %d of %d): %s", c.By, c.Round, c.MaxRounds, c.Comment),
				fmt.Sprintf("Only the requester, %s, may revise %s (action revise with parameters) or withdraw.", c.Requester, strings.Join(c.Revisable, ", ")))
		}
	} else if v.CurrentStep != "" && !v.Status.Terminal() {
		text += " Now at step " + v.CurrentStep + "."
	}
	if v.ClosedAt != nil {
		text += " It ended at " + v.ClosedAt.Format(time.RFC3339) + "."
	}
	if v.Error != "" {
		text += " " + words.Sentence("Error: "+v.Error)
	}
	return text
}

// cannotText says that a decision was not applied, why, and where the run stands now
// (when it could be read), each its own sentence.
func cannotText(action, workflowID, why string, now *workflows.StatusView) string {
	parts := []string{"cannot " + action + " " + workflowID + ": " + why}
	if now != nil {
		parts = append(parts, "Now: "+describeStatus(*now))
	}
	return words.Sentences(parts...)
}

// decided says what an accepted decision did, from the status the workflow answered with:
// "rejected, undoing 2 steps (provision_accounts, create_user_record)" or "approved, now
// at step grant_access".
func decided(action string, v workflows.StatusView) string {
	past := map[string]string{"approve": "approved", "reject": "rejected", "continue": "continued", "remind": "reminded its approvers",
		"request_changes": "sent back to its requester for changes", "reassign": "reassigned", "revise": "revised, back for approval", "withdraw": "withdrawn",
		"event": "taken"}[action]
	if past == "" {
		past = action + " done"
	}
	switch {
	case len(v.Undoing) > 0:
		return fmt.Sprintf("%s, undoing %s (%s)", v.Status, words.Plural(len(v.Undoing), "step"), strings.Join(v.Undoing, ", "))
	case v.Status.Terminal():
		return string(v.Status)
	case v.Waiting != nil:
		text := fmt.Sprintf("%s, now waiting at step %s for %s", past, v.Waiting.Step, v.Waiting.For)
		if w := v.Waiting; w.Quorum > 1 && len(w.Approvals) > 0 {
			text += fmt.Sprintf(" (%d of %d approvals so far)", len(w.Approvals), w.Quorum)
		}
		return text
	case v.CurrentStep != "":
		return past + ", now at step " + v.CurrentStep
	}
	return past
}

func (s *Server) advanceWorkflow(ctx context.Context, request mcp.CallToolRequest, args AdvanceArgs) (*mcp.CallToolResult, error) {
	return s.advance(ctx, request, args, true)
}

// advance sends a decision through the typed API. With confirm, a client that can ask
// its person is asked to confirm an approve or reject first; a decision the person just
// gave through elicitation needs no second asking.
func (s *Server) advance(ctx context.Context, request mcp.CallToolRequest, args AdvanceArgs, confirm bool) (*mcp.CallToolResult, error) {
	d := app.Decision{WorkflowID: args.WorkflowID, Action: workflows.Action(args.Action), Step: args.Step, Comment: args.Comment, Inputs: args.Inputs, Parameters: args.Parameters, ReassignTo: args.ReassignTo}
	if err := d.Check(); err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	if spec, _ := d.Action.Spec(); confirm && spec.Confirm && canElicit(ctx) {
		answer := confirmedIn(request)
		if answer != nil && !s.confirms.redeem(request.Params.RequestState, s.actor(ctx), args, time.Now()) {
			// An answer to no request this server issued (or to another decision, or one
			// used before) confirms nothing: the person is asked.
			answer = nil
		}
		if answer == nil {
			msg, inputs, err := s.describeAdvance(ctx, args)
			if err != nil {
				return s.toolError(ctx, "advance_workflow", args.WorkflowID, err), nil
			}
			return askToConfirm(msg, s.confirms.issue(s.actor(ctx), args, time.Now()), inputs, args.Inputs), nil
		}
		if !answer.yes {
			return mcp.NewToolResultError(fmt.Sprintf("the person at the client did not confirm: %s of %s was not sent; the workflow still waits", args.Action, args.WorkflowID)), nil
		}
		if answer.inputs != nil && d.Action == workflows.ActionApprove {
			// The person's values are the decision's: they may change what the agent gave.
			d.Inputs = answer.inputs
		}
	}
	var v workflows.StatusView
	err := s.withProgress(ctx, request, "waiting for workflow "+args.WorkflowID+" to apply "+args.Action, func() error {
		var err error
		v, err = s.app.Advance(ctx, s.caller(ctx), d)
		return err
	})
	switch {
	case refusal(err):
		return mcp.NewToolResultError(err.Error()), nil
	case err != nil:
		var now *workflows.StatusView
		if cur, qerr := s.app.Status(ctx, args.WorkflowID); qerr == nil {
			now = &cur
		}
		return mcp.NewToolResultError(cannotText(args.Action, args.WorkflowID, s.explain(ctx, args.WorkflowID, err), now)), nil
	}
	res := StatusResult{StatusView: v, UIURL: s.uiLink(v.WorkflowID)}
	return mcp.NewToolResultStructured(res, fmt.Sprintf("%s of %s by %s accepted: %s.", args.Action, v.WorkflowID, s.actor(ctx), decided(args.Action, v))), nil
}

func (s *Server) sendEvent(ctx context.Context, request mcp.CallToolRequest, args SendEventArgs) (*mcp.CallToolResult, error) {
	e := app.EventRequest{WorkflowID: args.WorkflowID, Step: args.Step, Event: args.Event, Payload: args.Payload}
	if err := e.Check(); err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	var v workflows.StatusView
	err := s.withProgress(ctx, request, "waiting for workflow "+args.WorkflowID+" to take the event "+args.Event, func() error {
		var err error
		v, err = s.app.SendEvent(ctx, s.caller(ctx), e)
		return err
	})
	switch {
	case refusal(err):
		return mcp.NewToolResultError(err.Error() + "; nothing changed"), nil
	case err != nil:
		return s.toolError(ctx, "send_event", args.WorkflowID, err), nil
	}
	res := StatusResult{StatusView: v, UIURL: s.uiLink(v.WorkflowID)}
	return mcp.NewToolResultStructured(res, fmt.Sprintf("event %s of %s by %s taken at step %s: %s.", args.Event, v.WorkflowID, s.actor(ctx), args.Step, decided("event", v))), nil
}

func (s *Server) listWorkflows(ctx context.Context, _ mcp.CallToolRequest, args ListArgs) (*mcp.CallToolResult, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	page, err := s.app.List(ctx, s.caller(ctx), app.ListRequest{Process: args.WorkflowType, Status: args.Status, Limit: args.Limit,
		Cursor: args.Cursor, IncludeTotal: args.IncludeTotal})
	if err != nil {
		return s.toolError(ctx, "list_workflows", "", err), nil
	}
	total, seen := page.Total, page.Seen
	res := ListResult{Items: []ListItem{}, Pagination: Pagination{Limit: cmp.Or(args.Limit, app.DefaultListLimit), Total: total, HasMore: page.HasMore, NextCursor: page.NextCursor}}
	for _, r := range page.Items {
		res.Items = append(res.Items, ListItem{RunSummary: r, UIURL: s.uiLink(r.WorkflowID)})
	}
	var lines []string
	if total != nil {
		lines = append(lines, fmt.Sprintf("%s match%s (showing %d).", words.Plural(int(*total), "workflow"),
			map[bool]string{true: "es", false: ""}[*total == 1], len(res.Items)))
	} else {
		lines = append(lines, fmt.Sprintf("More than %s match (showing %d; not counted, since counting every match takes longer than %s: call again with include_total true for the count).",
			words.Plural(int(seen), "workflow"), len(res.Items), s.app.ListCountBudget()))
	}
	for _, it := range res.Items {
		line := fmt.Sprintf("- %s: %s %s", it.WorkflowID, it.Type, it.Status)
		if it.CurrentStep != "" {
			line += ", step " + it.CurrentStep
		}
		if it.RequestedBy != "" {
			line += ", requested by " + it.RequestedBy
		}
		lines = append(lines, line)
	}
	if res.Pagination.HasMore {
		lines = append(lines, "More: call list_workflows again with cursor = pagination.next_cursor.")
	}
	return mcp.NewToolResultStructured(res, strings.Join(lines, "\n")), nil
}

// DefaultListCountBudget is how long list_workflows gives its count of the matches.
const DefaultListCountBudget = app.DefaultListCountBudget

func (s *Server) cancelWorkflow(ctx context.Context, _ mcp.CallToolRequest, args CancelArgs) (*mcp.CallToolResult, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	if err := s.app.Cancel(ctx, s.caller(ctx), args.WorkflowID, args.Reason); err != nil {
		return s.toolError(ctx, "cancel_workflow", args.WorkflowID, err), nil
	}
	res := CancelResult{WorkflowID: args.WorkflowID, Requested: true,
		Message: "the run stops at its current step, undoes what its completed steps changed, and ends cancelled; get_workflow_status shows when"}
	return mcp.NewToolResultStructured(res, "Cancellation of "+args.WorkflowID+" requested: "+res.Message), nil
}

// describeAdvance says what an approve or reject will do to what, for the person asked
// to confirm it. The workflow's details give the what.
// On an approve at a gate that declares inputs, inputs is their schema, which the
// person is asked to fill.
func (s *Server) describeAdvance(ctx context.Context, args AdvanceArgs) (msg string, inputs map[string]any, err error) {
	var st workflows.State
	if err := s.app.Query(ctx, args.WorkflowID, workflows.QueryDetails, &st); err != nil {
		return "", nil, err
	}
	if args.Action == string(workflows.ActionApprove) {
		if v, err := s.app.Status(ctx, args.WorkflowID); err == nil && v.Waiting != nil {
			inputs = v.Waiting.Inputs
		}
	}
	step := args.Step
	if step == "" {
		step = st.CurrentStep
	}
	effect := "the workflow continues with its next steps"
	switch workflows.Action(args.Action) {
	case workflows.ActionReject:
		effect = "the workflow ends rejected and undoes what it did"
	case workflows.ActionWithdraw:
		effect = "the workflow ends withdrawn and undoes what it did"
	case workflows.ActionRequestChanges:
		effect = "the workflow goes back to its requester, who may revise or withdraw it"
	}
	return fmt.Sprintf("%s step %q of %s %s (requested by %s, parameters %s)? Then %s.",
		strings.ToUpper(args.Action[:1])+args.Action[1:], step, st.Type, args.WorkflowID, st.RequestedBy, st.Parameters, effect), inputs, nil
}
