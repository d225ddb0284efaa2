package workflows

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// Search attributes every Flowgate workflow keeps current, so the Temporal UI and
// list_workflows can filter on them.
var (
	AttrType        = temporal.NewSearchAttributeKeyKeyword("FlowgateType")
	AttrStatus      = temporal.NewSearchAttributeKeyKeyword("FlowgateStatus")
	AttrStep        = temporal.NewSearchAttributeKeyKeyword("FlowgateStep")
	AttrRequestedBy = temporal.NewSearchAttributeKeyKeyword("FlowgateRequestedBy")
)

// SearchAttributeNames lists the custom search attributes (all Keyword) that the Temporal
// namespace must have registered.
var SearchAttributeNames = []string{"FlowgateType", "FlowgateStatus", "FlowgateStep", "FlowgateRequestedBy"}

// Error types a workflow ends with when it does not complete, so clients and the UI can
// tell the outcomes apart.
const (
	ErrTypeStepFailed      = "StepFailed"
	ErrTypeApprovalTimeout = "ApprovalTimedOut"
	// ErrTypeRejected ends a rejected run, so the Temporal UI shows it as Failed (red) with
	// this type instead of a green Completed that reads as a success at a glance.
	ErrTypeRejected = "Rejected"
	// ErrTypeWithdrawn ends a run its requester withdrew.
	ErrTypeWithdrawn = "Withdrawn"
)

// changeRejectedFails gates ending a rejected run with a Rejected failure; runs started
// before it complete as they did.
const changeRejectedFails = "rejected-run-fails"

// errRejected, errTimedOut and errFailed end a run; runner.finish turns them into a status.
var (
	errRejected = errors.New("rejected")
	// errWithdrawn ends a run its requester withdrew instead of revising.
	errWithdrawn = errors.New("withdrawn")
	errTimedOut  = errors.New("timed out")
)

type stepFailure struct {
	step string
	err  error
}

func (f *stepFailure) Error() string { return fmt.Sprintf("step %s failed: %v", f.step, f.err) }

// compensation undoes a completed step when the run does not complete.
type compensation struct {
	step string
	undo func(ctx workflow.Context) error
}

// runner is the step engine shared by every kind: it keeps the record, answers queries,
// validates and applies decisions, runs steps, and compensates.
type runner struct {
	state State
	req   Request
	gate  *gate
	// timer is the wait step the run is held at, nil when it is not at one.
	timer *timerWait
	// event is the event wait the run is held at (event.go); got is the event being
	// applied there, eventsTaken counts those applied. eventSteps are the run's event
	// waits, and callbacks the nonce of each one's callback URL, once made.
	event          *eventWait
	got            *EventRequest
	eventsTaken    int
	eventSteps     map[string]bool
	callbacks      map[string]activities.CallbackOutput
	decision       *AdvanceRequest
	decisionsTaken int
	compensations  []compensation
	// behaviours are what the run chose when it started: kept to its end.
	behaviours
	// published holds what was last upserted (UpsertOnChange).
	published [2]string
	// dirty is set by publish and cleared by flush (UpsertOncePerTask).
	dirty bool
	// localPending counts the local activities in flight (see startFlusher).
	localPending int
	// extraDetails is the definition's details text, shown in the UI below the status.
	extraDetails string
	// timedOutAfter is the wait of the gate that timed out, when it is not the request's.
	timedOutAfter time.Duration
	// usedNonces are the nonces of the signed decisions applied: each is single-use.
	usedNonces map[string]bool
	// verifier verifies signed decisions: the worker's (SignedOnly), nil without keys.
	verifier Verifier
	// continues lets a run waiting at an approval gate continue as new when its history
	// passed its bound (changeContinueAsNewAtGate); runs counts the runs of the workflow id.
	continues bool
	runs      int
	// noChannels is set when the last notice found no channel configured: a remind would
	// reach nobody.
	noChannels bool
	// told is set once a channel was told of a gate, so the run's end is told too.
	// summary is the run's one-line summary, for notices.
	told    bool
	summary string
	// notifying counts the gate notifications in flight: a run does not continue as new
	// while one is, so no one goes untold.
	notifying int
	// clock holds the timers of the gate the run waits at, on runs with GateTimers.
	clock *gateClock
}

