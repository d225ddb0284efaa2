package workflows

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/words"
)

// A wait for an event holds a run until the world says something: CI reports green, a
// signature service calls back. The event reaches the run through the validated event
// update (UpdateEvent), sent by send_event or by the step's signed callback URL; a
// refused event (wrong step, a payload its schema refuses, too large, replayed) never
// reaches the run's history. There is no signal for it: an update is answered, so the
// sender learns at once whether the run took the event.

// UpdateEvent delivers an event to the wait the run is held at; payload EventRequest,
// result StatusView. Its validator refuses an event the wait does not take.
const UpdateEvent = "event"

// StatusView's Waiting.For of a run held at an event wait.
const waitForEvent = "event"

// DefaultEventScope is the scope send_event needs when a wait names none: the scope that
// starts and continues runs (write:data).
const DefaultEventScope = "write:data"

// MaxEventPayload bounds an event's payload, written as JSON: what a CI report or a
// callback says, not a file.
const MaxEventPayload = 64 << 10

// On timeout of an event wait.
const (
	// EventTimeoutFail ends the run failed, naming the step; what it did is undone.
	EventTimeoutFail = "fail"
	// EventTimeoutContinue completes the step with output.timed_out true; the run goes on.
	EventTimeoutContinue = "continue"
	// EventTimeoutCompensate is fail, said as what it does: a run that does not complete
	// always undoes what it did, so the two end a run alike.
	EventTimeoutCompensate = "compensate"
)

var eventTimeouts = []string{EventTimeoutFail, EventTimeoutContinue, EventTimeoutCompensate}

// Error types of a refused event, so the callback endpoint can answer with an HTTP
// status and send_event with a sentence.
const (
	// ErrTypeEventInvalid: the event itself is wrong (payload, size, event name, step).
	ErrTypeEventInvalid = "EventInvalid"
	// ErrTypeEventNotYet: the run has not reached the step yet, or is applying another
	// event there; the same event may be sent again.
	ErrTypeEventNotYet = "EventNotYet"
	// ErrTypeEventGone: the step no longer waits (it got its event or timed out), or the
	// run ended.
	ErrTypeEventGone = "EventGone"
	// ErrTypeEventUsed: this signed event or callback was applied once already.
	ErrTypeEventUsed = "EventUsed"
	// ErrTypeEventForbidden: the sender may not send it (scope, or a callback URL not
	// made for this run and step).
	ErrTypeEventForbidden = "EventForbidden"
)

