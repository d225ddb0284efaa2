package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

// EventRequest is an event a caller sends to the wait a run is held at.
type EventRequest struct {
	WorkflowID string
	// RunID, when set, is the first run id the event is for: a later run that reuses the
	// workflow id does not get it.
	RunID string
	// Step is the wait the event is for (waiting.step); Event, when set, must be the event
	// it waits for (waiting.event).
	Step    string
	Event   string
	Payload map[string]any
}

// Check refuses an event whose arguments are malformed, before any call to Temporal.
func (e EventRequest) Check() error {
	if err := CheckID("workflow_id", e.WorkflowID); err != nil {
		return err
	}
	if err := CheckID("step", e.Step); err != nil {
		return &ArgError{"step", "is empty", "the step waiting.step names (get_workflow_status)"}
	}
	if len(e.Event) > MaxIDLength {
		return &ArgError{"event", "is too long", "the event waiting.event names"}
	}
	raw, err := json.Marshal(e.Payload)
	switch {
	case err != nil:
		return &ArgError{"payload", "cannot be written as JSON", "a JSON object"}
	case len(raw) > workflows.MaxEventPayload:
		return &ArgError{"payload", fmt.Sprintf("is %d bytes of JSON", len(raw)), fmt.Sprintf("at most %d bytes", workflows.MaxEventPayload)}
	}
	return nil
}

// EventRefusedError is an event the run refused as it stands; nothing changed. Kind is
// one of workflows' ErrTypeEvent… (EventInvalid, EventNotYet, EventGone, EventUsed,
// EventForbidden), so a surface can answer with its own code.
type EventRefusedError struct {
	Kind, Msg string
}

func (e *EventRefusedError) Error() string { return e.Msg }

// SendEvent sends the caller's event through the run's validated event update and returns
// where the run stands after it. The caller must hold the scope the wait names (waiting
// .scope, write:data unless the definition says otherwise); the run checks it again,
// with the step, the event and its payload's schema. The event is signed when the
// Service has decision keys.
func (s *Service) SendEvent(ctx context.Context, c Caller, e EventRequest) (workflows.StatusView, error) {
	var v workflows.StatusView
	if err := e.Check(); err != nil {
		return v, err
	}
	need := workflows.DefaultEventScope
	if now, err := s.Status(ctx, e.WorkflowID); err == nil && now.Waiting != nil && now.Waiting.Step == e.Step {
		switch w := now.Waiting; {
		case w.For == "event":
			need = w.Scope
		case w.EventScope != "":
			need = w.EventScope // a gate that the event may end first
		}
	}
	if !c.Has(need) {
		return v, &ScopeError{Caller: c.Name, Need: need, Doing: "sending an event to step " + e.Step}
	}
	req := workflows.EventRequest{Step: e.Step, Event: e.Event, Payload: e.Payload, Actor: c.Name, Scopes: c.Scopes, AllScopes: c.All}
	if c.All {
		req.Scopes = nil
	}
	if keys := s.cfg.DecisionKeys; keys != nil {
		d, err := keys.Sign(e.WorkflowID, req.Decision(), time.Now())
		if err != nil {
			return v, err
		}
		req = req.Signed(d)
	}
	return s.deliver(ctx, e.WorkflowID, e.RunID, req)
}

// CallbackActor is who the record says sent an event through a callback URL: the URL is
// the sender's only credential.
const CallbackActor = "callback"

// Callback delivers the event of a callback URL: the token says the run (its first run)
// and the step, checked with the keys approval links are checked with; payload is what
// the sender posted. The run takes it once (the token's nonce), only while it waits at
// that step, and only if it made that URL. It returns what the token grants, for the
// caller's log, even when the event is refused.
func (s *Service) Callback(ctx context.Context, token string, payload map[string]any) (workflows.StatusView, signing.Callback, error) {
	var v workflows.StatusView
	keys := s.cfg.DecisionKeys
	if keys == nil {
		keys = s.cfg.LinkKeys
	}
	if keys == nil {
		return v, signing.Callback{}, signing.ErrCallbackInvalid
	}
	c, err := keys.VerifyCallback(token, time.Now())
	if err != nil {
		return v, c, err
	}
	e := EventRequest{WorkflowID: c.WorkflowID, RunID: c.RunID, Step: c.Step, Payload: payload}
	if err := e.Check(); err != nil {
		return v, c, err
	}
	req := workflows.EventRequest{Step: c.Step, Payload: payload, Actor: CallbackActor, Callback: true, Nonce: c.Nonce}
	if dk := s.cfg.DecisionKeys; dk != nil {
		req = req.Signed(dk.SignWithNonce(c.WorkflowID, req.Decision(), c.Nonce, time.Now()))
	}
	v, err = s.deliver(ctx, c.WorkflowID, c.RunID, req)
	return v, c, err
}

// deliver sends an event update and waits for the run's answer.
func (s *Service) deliver(ctx context.Context, workflowID, runID string, req workflows.EventRequest) (workflows.StatusView, error) {
	var v workflows.StatusView
	err := s.update(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, FirstExecutionRunID: runID,
		UpdateName: workflows.UpdateEvent, Args: []any{req},
	}, &v)
	if err != nil {
		s.cfg.Logger.Info("event refused", "workflow_id", workflowID, "step", req.Step, "actor", req.Actor, "error", err)
		var refused *temporal.ApplicationError
		if errors.As(err, &refused) && isEventRefusal(refused.Type()) {
			return v, &EventRefusedError{Kind: refused.Type(), Msg: refused.Message()}
		}
	}
	return v, err
}

func isEventRefusal(kind string) bool {
	switch kind {
	case workflows.ErrTypeEventInvalid, workflows.ErrTypeEventNotYet, workflows.ErrTypeEventGone, workflows.ErrTypeEventUsed, workflows.ErrTypeEventForbidden:
		return true
	}
	return false
}
