package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestAdvanceNeedsTheDecisionsScope: the typed API refuses a decision the caller's scopes
// do not allow before anything reaches Temporal (the Service here has no client at all),
// whichever surface calls it: a tool, a task asking at a gate, a link.
func TestAdvanceNeedsTheDecisionsScope(t *testing.T) {
	s := New(Config{})
	for _, tc := range []struct {
		caller Caller
		action workflows.Action
		need   string
	}{
		{Caller{Name: "rita", Scopes: []string{ScopeRead, ScopeWrite}}, workflows.ActionApprove, ScopeApprove},
		{Caller{Name: "rita", Scopes: []string{ScopeRead, ScopeWrite}}, workflows.ActionReject, ScopeApprove},
		{Caller{Name: "bob", Scopes: []string{ScopeApprove}}, workflows.ActionContinue, ScopeWrite},
		{Caller{Name: "rita", Scopes: []string{ScopeRead}}, workflows.ActionRemind, ScopeWrite + " or " + ScopeApprove},
	} {
		_, err := s.Advance(context.Background(), tc.caller, Decision{WorkflowID: "deployment-1", Action: tc.action})
		var scope *ScopeError
		if !errors.As(err, &scope) || scope.Need != tc.need || !strings.Contains(err.Error(), tc.caller.Name+" lacks the scope "+tc.need) {
			t.Errorf("%s %s: %v", tc.caller.Name, tc.action, err)
		}
	}
}

// TestDecisionArgumentsAreCheckedFirst: a malformed decision names its field, what is
// wrong and what is allowed.
func TestDecisionArgumentsAreCheckedFirst(t *testing.T) {
	for _, tc := range []struct {
		d    Decision
		want string
	}{
		{Decision{Action: workflows.ActionApprove}, "workflow_id: is empty"},
		{Decision{WorkflowID: "a\x00b", Action: workflows.ActionApprove}, "workflow_id: has a control character"},
		{Decision{WorkflowID: "w", Action: "ship"}, `action: "ship" is not an action; allowed: approve | reject | continue | remind`},
		{Decision{WorkflowID: "w", Action: workflows.ActionApprove, Comment: strings.Repeat("x", MaxCommentLength+1)}, "comment: is 1001 characters long; allowed: at most 1000"},
		{Decision{WorkflowID: "w", Action: workflows.ActionApprove, Step: strings.Repeat("s", MaxIDLength+1)}, "step: is too long"},
	} {
		_, err := New(Config{}).Advance(context.Background(), Caller{Name: "bob", All: true}, tc.d)
		var arg *ArgError
		if !errors.As(err, &arg) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.d, err, tc.want)
		}
	}
}

// TestStartAndCancelRefuseBeforeTemporal: scopes and arguments are checked by the typed
// API itself, with the field, the problem and what is allowed.
func TestStartAndCancelRefuseBeforeTemporal(t *testing.T) {
	s := New(Config{})
	ctx := context.Background()
	reader := Caller{Name: "rita", Scopes: []string{ScopeRead}}
	writer := Caller{Name: "rita", Scopes: []string{ScopeWrite}}
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"start without write":   {second(s.Start(ctx, reader, StartRequest{Process: "deployment"})), "rita lacks the scope write:data, which starting a run needs"},
		"unknown process":       {second(s.Start(ctx, writer, StartRequest{Process: "payroll"})), `workflow_type: "payroll" is not a workflow type; allowed: onboarding | deployment | audit`},
		"bad timeout":           {second(s.Start(ctx, writer, StartRequest{Process: "deployment", ApprovalTimeout: "soon"})), `approval_timeout: "soon" is not a duration between 1s and 8760h`},
		"long key":              {second(s.Start(ctx, writer, StartRequest{Process: "deployment", IdempotencyKey: strings.Repeat("k", MaxIDLength+1)})), "idempotency_key: is 201 characters long"},
		"bad parameters":        {second(s.Start(ctx, writer, StartRequest{Process: "deployment", Parameters: []byte(`{"service":"orders"}`)})), "version"},
		"cancel without write":  {s.Cancel(ctx, reader, "deployment-1", "wrong version"), "rita lacks the scope write:data, which cancelling a run needs"},
		"cancel without reason": {s.Cancel(ctx, writer, "deployment-1", "  "), "reason: is empty or too long; allowed: 1 to 1000 characters saying why"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestListRefusesBeforeTemporal: a listing the caller may not make, or whose filters,
// limit or cursor are wrong, is refused by the typed API with the field, the problem and
// what is allowed, before any call to Temporal (the Service here has no client).
func TestListRefusesBeforeTemporal(t *testing.T) {
	s := New(Config{})
	ctx := context.Background()
	reader := Caller{Name: "rita", Scopes: []string{ScopeRead}}
	for name, tc := range map[string]struct {
		c    Caller
		r    ListRequest
		want string
	}{
		"without read":   {Caller{Name: "bob", Scopes: []string{ScopeApprove}}, ListRequest{}, "bob lacks the scope read:data, which listing runs needs"},
		"unknown status": {reader, ListRequest{Status: "sleeping"}, `status: "sleeping" is not a status; allowed: pending | `},
		"unknown type":   {reader, ListRequest{Process: "payroll"}, `workflow_type: "payroll" is not a workflow type`},
		"limit":          {reader, ListRequest{Limit: 1000}, "limit: is 1000; allowed: 1 to 100 (default 20)"},
		"cursor":         {reader, ListRequest{Cursor: "%%%"}, "cursor: is not a cursor this tool returned for these filters"},
		"other filters":  {reader, ListRequest{Status: "completed", Cursor: encodeCursor(listCursor{Query: cursorQuery(ListQuery("", "failed")), Token: []byte("t")})}, "cursor: is not a cursor"},
	} {
		_, err := s.List(ctx, tc.c, tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestAStartRecordsItsInterpreterButAsksTheSameAcrossAnUpgrade: a prepared start says
// which interpreter it was made for, and its fingerprint leaves that out, so a retry with
// the same idempotency key after an upgrade finds the run it started, not a refusal.
func TestAStartRecordsItsInterpreterButAsksTheSameAcrossAnUpgrade(t *testing.T) {
	p, err := PrepareStart(workflows.KindDeployment, []byte(`{"service":"orders","version":"1.0.0","environment":"staging"}`), workflows.Request{RequestedBy: "rita"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Input.Interpreter != workflows.InterpreterVersion || p.Input.Interpreter == 0 {
		t.Errorf("the start records interpreter %d, want %d", p.Input.Interpreter, workflows.InterpreterVersion)
	}
	older := p
	older.Input.Interpreter = workflows.InterpreterVersion - 1
	if older.Fingerprint() != p.Fingerprint() {
		t.Error("the same start prepared by an older interpreter has another fingerprint")
	}
	other, _ := PrepareStart(workflows.KindDeployment, []byte(`{"service":"orders","version":"1.0.1","environment":"staging"}`), workflows.Request{RequestedBy: "rita"})
	if other.Fingerprint() == p.Fingerprint() {
		t.Error("two different starts share a fingerprint")
	}
}