// behaviours are what a run chose when it started, each through workflow.GetVersion (or
// all at once through changeBundle). A run keeps them to its end: Resume carries them
// whole into the next run of a run that continued as new (their JSON names are those the
// fields had when Resume listed them one by one, so recorded inputs decode the same).
type behaviours struct {
	// UpsertOnChange skips search-attribute upserts that would change nothing (version 1
	// of changeUpsertOnChange).
	UpsertOnChange bool `json:"upsert_on_change,omitempty"`
	// UpsertOncePerTask upserts search attributes once per workflow task, with where the
	// run stands when the task's work is done (version 1 of changeUpsertOncePerTask).
	UpsertOncePerTask bool `json:"upsert_once_per_task,omitempty"`
	// Bundled is set on runs that took every change up to changeBundle at once.
	Bundled bool `json:"bundled,omitempty"`
	// LocalReads runs a definition's reads as local activities (with Bundled).
	LocalReads bool `json:"local_reads,omitempty"`
	// Notifies tells the configured channels of gates (version 1 of changeNotify).
	Notifies bool `json:"notifies,omitempty"`
	// UnsignedHoldsScopes lets a signal on a run without authentication pass a gate's
	// scope, as every caller of an MCP server without authentication holds every scope.
	UnsignedHoldsScopes bool `json:"unsigned_holds_scopes,omitempty"`
	// CostLimited stops each CEL expression at ConditionCostLimit, and StrictActors
	// compares actors folded (one person however their name is cased, for a quorum and
	// for separation of duties), refuses actor names CheckName refuses and cleans the
	// comments of decisions (CleanText): both are version 1 of changeCostAndActors.
	CostLimited  bool `json:"cost_limited,omitempty"`
	StrictActors bool `json:"strict_actors,omitempty"`
	// RunKeys names the run's first run in its idempotency keys and in {{run.key}}
	// (version 1 of changeRunKeys).
	RunKeys bool `json:"run_keys,omitempty"`
	// InputGates makes a failed step's wait for input a gate like an approval: it tells
	// the channels, and the run continues as new there when its history is full
	// (version 2 of changeBundle).
	InputGates bool `json:"input_gates,omitempty"`
	// GateTimers starts a gate's deadline and reminder timers once for the gate, instead
	// of once per wait for an action, so a quorum gate approved by two people shows one
	// deadline timer in the timeline (version 3 of changeBundle).
	GateTimers bool `json:"gate_timers,omitempty"`
}

// changeUpsertOnChange gates the change that upserts search attributes only when the
// status or step changes; runs started before it replay with an upsert per transition.
const changeUpsertOnChange = "upsert-on-change"

// changeUpsertOncePerTask gates upserting search attributes once per workflow task
// instead of at each transition; runs started before replay with an upsert per change.
const changeUpsertOncePerTask = "upsert-once-per-task"

// changeBundle is one marker for runs started with every change before it, whose value
// grows with each bundle of changes (so a new behaviour costs no marker of its own, and
// no search-attribute upsert):
//   - version 1 takes changeUpsertOnChange, changeNotify, changeUpsertOncePerTask,
//     changeUnsignedHoldsScopes, changeContinueAsNewAtGate and changeRejectedFails, and
//     runs a definition's reads (GET calls, read statements, file parses) as local
//     activities;
//   - version 2 adds InputGates;
//   - version 3 adds GateTimers.
const changeBundle = "bundle-2026-12"

// bundleVersion is the latest version of changeBundle.
const bundleVersion = 3

