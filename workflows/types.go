// Package workflows defines Flowgate's durable processes — onboarding, deployment and
// audit — on one step engine with approval gates, together with the record, queries,
// signals and update through which clients watch and steer them.
//
// Workflow code here is deterministic: time comes from workflow.Now, concurrency from
// workflow.Go, and all I/O happens in activities.
package workflows

import (
	"encoding/json"
	"slices"
	"time"
)

// TaskQueue is the task queue Flowgate's workers poll.
const TaskQueue = "flowgate"

// Names of the handlers every Flowgate workflow registers. Clients use these constants.
const (
	// QueryStatus returns the compact record (StatusView).
	QueryStatus = "status"
	// QueryDetails returns the full record (State).
	QueryDetails = "details"
	// QueryFeed returns the run's transitions after a revision; argument since (int64),
	// answer Feed.
	QueryFeed = "feed"
	// SignalApprove approves the gate the workflow waits at; payload Decision.
	SignalApprove = "approve"
	// SignalReject rejects the gate the workflow waits at; payload Decision.
	SignalReject = "reject"
	// UpdateAdvance approves, rejects or continues, validated first; payload AdvanceRequest,
	// result StatusView.
	UpdateAdvance = "advance"
)

// Kind names a kind of workflow; it is also the workflow type registered with Temporal.
type Kind string

// The kinds of workflow Flowgate runs.
const (
	KindOnboarding Kind = "onboarding"
	KindDeployment Kind = "deployment"
	KindAudit      Kind = "audit"
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{KindOnboarding, KindDeployment, KindAudit}

// Status is where a workflow stands.
type Status string

// Statuses of a workflow.
const (
	StatusPending         Status = "pending"
	StatusInProgress      Status = "in_progress"
	StatusWaitingApproval Status = "waiting_approval"
	StatusWaitingInput    Status = "waiting_input"
	// StatusChangesRequested waits for the requester to revise or withdraw.
	StatusChangesRequested Status = "changes_requested"
	StatusCompleted        Status = "completed"
	StatusFailed           Status = "failed"
	StatusRejected         Status = "rejected"
	StatusCancelled        Status = "cancelled"
	StatusTimedOut         Status = "timed_out"
	// StatusWithdrawn ended when its requester withdrew it instead of revising.
	StatusWithdrawn Status = "withdrawn"
)

// Statuses lists every status in a stable order.
var Statuses = []Status{StatusPending, StatusInProgress, StatusWaitingApproval, StatusWaitingInput, StatusChangesRequested, StatusWaiting,
	StatusCompleted, StatusFailed, StatusRejected, StatusCancelled, StatusTimedOut, StatusWithdrawn}

// Terminal reports whether a workflow with this status has ended.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusRejected, StatusCancelled, StatusTimedOut, StatusWithdrawn:
		return true
	}
	return false
}

// StepKind says what a step does.
type StepKind string

// Kinds of step.
const (
	StepActivity StepKind = "activity"
	StepApproval StepKind = "approval"
)

// StepStatus is where one step stands.
type StepStatus string

// Statuses of a step.
const (
	StepPending     StepStatus = "pending"
	StepRunning     StepStatus = "running"
	StepWaiting     StepStatus = "waiting"
	StepCompleted   StepStatus = "completed"
	StepSkipped     StepStatus = "skipped"
	StepFailed      StepStatus = "failed"
	StepRejected    StepStatus = "rejected"
	StepTimedOut    StepStatus = "timed_out"
	StepCancelled   StepStatus = "cancelled"
	StepCompensated StepStatus = "compensated"
)

// Step is one step of a workflow and what happened to it.
type Step struct {
	Name       string     `json:"name"`
	Kind       StepKind   `json:"kind"`
	Status     StepStatus `json:"status"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Actor      string     `json:"actor,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	Error      string     `json:"error,omitempty"`
	Output     string     `json:"output,omitempty"`
	Attempts   int        `json:"attempts,omitempty"`
}