// EventRequest is the payload of the event update.
type EventRequest struct {
	// Step is the wait the event is for; Event, when set, must be the one it waits for.
	Step  string `json:"step"`
	Event string `json:"event,omitempty"`
	// Payload is what the event says: a JSON object its wait's schema checks.
	Payload map[string]any `json:"payload,omitempty"`
	// Actor is who sent it: a verified identity, or "callback" for the callback URL.
	Actor string `json:"actor"`
	// Scopes and AllScopes are the sender's, as in AdvanceRequest.
	Scopes    []string `json:"scopes,omitempty"`
	AllScopes bool     `json:"all_scopes,omitempty"`
	// Callback is set on an event delivered through the step's callback URL: Nonce is
	// then the URL's, which the run made for that step and takes once.
	Callback bool `json:"callback,omitempty"`
	// Nonce, Expires, KeyID and Signature sign the event as a decision is signed.
	Nonce     string    `json:"nonce,omitempty"`
	Expires   time.Time `json:"expires,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
	Signature string    `json:"signature,omitempty"`
}

// actionEvent names an event in the decision its signature covers; it is no action of
// an advance.
const actionEvent Action = "event"

// Decision is the event as the decision its signature covers: every field it says
// (the payload as inputs), so the MCP server signs it and a worker verifies it with the
// decision keys, and none can be altered on the way.
func (e EventRequest) Decision() AdvanceRequest {
	return AdvanceRequest{Action: actionEvent, Step: e.Step, Actor: e.Actor, Comment: fmt.Sprintf("event=%s callback=%t", e.Event, e.Callback),
		Inputs: e.Payload, Scopes: e.Scopes, AllScopes: e.AllScopes, Nonce: e.Nonce, Expires: e.Expires, KeyID: e.KeyID, Signature: e.Signature}
}

// Signed returns e with the signature fields of d, its decision signed.
func (e EventRequest) Signed(d AdvanceRequest) EventRequest {
	e.Nonce, e.Expires, e.KeyID, e.Signature = d.Nonce, d.Expires, d.KeyID, d.Signature
	return e
}

// eventPlan is an event wait, compiled.
type eventPlan struct {
	// deadline is the wait; 0 takes the run's approval timeout.
	deadline time.Duration
	schema   *ParamSchema
	// doc is the schema as declared, which the status view shows senders.
	doc       map[string]any
	onTimeout string
	scope     string
}

// compileEvent compiles the event wait w.
func compileEvent(w WaitStep) (*eventPlan, error) {
	p := &eventPlan{onTimeout: w.OnTimeout, scope: w.Scope}
	if p.onTimeout == "" {
		p.onTimeout = EventTimeoutFail
	}
	if p.scope == "" {
		p.scope = DefaultEventScope
	}
	if w.Deadline != "" {
		d, err := parseWait(w.Deadline)
		if err != nil {
			return nil, fmt.Errorf("wait.deadline %q is not a duration: %w", w.Deadline, err)
		}
		p.deadline = d
	}
	doc, _ := jsonValue(w.Schema).(map[string]any)
	if doc == nil {
		doc = map[string]any{"type": "object"}
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	if err := comp.AddResource("payload.json", doc); err != nil {
		return nil, fmt.Errorf("wait.schema: %w", err)
	}
	s, err := comp.Compile("payload.json")
	if err != nil {
		return nil, fmt.Errorf("wait.schema: %w", err)
	}
	props, _ := doc["properties"].(map[string]any)
	p.schema, p.doc = &ParamSchema{schema: s, props: props, root: "payload"}, doc
	return p, nil
}

// eventAllowed says what an event wait's fields take, for the checker's errors.
const eventAllowed = `a name such as ci_passed, with schema (a JSON Schema of type object for its payload), deadline (a duration such as 2h or 7d), on_timeout (fail, continue or compensate) and scope (what send_event needs; default write:data)`

// checkEventWait checks an event wait: its name, schema, deadline, on_timeout and scope.
func (c *checker) checkEventWait(path []any, w WaitStep) {
	if !definitionName.MatchString(w.Event) {
		c.at(append(path, "event"), "event %q; allowed: lowercase letters, digits and '_', starting with a letter, such as ci_passed", w.Event)
	}
	if w.Schema != nil {
		spath := append(slices.Clone(path), "schema")
		if t := jsonValue(w.Schema["type"]); t != "object" {
			c.at(spath, "schema has type %v; allowed: a JSON Schema of type object (the payload is a JSON object)", t)
		} else if _, err := compileEvent(WaitStep{Event: w.Event, Schema: w.Schema}); err != nil {
			c.at(spath, "schema is not a valid JSON Schema (2020-12): %s", words.FirstLine(strings.TrimPrefix(err.Error(), "wait.schema: ")))
		}
	}
	if w.Deadline != "" {
		if d, err := parseWait(w.Deadline); err != nil || d < time.Second {
			c.at(append(path, "deadline"), "deadline %q is not a duration from 1s to 365d; allowed: a Go duration or whole days, such as 2h, 30m or 7d", w.Deadline)
		}
	}
	if w.OnTimeout != "" && !slices.Contains(eventTimeouts, w.OnTimeout) {
		c.at(append(path, "on_timeout"), "on_timeout %q; allowed: %s", w.OnTimeout, words.Or(eventTimeouts))
	}
	c.checkScope(append(path, "scope"), w.Scope)
}

// describeEvent says what an event wait does, for describe_process.
func describeEvent(w WaitStep) string {
	deadline := w.Deadline
	if deadline == "" {
		deadline = "the run's approval timeout"
	}
	onTimeout := w.OnTimeout
	if onTimeout == "" {
		onTimeout = EventTimeoutFail
	}
	scope := w.Scope
	if scope == "" {
		scope = DefaultEventScope
	}
	return fmt.Sprintf("wait up to %s for the event %s (send_event, with the scope %s, or the step's callback URL), then go on; with no event by then: %s",
		deadline, w.Event, scope, onTimeout)
}

// eventWait is the event wait a run is held at.
type eventWait struct {
	step     string
	deadline time.Time
	// wait is the whole wait, for the timeout's message.
	wait time.Duration
	plan *eventPlan
	name string
}

// waiting is what a run held at an event wait waits for: the event, by its deadline.
func (e *eventWait) waiting() *Waiting {
	return &Waiting{Step: e.step, For: waitForEvent, Actions: []Action{}, Deadline: e.deadline,
		Event: e.name, Scope: e.plan.scope, PayloadSchema: e.plan.doc}
}

// eventRefusal is a refused event of the given type (ErrTypeEvent…).
func eventRefusal(typ, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), typ, nil)
}

// checkEvent decides whether an event fits the wait the run is held at. It runs as the
// event update's validator, so a refused event never reaches the run's history.
func (r *runner) checkEvent(ctx workflow.Context, e EventRequest) error {
	raw, err := json.Marshal(e.Payload)
	if err != nil {
		return eventRefusal(ErrTypeEventInvalid, "payload cannot be written as JSON; allowed: a JSON object")
	}
	if len(raw) > MaxEventPayload {
		return eventRefusal(ErrTypeEventInvalid, "payload is %d bytes of JSON; allowed: at most %d", len(raw), MaxEventPayload)
	}
	if strings.TrimSpace(e.Actor) == "" {
		return eventRefusal(ErrTypeEventInvalid, "actor is empty; every event is recorded with who sent it")
	}
	if strings.TrimSpace(e.Step) == "" {
		return eventRefusal(ErrTypeEventInvalid, "step is empty; allowed: the step waiting.step names (get_workflow_status)")
	}
	if e.Nonce != "" && r.usedNonces[e.Nonce] {
		return eventRefusal(ErrTypeEventUsed, "this event was already delivered once (a callback URL or a signed event is taken once); a replay is refused")
	}
	ev := r.event
	if ev == nil || e.Step != ev.step {
		return r.notWaitingFor(e.Step)
	}
	if e.Event != "" && e.Event != ev.name {
		return eventRefusal(ErrTypeEventInvalid, "step %s waits for the event %s, not %s", ev.step, ev.name, e.Event)
	}
	if r.got != nil {
		return eventRefusal(ErrTypeEventNotYet, "an event on step %s is already being applied", ev.step)
	}
	if r.gate != nil && r.decision != nil {
		// A gate with or_event: a decision came first; if the gate is still open after it
		// (a quorum short, a reminder), the event may be sent again.
		return eventRefusal(ErrTypeEventNotYet, "a decision on step %s is being applied first; if the step still waits after it, send the event again", ev.step)
	}
	if r.req.RequireSignedDecisions {
		if r.verifier == nil {
			return eventRefusal(ErrTypeEventForbidden, "this run accepts only signed events, and the worker has no decision keys to verify them (give it --decision-keys, the same file as the MCP server's)")
		}
		if err := r.verifier.Verify(r.state.WorkflowID, e.Decision(), workflow.Now(ctx)); err != nil {
			return eventRefusal(ErrTypeEventForbidden, "%s", strings.ReplaceAll(err.Error(), "decision", "event"))
		}
	}
	if e.Callback {
		want := r.callbacks[ev.step].Nonce
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(e.Nonce)) != 1 {
			return eventRefusal(ErrTypeEventForbidden, "this callback URL was not made for step %s of this run", ev.step)
		}
	} else if !admits(nil, ev.plan.scope, e.Actor, e.Scopes, e.AllScopes) {
		return eventRefusal(ErrTypeEventForbidden, "%s lacks the scope %s, which sending an event to step %s needs", e.Actor, ev.plan.scope, ev.step)
	}
	v := jsonValue(e.Payload)
	if e.Payload == nil {
		v = map[string]any{}
	}
	if err := ev.plan.schema.validate(v); err != nil {
		return eventRefusal(ErrTypeEventInvalid, "the payload of the event %s at step %s: %v", ev.name, ev.step, err)
	}
	return nil
}

// notWaitingFor says why the run takes no event at step now: it has no such wait, has
// not reached it yet, or left it.
func (r *runner) notWaitingFor(step string) error {
	now := fmt.Sprintf("it is %s", r.state.Status)
	if r.state.CurrentStep != "" {
		now += " at step " + r.state.CurrentStep
	}
	if r.state.Status.Terminal() {
		return eventRefusal(ErrTypeEventGone, "the run has ended (%s); it takes no event any more", r.state.Status)
	}
	i := slices.IndexFunc(r.state.Steps, func(s Step) bool { return s.Name == step })
	if i < 0 || !r.eventSteps[step] {
		waits := slices.Sorted(maps.Keys(r.eventSteps))
		if len(waits) == 0 {
			return eventRefusal(ErrTypeEventInvalid, "step %s does not wait for an event: this run has no wait for one", step)
		}
		return eventRefusal(ErrTypeEventInvalid, "step %s does not wait for an event; allowed: %s", step, strings.Join(waits, ", "))
	}
	switch s := r.state.Steps[i]; s.Status {
	case StepPending:
		return eventRefusal(ErrTypeEventNotYet, "the run does not wait at step %s yet (%s); send the event once it does (get_workflow_status says waiting.step)", step, now)
	case StepWaiting, StepRunning:
		return eventRefusal(ErrTypeEventNotYet, "the run is not ready for the event at step %s yet; send it again", step)
	default:
		return eventRefusal(ErrTypeEventGone, "step %s no longer waits for its event (it is %s; the run %s)", step, s.Status, strings.TrimPrefix(now, "it "))
	}
}

// setupEvents registers the event update.
func (r *runner) setupEvents(ctx workflow.Context) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateEvent,
		func(ctx workflow.Context, e EventRequest) (StatusView, error) {
			if e.Nonce != "" {
				if r.usedNonces == nil {
					r.usedNonces = map[string]bool{}
				}
				r.usedNonces[e.Nonce] = true
			}
			r.got = &e
			taken := r.eventsTaken
			// Wait until the wait has taken the event and the run moved on, so the sender
			// sees the new status.
			if err := workflow.Await(ctx, func() bool { return r.eventsTaken > taken }); err != nil {
				return StatusView{}, err
			}
			return r.view(), nil
		},
		workflow.UpdateHandlerOptions{
			Validator:   r.checkEvent,
			Description: "Deliver an event {step, event, payload, actor} to the wait for an event the run is held at. Returns the new status.",
		})
}

// waitEvent holds the run at the event wait s (step i) until its event comes or its
// deadline passes; res is the wait of a run that continued as new there. When the run's
// history passes its bound first, the run continues as new, waiting at the same step.
func (ip *interpreter) waitEvent(ctx workflow.Context, i int, s planStep, res *GateResume) error {
	r, p := ip.r, s.wait.event
	wait := p.deadline
	if wait <= 0 {
		wait = r.req.ApprovalTimeout
	}
	var deadline time.Time
	if res != nil {
		deadline, wait = res.Deadline, res.Wait
		r.state.Status = StatusWaiting
	} else {
		deadline = workflow.Now(ctx).UTC().Add(wait)
		r.begin(ctx, s.Name, StatusWaiting, StepWaiting)
		r.log(ctx, "waiting", s.Name, "", fmt.Sprintf("for the event %s until %s", s.Wait.Event, deadline.Format(time.RFC3339)))
	}
	// Event waits are new: every run that has one may continue as new there.
	r.continues = true
	r.event = &eventWait{step: s.Name, deadline: deadline, wait: wait, plan: p, name: s.Wait.Event}
	r.publish(ctx)
	full := func() bool { return r.historyFull(ctx) && workflow.AllHandlersFinished(ctx) && r.notifying == 0 }
	ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      max(deadline.Sub(workflow.Now(ctx)), time.Millisecond),
		TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("deadline of the wait for %s at %s", s.Wait.Event, s.Name)},
	}, func() bool { return r.got != nil || full() })
	r.event = nil
	switch {
	case err != nil:
		r.finishStep(ctx, s.Name, StepCancelled, "", "", "", "cancelled while waiting")
		return err
	case ok && r.got == nil:
		c, cerr := ip.resumeAt(ctx, i, &gate{step: s.Name, kind: gateEvent, deadline: deadline}, wait, 0)
		if cerr != nil {
			return cerr
		}
		return c
	case !ok:
		return ip.eventTimedOut(ctx, s, wait)
	}
	e := *r.got
	r.got = nil
	r.eventsTaken++
	payload, _ := normalInputs(e.Payload)
	out := map[string]any{"event": s.Wait.Event, "payload": payload, "by": e.Actor, "timed_out": false}
	ip.keep(s.Name, out)
	via := ""
	if e.Callback {
		via = " through its callback URL"
	}
	raw, _ := json.Marshal(payload)
	r.log(ctx, "event_received", s.Name, e.Actor, fmt.Sprintf("%s%s (%d bytes)", s.Wait.Event, via, len(raw)))
	r.finishStep(ctx, s.Name, StepCompleted, e.Actor, "", fmt.Sprintf("event %s received", s.Wait.Event), "")
	r.state.Status = StatusInProgress
	r.publish(ctx)
	return nil
}

// eventTimedOut ends an event wait whose deadline passed, as its on_timeout says.
func (ip *interpreter) eventTimedOut(ctx workflow.Context, s planStep, wait time.Duration) error {
	r := ip.r
	msg := fmt.Sprintf("no event %s within %s", s.Wait.Event, wait)
	if s.wait.event.onTimeout == EventTimeoutContinue {
		ip.keep(s.Name, map[string]any{"event": s.Wait.Event, "timed_out": true})
		r.finishStep(ctx, s.Name, StepCompleted, "", "", msg, "")
		r.state.Status = StatusInProgress
		r.publish(ctx)
		return nil
	}
	r.finishStep(ctx, s.Name, StepTimedOut, "", "", "", msg)
	return &stepFailure{step: s.Name, err: errors.New(msg)}
}

// callbackRef finds the steps.WAIT.callback_url references of a step.
var callbackRef = regexp.MustCompile(`steps\.([a-z][a-z0-9_]*)\.callback_url`)

// callbackRefs are the event waits whose callback URLs s names anywhere (its call, its
// actions, its compensation), in order, each once.
func callbackRefs(s StepDef) []string {
	raw, _ := json.Marshal(s)
	var out []string
	for _, m := range callbackRef.FindAllStringSubmatch(string(raw), -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// makeCallbacks makes the callback URLs step s names that the run has not made yet. A
// workflow holds no keys: a local activity signs each (activities.Callbacks), and the run
// keeps the URL and its nonce (continue-as-new carries them), so every later reference
// gets the same URL and the wait takes the event of that URL once. A worker that cannot
// sign fails the step, saying so.
func (ip *interpreter) makeCallbacks(ctx workflow.Context, s planStep) error {
	r := ip.r
	for _, wait := range s.callbacks {
		if _, made := r.callbacks[wait]; made {
			continue
		}
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute, RetryPolicy: defaultRetry,
			Summary: "make the callback URL of " + wait,
		})
		var out activities.CallbackOutput
		r.localPending++
		err := workflow.ExecuteLocalActivity(lctx, callbacks.CallbackURL, activities.CallbackInput{WorkflowID: r.state.WorkflowID, RunID: r.state.FirstRunID, Step: wait}).Get(ctx, &out)
		r.localPending--
		if err != nil {
			msg := fmt.Sprintf("steps.%s.callback_url: %s", wait, errorMessage(err))
			r.begin(ctx, s.Name, StatusInProgress, StepRunning)
			r.finishStep(ctx, s.Name, StepFailed, "", "", "", msg)
			return &stepFailure{step: s.Name, err: errors.New(msg)}
		}
		if r.callbacks == nil {
			r.callbacks = map[string]activities.CallbackOutput{}
		}
		r.callbacks[wait] = out
		r.log(ctx, "callback_url_made", wait, "", fmt.Sprintf("for step %s, which hands it on: one event, while the run waits at %s", s.Name, wait))
	}
	return nil
}

// callbackURL is the callback URL of the event wait step, made before the step that
// names it.
func (ip *interpreter) callbackURL(step string) (any, error) {
	c, ok := ip.r.callbacks[step]
	if !ok {
		return nil, fmt.Errorf("{{steps.%s.callback_url}}: no callback URL was made for step %s", step, step)
	}
	return c.URL, nil
}