// newRunner builds the record with every step pending and registers the handlers.
func newRunner(ctx workflow.Context, kind Kind, req Request, params any, steps []Step) (*runner, error) {
	info := workflow.GetInfo(ctx)
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	if req.ApprovalTimeout <= 0 {
		req.ApprovalTimeout = DefaultApprovalTimeout
	}
	now := workflow.Now(ctx).UTC()
	for i := range steps {
		steps[i].Status = StepPending
	}
	r := &runner{req: req, state: State{
		StatusView: StatusView{
			WorkflowID:  info.WorkflowExecution.ID,
			FirstRunID:  firstRunID(ctx),
			Type:        kind,
			Status:      StatusPending,
			TotalSteps:  len(steps),
			RequestedBy: req.RequestedBy,
			StartedAt:   info.WorkflowStartTime.UTC(),
			UpdatedAt:   now,
		},
		Parameters: raw,
		Steps:      steps,
		Outputs:    map[string]string{},
		History:    []Event{},
	}}
	// A run started now takes every change below at once, through one marker: each
	// GetVersion also upserts a search attribute, which is a visibility write. Runs
	// started before the bundle replay through the changes one by one, as they began.
	if bundle := workflow.GetVersion(ctx, changeBundle, workflow.DefaultVersion, bundleVersion); bundle >= 1 {
		r.Bundled, r.UpsertOnChange, r.Notifies, r.LocalReads = true, true, true, true
		r.InputGates = bundle >= 2
		r.GateTimers = bundle >= 3
		r.startFlusher(ctx, true)
	} else {
		r.UpsertOnChange = workflow.GetVersion(ctx, changeUpsertOnChange, workflow.DefaultVersion, 1) == 1
		r.Notifies = workflow.GetVersion(ctx, changeNotify, workflow.DefaultVersion, 1) == 1
		r.startFlusher(ctx, workflow.GetVersion(ctx, changeUpsertOncePerTask, workflow.DefaultVersion, 1) == 1)
	}
	// A worker that holds decision keys (SignedOnly) takes only signed decisions on the
	// runs it starts, whatever their input says: a raw Temporal client could otherwise
	// start a run that says require_signed_decisions: false and decide it with a signal
	// that claims any name. What the worker held is recorded, so replay does not ask again.
	if !r.req.RequireSignedDecisions && workflow.GetVersion(ctx, changeSignedWhenKeysHeld, workflow.DefaultVersion, 1) == 1 {
		held := verifierOf(ctx) != nil
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return held }).Get(&held); err != nil {
			return nil, err
		}
		r.req.RequireSignedDecisions = held
	}
	r.summary = fmt.Sprintf("%s %s, requested by %s", kind, info.WorkflowExecution.ID, req.RequestedBy)
	r.log(ctx, "started", "", req.RequestedBy, "")
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	r.publish(ctx)
	return r, nil
}

// changeSignedWhenKeysHeld gates signed-only decisions on every run a worker with
// decision keys starts; runs started before take what their input says, as they did.
const changeSignedWhenKeysHeld = "signed-only-when-worker-holds-keys"

func (r *runner) setup(ctx workflow.Context) error {
	r.verifier = verifierOf(ctx)
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (StatusView, error) {
		return r.view(), nil
	}, workflow.QueryHandlerOptions{Description: "The compact record: status, progress, current step, what it waits for."}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryDetails, func() (State, error) {
		return r.state, nil
	}, workflow.QueryHandlerOptions{Description: "The full record: parameters, every step and the audit history."}); err != nil {
		return err
	}
	if err := r.registerFeed(ctx); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAdvance,
		func(ctx workflow.Context, req AdvanceRequest) (StatusView, error) {
			if req.Nonce != "" {
				if r.usedNonces == nil {
					r.usedNonces = map[string]bool{}
				}
				r.usedNonces[req.Nonce] = true
			}
			if r.StrictActors {
				req.Comment = CleanText(req.Comment)
			}
			r.decision = &req
			taken := r.decisionsTaken
			// Wait until the main loop has applied the decision and moved on to its next
			// step, so the caller sees the new status.
			if err := workflow.Await(ctx, func() bool { return r.decisionsTaken > taken }); err != nil {
				return StatusView{}, err
			}
			return r.view(), nil
		},
		workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req AdvanceRequest) error {
				if err := r.checkSigned(ctx, req); err != nil {
					return err
				}
				return r.check(ctx, req)
			},
			Description: "Approve or reject the gate the workflow waits at, or continue a failed step. Returns the new status.",
		}); err != nil {
		return err
	}
	for _, sig := range []struct {
		name   string
		action Action
	}{{SignalApprove, ActionApprove}, {SignalReject, ActionReject}} {
		ch := workflow.GetSignalChannelWithOptions(ctx, sig.name, workflow.SignalChannelOptions{
			Description: "Decision {step, actor, comment} on the approval gate the workflow waits at.",
		})
		action := sig.action
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				// Received raw and decoded here, so a payload that is not a decision leaves
				// a trace in the record instead of only a worker log line.
				var raw json.RawMessage
				ch.Receive(ctx, &raw)
				if r.req.RequireSignedDecisions {
					r.ignored(ctx, "", "", fmt.Sprintf("%s signal ignored: this run accepts only decisions whose identity Flowgate verified (advance_workflow through the MCP server); a signal cannot carry one", action))
					continue
				}
				var d Decision
				if err := json.Unmarshal(raw, &d); err != nil {
					r.ignored(ctx, "", "", fmt.Sprintf("%s signal ignored: its input %s is not a decision; send {\"step\": \"<waiting step>\", \"actor\": \"<your name>\", \"comment\": \"<why>\"}", action, clip(raw)))
					continue
				}
				req := AdvanceRequest{Action: action, Step: d.Step, Actor: strings.TrimSpace(d.Actor), Comment: d.Comment, Inputs: d.Inputs, AllScopes: r.UnsignedHoldsScopes}
				if err := r.check(ctx, req); err != nil {
					r.ignored(ctx, d.Step, req.Actor, fmt.Sprintf("%s signal ignored: %v", action, err))
					continue
				}
				if r.StrictActors {
					req.Comment = CleanText(req.Comment)
				}
				r.decision = &req
			}
		})
	}
	if err := r.setupEvents(ctx); err != nil {
		return err
	}
	workflow.Go(ctx, r.traceUnknownSignals)
	return nil
}