// Event is one entry of a workflow's audit log: what happened, who did it, when and why.
type Event struct {
	At     time.Time `json:"at"`
	Event  string    `json:"event"`
	Step   string    `json:"step,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Waiting describes the gate a workflow waits at.
type Waiting struct {
	Step string `json:"step"`
	// Summary is the run's summary as it stands (its definition's summary template,
	// filled for the run, again after a revision): what, for whom, requested by. It is
	// the requester's text: escape it where it is shown.
	Summary string `json:"summary,omitempty"`
	// For is "approval" (approve or reject), "input" (continue or reject after a failure),
	// "changes" (the requester revises or withdraws), "timer" (a wait step: nothing to
	// decide; Deadline is when it wakes) or "event" (a wait for the event Event, whose
	// payload PayloadSchema checks, until Deadline; send_event needs Scope).
	For      string    `json:"for"`
	Actions  []Action  `json:"actions"`
	Deadline time.Time `json:"deadline"`
	// NotBy names the actor who may not approve (the requester) when separation of duties is on.
	NotBy string `json:"not_by,omitempty"`
	// Approvers and Scope say who may decide at a gate of a process definition (names,
	// or anyone holding the scope; at an event wait, Scope is what send_event needs); Quorum is how many distinct approvals it needs and
	// Approvals who approved so far.
	Approvers []string `json:"approvers,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	Quorum    int      `json:"quorum,omitempty"`
	Approvals []string `json:"approvals,omitempty"`
	// Inputs is the JSON Schema (an object of primitive fields) of what an approve must
	// carry, Rules what its values must also meet, in words; ReasonOnReject says a reject
	// needs a comment.
	Inputs         map[string]any `json:"inputs,omitempty"`
	Rules          []string       `json:"rules,omitempty"`
	ReasonOnReject bool           `json:"reason_on_reject,omitempty"`
	// Changes, while the run waits for its requester's revision (For "changes"), say
	// what was asked, by whom, and what may change; Revisable, at an approval gate that
	// allows request_changes, are the parameters a revision may change.
	Changes   *ChangesAsked `json:"changes,omitempty"`
	Revisable []string      `json:"revisable,omitempty"`
	// Failure, at a failed step waiting for input, is why it failed.
	Failure string `json:"failure,omitempty"`
	// Event is the event a wait for one waits for, and PayloadSchema the JSON Schema its
	// payload must match (For "event").
	Event         string         `json:"event,omitempty"`
	PayloadSchema map[string]any `json:"payload_schema,omitempty"`
	// EventScope, at a gate with or_event, is what send_event needs to send Event, which
	// ends the gate as an approve would, whichever comes first (steps.GATE.output.won).
	EventScope string `json:"event_scope,omitempty"`
}

// MayApprove tells whether actor, holding scopes (all: every scope), may approve at this
// gate now: it is an approval gate, its approvers or scope admit them (a gate naming
// neither admits anyone), separation of duties does not bar them (NotBy), and they have
// not approved already. The run's validator has the last word; lists of what waits on
// someone (the inbox, approvals://pending) use this, the same rule.
func (w *Waiting) MayApprove(actor string, scopes []string, all bool) bool {
	if w == nil || w.For != "approval" {
		return false
	}
	key := actorKey(actor)
	if (w.NotBy != "" && actorKey(w.NotBy) == key) || slices.ContainsFunc(w.Approvals, func(a string) bool { return actorKey(a) == key }) {
		return false
	}
	if len(w.Approvers) == 0 && w.Scope == "" {
		return true
	}
	return admits(w.Approvers, w.Scope, actor, scopes, all)
}

// StatusView is the compact record returned by the status query and the advance update.
type StatusView struct {
	WorkflowID string `json:"workflow_id"`
	// FirstRunID is the run id of the first run of the workflow id (the same across
	// continue-as-new): what approval links are bound to.
	FirstRunID     string `json:"first_run_id,omitempty"`
	Type           Kind   `json:"type"`
	Status         Status `json:"status"`
	Progress       int    `json:"progress"`
	CurrentStep    string `json:"current_step,omitempty"`
	StepsCompleted int    `json:"steps_completed"`
	TotalSteps     int    `json:"total_steps"`
	RequestedBy    string `json:"requested_by"`
	// StartedAt, UpdatedAt and ClosedAt are when the run started, last changed and ended;
	// list_workflows uses the same started_at and closed_at.
	StartedAt time.Time  `json:"started_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	Waiting   *Waiting   `json:"waiting,omitempty"`
	// Undoing lists the completed steps still being undone after the run was rejected,
	// timed out, cancelled or failed (Status is already that final status), last first.
	Undoing []string `json:"undoing,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Process names the definition a run of a process definition follows: name, version
	// and the hash of the content it started with.
	Process *ProcessRef `json:"process,omitempty"`
	// Revision counts the run's transitions (Transition): what a listener that knows
	// this view has heard, to resume from with the feed query.
	Revision int64 `json:"revision,omitempty"`
}

