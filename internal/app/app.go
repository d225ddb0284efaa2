// Package app is Flowgate's one typed API over Temporal: advance a run and list the
// gates that wait on a person, with the authorization each call needs. The MCP tools,
// tasks, the approval page and the inbox call it; none of them decides by itself who may
// do what.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
	"github.com/google/uuid"
)

// The scopes a caller may hold.
const (
	// ScopeRead reads runs, processes and data.
	ScopeRead = "read:data"
	// ScopeWrite starts, continues and cancels runs, and writes data.
	ScopeWrite = "write:data"
	// ScopeApprove approves or rejects at gates.
	ScopeApprove = "approve"
	// ScopeAdmin runs any SQL and reads the server's own state.
	ScopeAdmin = "admin"
)

// AllScopes lists every scope.
var AllScopes = []string{ScopeRead, ScopeWrite, ScopeApprove, ScopeAdmin}

// Limits of what a caller may send.
const (
	// MaxIDLength bounds workflow ids, step names and idempotency keys.
	MaxIDLength = 200
	// MaxCommentLength bounds comments and reasons.
	MaxCommentLength = 1000
	// MaxInputsSize bounds a decision's inputs, written as JSON.
	MaxInputsSize = 8 << 10
)

// Caller is who asks: an identity Flowgate verified (an API key, a token, a signed-in
// approver) and its scopes, or, on a server without authentication, the one local
// identity, which holds every scope (All).
type Caller struct {
	Name   string
	Scopes []string
	All    bool
}

// Has tells whether the caller holds scope.
func (c Caller) Has(scope string) bool { return c.All || slices.Contains(c.Scopes, scope) }

// Config is what the Service works with.
type Config struct {
	Client    client.Client
	Namespace string
	// DecisionKeys sign every decision the Service sends, so a run that requires signed
	// decisions can tell it from one typed into Temporal directly; nil sends them unsigned.
	DecisionKeys *signing.Keys
	// LinkKeys sign the decisions made through approval links when DecisionKeys is nil
	// (the keys the links were checked with), so a link still decides once.
	LinkKeys *signing.Keys
	// Processes are the loaded definitions runs may be started of, besides the built-in
	// processes.
	Processes *processes.Catalog
	// SeparationOfDuties refuses an approval by a run's requester (unless a gate of its
	// definition says otherwise).
	SeparationOfDuties bool
	// Services are the services the gateway is configured for; a start whose parameters
	// name another as a call's service is refused. Empty checks nothing.
	Services []string
	// Sandbox is the workers' file sandbox folder when this process can see it (flowgate
	// dev, where the worker runs beside the server); a start whose parameters name, as the
	// path of a file a step parses, a file missing there is refused. Empty checks nothing:
	// a server apart from its workers cannot see their sandbox, and the step itself fails
	// (the run waits for input, saying which file is missing).
	Sandbox string
	// ListCountBudget is how long List waits for its count of the matches beyond the page,
	// unless the request asks for the total; default DefaultListCountBudget.
	ListCountBudget time.Duration
	Logger          *slog.Logger
}

// Service is the typed API.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}
}

// ArgError is an argument the Service refuses: which one, what is wrong with it, and
// what is allowed.
type ArgError struct {
	Field, Problem, Allowed string
}

func (e *ArgError) Error() string {
	msg := e.Field + ": " + e.Problem
	if e.Allowed != "" {
		msg += "; allowed: " + e.Allowed
	}
	return msg
}

// ScopeError is a call the caller's scopes do not allow.
type ScopeError struct {
	Caller, Need, Doing string
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("%s lacks the scope %s, which %s needs", e.Caller, e.Need, e.Doing)
}

// CheckID refuses an empty, overlong or unprintable id.
func CheckID(field, id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return &ArgError{field, "is empty", "the id start_workflow or list_workflows returned"}
	case len(id) > MaxIDLength:
		return &ArgError{field, fmt.Sprintf("is %d characters long", len(id)), fmt.Sprintf("at most %d", MaxIDLength)}
	case strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return &ArgError{field, "has a control character", "printable characters"}
	}
	return nil
}

// Query runs a workflow query with its arguments and decodes its answer into out. A query
// is read-only, so when Temporal gives up on it before the caller's deadline (a busy
// worker held the query task past the server's sticky-queue timeout), it is asked again
// until ctx ends.
func (s *Service) Query(ctx context.Context, workflowID, queryType string, out any, args ...any) error {
	wait := 100 * time.Millisecond
	for {
		resp, err := s.cfg.Client.QueryWorkflow(ctx, workflowID, "", queryType, args...)
		if err == nil {
			return resp.Get(out)
		}
		if !ServerGaveUp(err) || ctx.Err() != nil {
			return err
		}
		s.cfg.Logger.Debug("query timed out inside Temporal; asking again", "workflow_id", workflowID, "query", queryType, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// ServerGaveUp reports whether Temporal abandoned a call on its side (its own deadline or
// cancellation), as opposed to refusing it.
func ServerGaveUp(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return errors.As(err, &deadline) || errors.As(err, &canceled)
}

// Status is where a run stands: its status query's answer.
func (s *Service) Status(ctx context.Context, workflowID string) (workflows.StatusView, error) {
	var v workflows.StatusView
	if err := CheckID("workflow_id", workflowID); err != nil {
		return v, err
	}
	return v, s.Query(ctx, workflowID, workflows.QueryStatus, &v)
}

// Feed is the run's feed after revision since: its transitions and its status now.
func (s *Service) Feed(ctx context.Context, workflowID string, since int64) (workflows.Feed, error) {
	var f workflows.Feed
	if err := CheckID("workflow_id", workflowID); err != nil {
		return f, err
	}
	return f, s.Query(ctx, workflowID, workflows.QueryFeed, &f, since)
}

// updateAttempts bounds how often update sends an update the server aborted unapplied.
const updateAttempts = 4

// update sends an update and waits for the run's answer into out. When the workflow task
// that took the update fails as it completes (the run closed while another event came
// in, say), Temporal aborts the update unapplied with WorkflowNotReady and retries the
// task, but not the update: it is sent again here, under the same update id, so the
// server answers a copy that did apply with its first answer instead of applying it
// twice.
func (s *Service) update(ctx context.Context, opts client.UpdateWorkflowOptions, out any) error {
	opts.UpdateID = uuid.NewString()
	opts.WaitForStage = client.WorkflowUpdateStageCompleted
	var err error
	for attempt := 1; ; attempt++ {
		var handle client.WorkflowUpdateHandle
		handle, err = s.cfg.Client.UpdateWorkflow(ctx, opts)
		if err == nil {
			err = handle.Get(ctx, out)
		}
		var notReady *serviceerror.WorkflowNotReady
		if err == nil || !errors.As(err, &notReady) || attempt == updateAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}