// ignored records a signal the run ignored: in its history while it has listed fewer
// than MaxRecordedIgnoredSignals, and in its count always.
func (r *runner) ignored(ctx workflow.Context, step, actor, detail string) {
	r.state.IgnoredSignals++
	if r.state.IgnoredSignals <= MaxRecordedIgnoredSignals {
		r.log(ctx, "signal_ignored", step, actor, detail)
		return
	}
	r.state.UpdatedAt = workflow.Now(ctx).UTC()
}

// traceUnknownSignals records every signal whose name the workflow does not take (such
// as "Approve"), as ignored with the reason, so the run's record shows it was sent.
func (r *runner) traceUnknownSignals(ctx workflow.Context) {
	traced := map[string]bool{SignalApprove: true, SignalReject: true}
	for {
		var names []string
		if err := workflow.Await(ctx, func() bool {
			names = names[:0]
			for _, n := range workflow.GetUnhandledSignalNames(ctx) {
				if !traced[n] {
					names = append(names, n)
				}
			}
			return len(names) > 0
		}); err != nil {
			return
		}
		slices.Sort(names) // the SDK lists them in map order
		for _, name := range names {
			traced[name] = true
			ch := workflow.GetSignalChannel(ctx, name)
			workflow.Go(ctx, func(ctx workflow.Context) {
				for {
					var raw json.RawMessage
					ch.Receive(ctx, &raw)
					r.ignored(ctx, "", "", fmt.Sprintf("signal %q ignored: Flowgate workflows take the signals %q and %q (lower case) with {\"step\", \"actor\", \"comment\"}, or the advance update", name, SignalApprove, SignalReject))
				}
			})
		}
	}
}

// clip shortens a payload for the record.
func clip(raw []byte) string {
	const max = 80
	if len(raw) == 0 {
		return "(empty)"
	}
	if len(raw) > max {
		return string(raw[:max]) + "…"
	}
	return string(raw)
}

// checkSigned refuses, on a run that requires signed decisions, a decision that is not
// signed by a key this worker holds, is altered, has expired or was used before. It runs
// in the update's validator only, which Temporal does not run again on replay.
func (r *runner) checkSigned(ctx workflow.Context, req AdvanceRequest) error {
	if req.Nonce != "" && r.usedNonces[req.Nonce] {
		// On any run: an approval link decides once.
		return errors.New("this signed decision was already applied once (an approval link decides once); a replayed decision is refused")
	}
	if !r.req.RequireSignedDecisions {
		return nil
	}
	if r.verifier == nil {
		return errors.New("this run accepts only signed decisions, and the worker has no decision keys to verify them (give it --decision-keys, the same file as the MCP server's)")
	}
	if err := r.verifier.Verify(r.state.WorkflowID, req, workflow.Now(ctx)); err != nil {
		return err
	}
	return nil
}