// State is the full record of a workflow, returned by the details query and as the
// workflow's result.
type State struct {
	StatusView
	Parameters json.RawMessage   `json:"parameters"`
	Steps      []Step            `json:"steps"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	History    []Event           `json:"history"`
	// IgnoredSignals counts the signals the run ignored; the history lists the first
	// MaxRecordedIgnoredSignals of them.
	IgnoredSignals int `json:"ignored_signals,omitempty"`
	// Transitions are the last MaxTransitions transitions of the run, oldest first: the
	// feed its listeners read (QueryFeed). They live here so continue-as-new carries them.
	Transitions []Transition `json:"transitions,omitempty"`
}

// Events returns the entries of the audit log with the given event name, in order.
func (s State) Events(name string) []Event {
	var out []Event
	for _, e := range s.History {
		if e.Event == name {
			out = append(out, e)
		}
	}
	return out
}

// Action is what an advance asks of a waiting workflow.
type Action string

// Actions of an advance.
const (
	ActionApprove  Action = "approve"
	ActionReject   Action = "reject"
	ActionContinue Action = "continue"
	ActionRemind   Action = "remind"
	// ActionRequestChanges, ActionRevise and ActionWithdraw send a run back to its
	// requester, and answer that (changes.go).
	ActionRequestChanges Action = "request_changes"
	ActionRevise         Action = "revise"
	ActionWithdraw       Action = "withdraw"
	// ActionReassign hands a waiting gate to other people (reassign.go).
	ActionReassign Action = "reassign"
)

// ActionSpec is what an action at a gate is: the gates that offer it, the scope
// Flowgate's API asks of its caller, and whether it decides. MCP, tasks, the approval
// page and the inbox read ActionSpecs, so an action is one entry here and its handling
// at the gate (gate.go).
type ActionSpec struct {
	Name Action
	// At are the kinds of gate that offer it: approval, input.
	At []string
	// By is who Flowgate's API lets ask for it, any of them (the gate then checks who may).
	By []Role
	// Decides is set on actions that end the wait; the others leave the gate waiting.
	Decides bool
	// Confirm is set on actions a client that can ask its person confirms first.
	Confirm bool
	// Does says what it does, for people and agents.
	Does string
}

// Role is who may ask for an action through Flowgate's API: the application layer maps
// each to a scope.
type Role string

// Roles of an action.
const (
	// Approvers decide at gates (the approve scope).
	Approvers Role = "approvers"
	// Operators run processes: start, continue, remind (the write scope).
	Operators Role = "operators"
	// Admins run Flowgate itself (the admin scope).
	Admins Role = "admins"
)

// ActionSpecs are the actions of an advance, in a stable order.
var ActionSpecs = []ActionSpec{
	{Name: ActionApprove, At: []string{"approval"}, By: []Role{Approvers}, Decides: true, Confirm: true,
		Does: "approve the gate (one approval of its quorum)"},
	{Name: ActionReject, At: []string{"approval", "input"}, By: []Role{Approvers}, Decides: true, Confirm: true,
		Does: "end the run, undoing what was done"},
	{Name: ActionContinue, At: []string{"input"}, By: []Role{Operators}, Decides: true,
		Does: "run the failed step again"},
	{Name: ActionRemind, At: []string{"approval"}, By: []Role{Operators, Approvers},
		Does: "tell the gate's approvers again now (the requester or an approver; at most once an hour, and only where notification channels are configured)"},
	{Name: ActionReassign, At: []string{"approval"}, By: []Role{Approvers, Admins},
		Does: "hand the gate to other people (reassign_to: approvers and/or a scope), with a reason; an approver the gate names or an admin; the deadline and the approvals so far stay"},
	{Name: ActionRequestChanges, At: []string{"approval"}, By: []Role{Approvers}, Decides: true, Confirm: true,
		Does: "send the run back to its requester with what to change (the comment), at a gate whose waiting.actions offer it; the approvals so far no longer count"},
	{Name: ActionRevise, At: []string{"changes"}, By: []Role{Operators}, Decides: true,
		Does: "as the requester, give new values for the revisable parameters (parameters); the gate opens again as a new round"},
	{Name: ActionWithdraw, At: []string{"changes"}, By: []Role{Operators}, Decides: true, Confirm: true,
		Does: "as the requester, end the run instead of revising, undoing what it did"},
}

// RemindInterval is how long after people were told of a gate a remind may tell them
// again: an agent cannot page approvers in a loop.
const RemindInterval = time.Hour

// Actions lists every action in a stable order.
var Actions = func() []Action {
	out := make([]Action, len(ActionSpecs))
	for i, s := range ActionSpecs {
		out[i] = s.Name
	}
	return out
}()

// Spec is the action's spec; ok is false for an unknown action.
func (a Action) Spec() (ActionSpec, bool) {
	for _, s := range ActionSpecs {
		if s.Name == a {
			return s, true
		}
	}
	return ActionSpec{}, false
}

// Decision is the payload of the approve and reject signals.
type Decision struct {
	// Step is the step the sender saw waiting; empty means whatever step waits now.
	Step    string `json:"step,omitempty"`
	Actor   string `json:"actor"`
	Comment string `json:"comment,omitempty"`
	// Inputs are the decision's inputs, at a gate that declares them.
	Inputs map[string]any `json:"inputs,omitempty"`
}

// AdvanceRequest is the payload of the advance update.
type AdvanceRequest struct {
	Action Action `json:"action"`
	// Step is the step the caller saw waiting; when set, an advance of another step is refused.
	Step    string `json:"step,omitempty"`
	Actor   string `json:"actor"`
	Comment string `json:"comment,omitempty"`
	// Inputs are what an approve carries at a gate that declares inputs (Waiting.Inputs).
	Inputs map[string]any `json:"inputs,omitempty"`
	// Parameters are a revise's new values of revisable parameters.
	Parameters map[string]any `json:"parameters,omitempty"`
	// Reassign is who a reassign hands the gate to.
	Reassign *Reassignment `json:"reassign,omitempty"`
	// Scopes are the actor's verified scopes; a gate that admits a scope checks them.
	Scopes []string `json:"scopes,omitempty"`
	// AllScopes says the caller holds every scope: the MCP server runs without
	// authentication (loopback, one local identity).
	AllScopes bool `json:"all_scopes,omitempty"`
	// Nonce, Expires, KeyID and Signature sign the decision (DecisionKeys.Sign): a run
	// whose Request.RequireSignedDecisions is set refuses a decision without a valid,
	// unexpired, unused signature.
	Nonce     string    `json:"nonce,omitempty"`
	Expires   time.Time `json:"expires,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
	Signature string    `json:"signature,omitempty"`
}

// Request holds what every workflow start carries besides its kind's parameters.
type Request struct {
	// RequestedBy is the authenticated identity that started the workflow.
	RequestedBy string `json:"requested_by"`
	// ApprovalTimeout is how long each gate waits before the workflow times out; 0 means
	// DefaultApprovalTimeout.
	ApprovalTimeout time.Duration `json:"approval_timeout,omitempty"`
	// AllowSelfApproval turns separation of duties off: the requester may approve.
	AllowSelfApproval bool `json:"allow_self_approval,omitempty"`
	// RequireSignedDecisions accepts only decisions Flowgate signed after verifying who
	// made them (the MCP server with authentication on sets it): unsigned updates and every
	// signal are refused, so nobody with access to Temporal can decide under another name.
	RequireSignedDecisions bool `json:"require_signed_decisions,omitempty"`
	// ContinueAsNewAfter is the history length, in events, past which a run of a process
	// definition waiting at an approval gate goes on as a new run of the same workflow id
	// (Resume); 0 means DefaultContinueAsNewAfter.
	ContinueAsNewAfter int `json:"continue_as_new_after,omitempty"`
}

// DefaultApprovalTimeout is how long a gate waits when the request does not say.
const DefaultApprovalTimeout = 72 * time.Hour