// view returns the compact record with what the workflow waits for.
func (r *runner) view() StatusView {
	v := r.state.StatusView
	// The update's answer is encoded later: it must not share what compensation changes.
	v.Undoing = slices.Clone(v.Undoing)
	if r.gate != nil {
		v.Waiting = r.waiting()
	} else if r.timer != nil {
		v.Waiting = r.timer.waiting()
	} else if r.event != nil {
		v.Waiting = r.event.waiting()
	}
	if v.Waiting != nil {
		v.Waiting.Summary = CleanText(r.summary)
	}
	return v
}

func (r *runner) step(name string) *Step {
	for i := range r.state.Steps {
		if r.state.Steps[i].Name == name {
			return &r.state.Steps[i]
		}
	}
	panic("workflows: unknown step " + name) // a programming error in this package
}

// log appends an entry to the record; its actor and detail are made safe to show
// (CleanText), whatever a decision or a service answered.
func (r *runner) log(ctx workflow.Context, event, step, actor, detail string) {
	now := workflow.Now(ctx).UTC()
	r.state.UpdatedAt = now
	r.state.History = append(r.state.History, Event{At: now, Event: event, Step: step, Actor: CleanText(actor), Detail: CleanText(detail)})
}

// publish recomputes progress, records a transition in the run's feed when listeners
// should hear of one, and pushes status, step and details to Temporal's visibility, so
// the UI and list queries show where the run stands.
func (r *runner) publish(ctx workflow.Context) {
	done := 0
	for _, s := range r.state.Steps {
		if s.Status == StepCompleted || s.Status == StepSkipped {
			done++
		}
	}
	r.state.StepsCompleted = done
	if r.state.TotalSteps > 0 {
		r.state.Progress = done * 100 / r.state.TotalSteps
	}
	r.record(ctx)
	if r.UpsertOncePerTask {
		r.dirty = true
	} else {
		r.upsert(ctx)
	}
	workflow.SetCurrentDetails(ctx, r.details())
}

// upsert writes status, step, type and requester to the run's search attributes, unless
// (on runs that upsert on change) status and step are what was last written.
func (r *runner) upsert(ctx workflow.Context) {
	now := [2]string{string(r.state.Status), r.state.CurrentStep}
	if r.UpsertOnChange && now == r.published {
		return
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		AttrType.ValueSet(string(r.state.Type)),
		AttrStatus.ValueSet(string(r.state.Status)),
		AttrStep.ValueSet(r.state.CurrentStep),
		AttrRequestedBy.ValueSet(r.state.RequestedBy),
	)
	r.published = now
}

// startFlusher makes the run upsert its search attributes once per workflow task when
// coalesce is set: a coroutine that wakes when publish marked the record changed runs
// after the task's other coroutines have blocked, so it writes where the run stands
// then. It waits while a local activity is pending, since the task goes on when that
// returns. It lives on a disconnected context, so compensations after a cancellation
// still show in visibility.
func (r *runner) startFlusher(ctx workflow.Context, coalesce bool) {
	r.UpsertOncePerTask = coalesce
	if !coalesce {
		return
	}
	fctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(fctx, func(ctx workflow.Context) {
		for workflow.Await(ctx, func() bool { return r.dirty && r.localPending == 0 }) == nil {
			r.flush(ctx)
		}
	})
}

// flush upserts what publish marked changed, now: before the run closes or continues as
// new, whose commands must follow it.
func (r *runner) flush(ctx workflow.Context) {
	if r.dirty {
		r.dirty = false
		r.upsert(ctx)
	}
}

// details is the markdown the Temporal UI shows as the run's current details.
func (r *runner) details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Status:** %s · %d%% (%d/%d steps)\n\n", r.state.Status, r.state.Progress, r.state.StepsCompleted, r.state.TotalSteps)
	if r.gate != nil {
		if r.gate.kind == gateApproval {
			fmt.Fprintf(&b, "**Waiting for approval** at `%s` until %s.\n\n", r.gate.step, r.gate.deadline.Format(time.RFC3339))
			if p := r.gate.policy; p != nil {
				fmt.Fprintf(&b, "**Who decides:** %s; %d of %d approvals so far.\n\n", p.who(), len(p.Approvals), p.Quorum)
			}
			if r.req.RequireSignedDecisions {
				b.WriteString("Decide through Flowgate (advance_workflow on its MCP server): this run accepts only decisions whose identity Flowgate verified, so the UI is for inspection.")
			} else {
				inputs := ""
				if r.gate.inputs != nil {
					inputs = `, "inputs": {` + r.gate.inputs.describe() + `}`
				}
				b.WriteString("Approve from the UI: Send a Signal → name `approve` (or `reject`), input `{\"step\": \"" + r.gate.step + "\", \"actor\": \"your-name\", \"comment\": \"why\"" + inputs + "}`")
				if !r.selfApproval() {
					fmt.Fprintf(&b, " — any actor but %s.", r.req.RequestedBy)
				}
			}
		} else {
			fmt.Fprintf(&b, "**Waiting for input**: step `%s` failed: %s\n\nSend the `advance` update with action `continue` to retry it, or `reject` to end the run.", r.gate.step, r.step(r.gate.step).Error)
		}
	}
	if t := r.timer; t != nil {
		fmt.Fprintf(&b, "**Waiting** at `%s` until %s: a timer; the run goes on by itself then (cancel it to end it sooner).\n\n", t.step, t.until.Format(time.RFC3339))
	}
	if e := r.event; e != nil && r.gate != nil {
		fmt.Fprintf(&b, "\n\n**Or the event** `%s` ends the gate first: send it with send_event (scope %s) or through the step's callback URL; whichever comes first wins.\n\n", e.name, e.plan.scope)
	} else if e != nil {
		fmt.Fprintf(&b, "**Waiting for the event** `%s` at `%s` until %s: send it with send_event (scope %s) or through the step's callback URL; with none by then: %s.\n\n", e.name, e.step, e.deadline.Format(time.RFC3339), e.plan.scope, e.plan.onTimeout)
	}
	if r.state.Status.Terminal() {
		// A run that ended says who decided what, so its page answers "who approved?"
		// without opening the record.
		for _, st := range r.state.Steps {
			if st.Kind != StepApproval || st.Actor == "" {
				continue
			}
			fmt.Fprintf(&b, "- `%s`: %s by %s", st.Name, cmp.Or(st.Output, string(st.Status)), st.Actor)
			if st.Comment != "" {
				fmt.Fprintf(&b, " — %s", st.Comment)
			}
			b.WriteString("\n")
		}
	}
	if r.extraDetails != "" {
		b.WriteString("\n\n" + r.extraDetails)
	}
	return b.String()
}

func (r *runner) begin(ctx workflow.Context, name string, status Status, stepStatus StepStatus) {
	s := r.step(name)
	now := workflow.Now(ctx).UTC()
	if s.StartedAt == nil {
		s.StartedAt = &now
	}
	s.Status = stepStatus
	s.Error = ""
	r.state.Status = status
	r.state.CurrentStep = name
	r.log(ctx, "step_started", name, "", string(s.Kind))
	r.publish(ctx)
}

// finishStep records how a step ended; actor, comment, output and error are made safe to
// show (CleanText).
func (r *runner) finishStep(ctx workflow.Context, name string, status StepStatus, actor, comment, output, errMsg string) {
	actor, comment, output, errMsg = CleanText(actor), CleanText(comment), CleanText(output), CleanText(errMsg)
	s := r.step(name)
	now := workflow.Now(ctx).UTC()
	s.FinishedAt = &now
	s.Status = status
	s.Actor, s.Comment = actor, comment
	if output != "" {
		s.Output = output
	}
	s.Error = errMsg
	detail := output
	if errMsg != "" {
		detail = errMsg
	}
	if comment != "" {
		detail = strings.TrimSpace(detail + " — " + comment)
	}
	r.log(ctx, "step_"+string(status), name, actor, detail)
}

// skip records a step that does not apply to this run, and why.
func (r *runner) skip(ctx workflow.Context, name, why string) {
	r.finishStep(ctx, name, StepSkipped, "", "", why, "")
	r.publish(ctx)
}

// approval waits at an approval gate. It returns errRejected or errTimedOut when the
// run must end.
func (r *runner) approval(ctx workflow.Context, name string) (approver string, err error) {
	r.begin(ctx, name, StatusWaitingApproval, StepWaiting)
	d, ok, err := r.awaitAt(ctx, name, gateApproval)
	switch {
	case err != nil:
		r.finishStep(ctx, name, StepCancelled, "", "", "", "cancelled while waiting")
		return "", err
	case !ok:
		r.finishStep(ctx, name, StepTimedOut, "", "", "", fmt.Sprintf("no decision within %s", r.req.ApprovalTimeout))
		return "", errTimedOut
	case d.Action == ActionReject:
		r.finishStep(ctx, name, StepRejected, d.Actor, d.Comment, "rejected", "")
		return d.Actor, errRejected
	}
	r.finishStep(ctx, name, StepCompleted, d.Actor, d.Comment, "approved", "")
	r.state.Status = StatusInProgress
	r.publish(ctx)
	return d.Actor, nil
}

// activityStep runs one activity step. When the activity fails past its retries the run
// waits for input: continue runs the step again, reject ends the run as failed. When
// final is set, a failure ends the run at once.
func (r *runner) activityStep(ctx workflow.Context, name string, final bool, run func(ctx workflow.Context) (string, error)) error {
	return r.activityStepFrom(ctx, name, final, run, nil)
}

// activityStepFrom is activityStep. On a run that continued as new while the step waited
// for input, resumed is that gate: the step waits there again before it runs.
func (r *runner) activityStepFrom(ctx workflow.Context, name string, final bool, run func(ctx workflow.Context) (string, error), resumed *GateResume) error {
	for {
		msg := r.step(name).Error
		if resumed == nil {
			r.begin(ctx, name, StatusInProgress, StepRunning)
			r.step(name).Attempts++
			output, err := run(ctx)
			if err == nil {
				r.finishStep(ctx, name, StepCompleted, "", "", output, "")
				r.publish(ctx)
				return nil
			}
			if temporal.IsCanceledError(err) || ctx.Err() != nil {
				r.finishStep(ctx, name, StepCancelled, "", "", "", "cancelled")
				return err
			}
			msg = errorMessage(err)
			r.finishStep(ctx, name, StepFailed, "", "", "", msg)
			if final {
				return &stepFailure{step: name, err: errors.New(msg)}
			}
			r.state.Status = StatusWaitingInput
		}
		d, ok, werr := r.inputGate(ctx, name, resumed)
		resumed = nil
		switch {
		case werr != nil:
			return werr
		case !ok:
			return errTimedOut
		case d.Action == ActionReject:
			r.log(ctx, "failure_accepted", name, d.Actor, d.Comment)
			return &stepFailure{step: name, err: errors.New(msg)}
		}
		r.log(ctx, "continued", name, d.Actor, d.Comment)
	}
}

// errorMessage is the innermost useful message of an activity error.
func errorMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		// The message only: its type and retry flag are Temporal's business, not an agent's.
		msg := app.Message()
		if cause := errors.Unwrap(app); cause != nil && msg == "" {
			msg = errorMessage(cause)
		}
		return msg
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out: " + timeout.Error()
	}
	// A local activity's own error reaches the workflow as it was returned, not turned into
	// an application error by the server: say it without Temporal's wrapping.
	var act *temporal.ActivityError
	if errors.As(err, &act) {
		if cause := errors.Unwrap(act); cause != nil {
			return errorMessage(cause)
		}
	}
	return err.Error()
}

// onUndo registers the compensation of a completed step.
func (r *runner) onUndo(step string, undo func(ctx workflow.Context) error) {
	r.compensations = append(r.compensations, compensation{step: step, undo: undo})
}

// finish turns the run's outcome into its final status, compensating when it did not
// complete, and returns the workflow's result.
func (r *runner) finish(ctx workflow.Context, err error) (State, error) {
	final := StatusCompleted
	switch {
	case err == nil:
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		final = StatusCancelled
	case errors.Is(err, errRejected):
		final = StatusRejected
	case errors.Is(err, errTimedOut):
		final = StatusTimedOut
	case errors.Is(err, errWithdrawn):
		final = StatusWithdrawn
	default:
		final = StatusFailed
		r.state.Error = CleanText(err.Error())
	}
	// The rest runs even when the workflow was cancelled: compensate, record, publish.
	ctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	r.gate = nil
	// Queries and the answer to the decision that ended the run say what it is now
	// (rejected, undoing these steps), never the gate it left. Only the record changes
	// here: the commands the run issues, search attributes included, stay where they were.
	r.state.Status = final
	if final != StatusCompleted {
		for i := len(r.compensations) - 1; i >= 0; i-- {
			r.state.Undoing = append(r.state.Undoing, r.compensations[i].step)
		}
		r.compensate(ctx, final)
	}
	r.state.Undoing = nil
	if final == StatusCompleted {
		r.state.CurrentStep = ""
	}
	r.notifyEnd(ctx)
	closed := workflow.Now(ctx).UTC()
	r.state.ClosedAt = &closed
	r.log(ctx, string(final), r.state.CurrentStep, "", r.state.Error)
	r.publish(ctx)
	r.flush(ctx)
	// Let update handlers return their answer before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	switch final {
	case StatusCancelled:
		return r.state, err
	case StatusFailed:
		return r.state, temporal.NewNonRetryableApplicationError(r.state.Error, ErrTypeStepFailed, nil, r.state)
	case StatusTimedOut:
		wait := r.req.ApprovalTimeout
		if r.timedOutAfter > 0 {
			wait = r.timedOutAfter
		}
		return r.state, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no decision at step %s within %s", r.state.CurrentStep, wait), ErrTypeApprovalTimeout, nil, r.state)
	case StatusWithdrawn:
		return r.state, temporal.NewNonRetryableApplicationError(r.withdrawal(), ErrTypeWithdrawn, nil, r.state)
	case StatusRejected:
		if r.Bundled || workflow.GetVersion(ctx, changeRejectedFails, workflow.DefaultVersion, 1) == 1 {
			return r.state, temporal.NewNonRetryableApplicationError(r.rejection(), ErrTypeRejected, nil, r.state)
		}
	}
	return r.state, nil
}

// withdrawal says at which step the requester withdrew the run, and why.
func (r *runner) withdrawal() string {
	for _, s := range r.state.Steps {
		if s.Status == StepCancelled && s.Actor != "" {
			msg := fmt.Sprintf("withdrawn at step %s by %s", s.Name, s.Actor)
			if s.Comment != "" {
				msg += ": " + s.Comment
			}
			return msg
		}
	}
	return "withdrawn"
}

// rejection says which step was rejected, by whom and why.
func (r *runner) rejection() string {
	for _, s := range r.state.Steps {
		if s.Status == StepRejected {
			msg := fmt.Sprintf("rejected at step %s by %s", s.Name, s.Actor)
			if s.Comment != "" {
				msg += ": " + s.Comment
			}
			return msg
		}
	}
	return "rejected"
}

// compensate undoes completed steps in reverse order. A compensation that fails past its
// retries is recorded; the others still run.
func (r *runner) compensate(ctx workflow.Context, final Status) {
	for i := len(r.compensations) - 1; i >= 0; i-- {
		c := r.compensations[i]
		err := c.undo(ctx)
		r.state.Undoing = slices.DeleteFunc(r.state.Undoing, func(s string) bool { return s == c.step })
		if err != nil {
			r.log(ctx, "compensation_failed", c.step, "", errorMessage(err))
			continue
		}
		s := r.step(c.step)
		s.Status = StepCompensated
		r.log(ctx, "compensated", c.step, "", "undone because "+why(final))
	}
	r.compensations = nil
}

// why says in words why a run that did not complete undid its steps.
func why(final Status) string {
	switch final {
	case StatusRejected:
		return "the run was rejected"
	case StatusTimedOut:
		return "no decision came before the deadline"
	case StatusCancelled:
		return "the run was cancelled"
	case StatusWithdrawn:
		return "the requester withdrew the run"
	case StatusFailed:
		return "a step failed"
	}
	return "the run ended " + string(final)
}
