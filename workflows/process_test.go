package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/testsuite"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/worker"
	"github.com/flowgate/flowgate/workflows"
)

// refundSource is the shipped refund example, edited by the replacements (old, new, …).
func refundSource(t *testing.T, replacements ...string) (workflows.Definition, []byte) {
	t.Helper()
	data, err := os.ReadFile("../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	for i := 0; i+1 < len(replacements); i += 2 {
		if !strings.Contains(src, replacements[i]) {
			t.Fatalf("the example has no %q to replace", replacements[i])
		}
		src = strings.Replace(src, replacements[i], replacements[i+1], 1)
	}
	d, err := workflows.ParseDefinition("refund_approval.yaml", []byte(src), workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	return d, []byte(src)
}

// runProcess runs a definition to its end with the given parameters, requested by alice.
func (h *harness) runProcess(d workflows.Definition, src []byte, params string) (workflows.State, error) {
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: workflows.NewProcessSource(d, src), Params: json.RawMessage(params)})
	return h.result()
}

func (h *harness) orderStatus(ref string) string {
	h.t.Helper()
	res, err := h.db.RunStatement(context.Background(), activities.StatementInput{Mode: "read",
		Query: "SELECT status FROM orders WHERE reference = :r", Args: map[string]any{"r": ref}})
	if err != nil {
		h.t.Fatal(err)
	}
	s, _ := res.Row["status"].(string)
	return s
}

func decide(action workflows.Action, step, actor string, scopes ...string) workflows.AdvanceRequest {
	return workflows.AdvanceRequest{Action: action, Step: step, Actor: actor, Scopes: scopes, Comment: "checked"}
}

const finance = "group:finance"

func TestProcessSmallRefundNeedsOneApproverFromTheGroup(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	before := h.orderStatus("ORD-01003")
	var self, outsider, approve *outcome
	h.at(time.Hour, func() {
		s := h.status()
		if s.Status != workflows.StatusWaitingApproval || s.Waiting == nil || s.Waiting.Step != "approval" ||
			s.Waiting.Scope != finance || s.Waiting.Quorum != 1 || s.Waiting.NotBy != "alice" {
			t.Errorf("waiting = %+v", s.Waiting)
		}
		if s.Process == nil || s.Process.Name != "refund_approval" || s.Process.Version != 3 || len(s.Process.Hash) != 64 {
			t.Errorf("process = %+v", s.Process)
		}
		self = h.advance(decide(workflows.ActionApprove, "approval", "alice", finance))
		outsider = h.advance(decide(workflows.ActionApprove, "approval", "mallory", "approve"))
		approve = h.advance(decide(workflows.ActionApprove, "approval", "bob", finance))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`)
	if err != nil {
		t.Fatal(err)
	}
	self.refused(t, "cannot approve it (separation of duties)")
	outsider.refused(t, "mallory may not decide at step approval; allowed: anyone holding the scope group:finance")
	approve.accepted(t)
	if st.Status != workflows.StatusCompleted || st.Type != "refund_approval" {
		t.Fatalf("status %s type %s", st.Status, st.Type)
	}
	if s := stepOf(st, "finance_approval"); s.Status != workflows.StepSkipped || !strings.Contains(s.Output, "params.amount_cents > 50000 is false") {
		t.Errorf("finance_approval = %+v, want skipped saying why", s)
	}
	if s := stepOf(st, "approval"); s.Actor != "bob" || s.Status != workflows.StepCompleted {
		t.Errorf("approval = %+v", s)
	}
	refunds := h.backends.Refunds()
	if len(refunds) != 1 || refunds[0]["order_id"] != "ORD-01003" || fmt.Sprint(refunds[0]["amount_cents"]) != "2500" || refunds[0]["status"] != "refunded" {
		t.Errorf("refunds = %v", refunds)
	}
	if got := h.orderStatus("ORD-01003"); got != "refunded" || before == "refunded" {
		t.Errorf("order status %q → %q", before, got)
	}
	if e := h.backends.Ledger()[processKey(st.WorkflowID, "issue_refund")]; e.Applied != 1 {
		t.Errorf("refund ledger entry %+v, want applied once", e)
	}
	var order map[string]any
	if err := json.Unmarshal([]byte(st.Outputs["find_order"]), &order); err != nil || order["rows_returned"] != float64(1) {
		t.Errorf("find_order output %s", st.Outputs["find_order"])
	}
}

// TestProcessGateWithoutSeparationOfDutiesTakesTheRequester: a gate that declares
// separation_of_duties: false accepts the requester's own approval, and says nobody is
// excluded while it waits.
func TestProcessGateWithoutSeparationOfDutiesTakesTheRequester(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t, "      scope: group:finance\n      deadline: 72h", "      scope: group:finance\n      separation_of_duties: false\n      deadline: 72h")
	var self *outcome
	h.at(time.Hour, func() {
		if s := h.status(); s.Waiting == nil || s.Waiting.Step != "approval" || s.Waiting.NotBy != "" {
			t.Errorf("waiting = %+v, want no one excluded", s.Waiting)
		}
		self = h.advance(decide(workflows.ActionApprove, "approval", "alice", finance))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 1200, "reason": "wrong size"}`)
	if err != nil {
		t.Fatal(err)
	}
	self.accepted(t)
	if s := stepOf(st, "approval"); st.Status != workflows.StatusCompleted || s.Actor != "alice" {
		t.Errorf("status %s, approval %+v; want completed, approved by the requester alice", st.Status, s)
	}
}

func TestProcessLargeRefundNeedsTwoDistinctApprovers(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	var first, again, second *outcome
	h.at(time.Hour, func() {
		first = h.advance(decide(workflows.ActionApprove, "finance_approval", "bob", finance))
	})
	h.at(2*time.Hour, func() {
		s := h.status()
		if s.Status != workflows.StatusWaitingApproval || s.Waiting == nil || !slices.Equal(s.Waiting.Approvals, []string{"bob"}) || s.Waiting.Quorum != 2 {
			t.Errorf("after one approval: %s %+v", s.Status, s.Waiting)
		}
		// The inbox lists the gate with the run's summary.
		if want := "Refund 90000 cents on ORD-01004, requested by alice"; s.Waiting == nil || s.Waiting.Summary != want {
			t.Errorf("the gate's summary is %+v, want %q", s.Waiting, want)
		}
		again = h.advance(decide(workflows.ActionApprove, "finance_approval", "bob", finance))
		second = h.advance(decide(workflows.ActionApprove, "finance_approval", "carol", finance))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)
	if err != nil {
		t.Fatal(err)
	}
	if v := first.accepted(t); v.Status != workflows.StatusWaitingApproval || v.CurrentStep != "finance_approval" {
		t.Errorf("after the first approval the run answered %s at %s, want still waiting", v.Status, v.CurrentStep)
	}
	again.refused(t, "bob already approved step finance_approval; it needs 2 distinct approvers, 1 more")
	second.accepted(t)
	if s := stepOf(st, "finance_approval"); s.Actor != "bob, carol" || s.Status != workflows.StepCompleted {
		t.Errorf("finance_approval = %+v", s)
	}
	if s := stepOf(st, "approval"); s.Status != workflows.StepSkipped {
		t.Errorf("approval = %+v, want skipped", s)
	}
	if got := len(st.Events("approved")); got != 1 {
		t.Errorf("%d partial approvals recorded, want 1", got)
	}
	if st.Status != workflows.StatusCompleted {
		t.Errorf("status %s", st.Status)
	}
}

func TestProcessRemindsThenEscalatesToTheSecondGroup(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	var early, cfo *outcome
	h.at(49*time.Hour, func() {
		st := h.details()
		if len(st.Events("reminder")) != 1 || len(st.Events("escalated")) != 0 {
			t.Errorf("at 49h: reminders %v, escalations %v", st.Events("reminder"), st.Events("escalated"))
		}
		early = h.advance(decide(workflows.ActionApprove, "finance_approval", "cfo"))
	})
	h.at(73*time.Hour, func() {
		s := h.status()
		if s.Waiting == nil || !slices.Equal(s.Waiting.Approvers, []string{"cfo"}) || s.Waiting.Quorum != 1 || s.Waiting.Scope != "" {
			t.Errorf("after escalation: %+v", s.Waiting)
		}
		cfo = h.advance(decide(workflows.ActionApprove, "finance_approval", "cfo"))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01005", "amount_cents": 75000, "reason": "late delivery"}`)
	if err != nil {
		t.Fatal(err)
	}
	early.refused(t, "cfo may not decide at step finance_approval")
	cfo.accepted(t)
	if esc := st.Events("escalated"); len(esc) != 1 || !strings.Contains(esc[0].Detail, "no decision within 72h0m0s; now cfo may decide") {
		t.Errorf("escalated events %+v", esc)
	}
	if s := stepOf(st, "finance_approval"); s.Actor != "cfo" || st.Status != workflows.StatusCompleted {
		t.Errorf("finance_approval %+v, run %s", s, st.Status)
	}
}

func TestProcessTimesOutAfterItsEscalationWithNothingToUndo(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01005", "amount_cents": 75000, "reason": "late delivery"}`)
	if errorType(err) != workflows.ErrTypeApprovalTimeout || !strings.Contains(err.Error(), "no decision at step finance_approval within 24h0m0s") {
		t.Fatalf("err = %v", err)
	}
	if st.Status != workflows.StatusTimedOut || len(h.backends.Refunds()) != 0 || len(st.Events("compensated")) != 0 {
		t.Errorf("status %s, refunds %v, compensations %v", st.Status, h.backends.Refunds(), st.Events("compensated"))
	}
}

func TestProcessUndoesInReverseOrderWhenALaterStepFails(t *testing.T) {
	h := newHarness(t)
	// The notification goes to an endpoint that does not exist: a 404, final.
	d, src := refundSource(t, "endpoint: messages", "endpoint: no-such-endpoint")
	var reject *outcome
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "approval", "bob", finance)) })
	h.at(2*time.Hour, func() {
		s := h.status()
		if s.Status != workflows.StatusWaitingInput || s.CurrentStep != "notify_customer" {
			t.Errorf("after the failure: %s at %s", s.Status, s.CurrentStep)
		}
		// The status says why the step failed, not only the details.
		if s.Waiting == nil || !strings.Contains(s.Waiting.Failure, "404") {
			t.Errorf("waiting = %+v, want the failure", s.Waiting)
		}
		reject = h.advance(decide(workflows.ActionReject, "notify_customer", "bob"))
	})
	before := h.orderStatus("ORD-01002")
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01002", "amount_cents": 1000, "reason": "duplicate charge"}`)
	if errorType(err) != workflows.ErrTypeStepFailed {
		t.Fatalf("err = %v", err)
	}
	reject.accepted(t)
	var undone []string
	for _, e := range st.Events("compensated") {
		undone = append(undone, e.Step)
	}
	if !slices.Equal(undone, []string{"mark_order", "issue_refund"}) {
		t.Errorf("undone %v, want mark_order then issue_refund", undone)
	}
	if r := h.backends.Refunds(); len(r) != 1 || r[0]["status"] != "reversed" {
		t.Errorf("refunds %v, want one reversed", r)
	}
	if got := h.orderStatus("ORD-01002"); got != before {
		t.Errorf("order status %q, want it restored to %q", got, before)
	}
	if e := h.backends.Ledger()[processKey(st.WorkflowID, "issue_refund/undo")]; e.Applied != 1 {
		t.Errorf("reversal ledger %+v", e)
	}
}

func TestProcessFileStepsAndConditionsOverOutputs(t *testing.T) {
	h := newHarness(t)
	src := []byte(`name: manifest_check
title: Manifest check
version: 3
parameters:
  type: object
  properties:
    path: {type: string}
summary: "Check {{params.path}}"
steps:
  - name: load
    file: {action: parse, path: "{{params.path}}"}
  - name: report
    when: steps.load.output.format == "json" && steps.load.status == "completed"
    file: {action: write_report, name: "check-{{run.id}}", content: "{{steps.load.output.path}} is {{steps.load.output.format}}"}
  - name: never
    when: steps.load.output.format == "csv"
    call: {service: notifications, method: POST, endpoint: messages, body: {to: "x@example.com"}}
`)
	d, err := workflows.ParseDefinition("manifest_check.yaml", src, workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.runProcess(d, src, `{"path": "manifests/orders.json"}`)
	if err != nil {
		t.Fatal(err)
	}
	if s := stepOf(st, "report"); s.Status != workflows.StepCompleted || !strings.Contains(s.Output, "reports/check-") {
		t.Errorf("report = %+v", s)
	}
	if s := stepOf(st, "never"); s.Status != workflows.StepSkipped {
		t.Errorf("never = %+v", s)
	}
	raw, err := os.ReadFile(h.files.Dir() + "/" + strings.TrimPrefix(stepOf(st, "report").Output, "wrote "))
	if err != nil || !strings.Contains(string(raw), `"content":"manifests/orders.json is json"`) || !strings.Contains(string(raw), `"process":"manifest_check"`) {
		t.Errorf("report %s %v", raw, err)
	}
}

func TestProcessMissingTemplateValueWaitsForInput(t *testing.T) {
	h := newHarness(t)
	// An order that does not exist: find_order returns no row, so the customer's email
	// cannot be filled in; the step fails and waits instead of mailing nobody.
	d, src := refundSource(t)
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "approval", "bob", finance)) })
	h.at(2*time.Hour, func() {
		s := h.details()
		if s.Status != workflows.StatusWaitingInput || !strings.Contains(stepOf(s, "notify_customer").Error, "{{steps.find_order.output.row.email}}: the output of step find_order has no field row") {
			t.Errorf("%s: %+v", s.Status, stepOf(s, "notify_customer"))
		}
		h.advance(decide(workflows.ActionReject, "", "bob"))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-99999", "amount_cents": 1000, "reason": "no such order"}`)
	if errorType(err) != workflows.ErrTypeStepFailed || st.Status != workflows.StatusFailed {
		t.Fatalf("err = %v, status %s", err, st.Status)
	}
}

func TestProcessRefusesASourceThatDoesNotMatchItsHash(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	ps := workflows.NewProcessSource(d, src)
	ps.Source = strings.Replace(ps.Source, "quorum: 2", "quorum: 1", 1)
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: alice, Process: ps, Params: json.RawMessage(`{}`)})
	if err := h.env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "does not match its hash") {
		t.Fatalf("err = %v", err)
	}
}

// TestProcessEndpointValuesCannotAddParameters: a value filled into an endpoint's query is
// one query value ('&' and '=' escaped), and a value in its path is one segment that
// cannot bring a backslash some servers read as '/'.
func TestProcessEndpointValuesCannotAddParameters(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var got []string
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"found": 0}`))
	}))
	t.Cleanup(rec.Close)
	services := demo.Services(h.baseURL)
	services["users"] = activities.Service{BaseURL: rec.URL + "/users"}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(quietLogger)
	h.env = suite.NewTestWorkflowEnvironment()
	worker.Register(h.env, worker.Activities{Database: h.db, Files: h.files, Gateway: &activities.Gateway{Client: &http.Client{}, Services: services}})
	src := []byte(`name: user_search
title: User search
version: 1
parameters:
  type: object
  properties:
    name: {type: string}
    team: {type: string}
summary: "Search {{params.name}}"
steps:
  - name: search
    call: {service: users, method: GET, endpoint: "teams/{{params.team}}/search?name={{params.name}}&limit=5"}
`)
	d, err := workflows.ParseDefinition("user_search.yaml", src, workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.runProcess(d, src, `{"name": "ann&role=admin=1 x/y", "team": "a b"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "/users/teams/a%20b/search?name=ann%26role%3Dadmin%3D1+x%2Fy&limit=5" {
		t.Errorf("the backend got %q", got)
	}
	q, _ := url.ParseQuery(strings.SplitN(got[0], "?", 2)[1])
	if q.Get("name") != "ann&role=admin=1 x/y" || q.Has("role") || st.Status != workflows.StatusCompleted {
		t.Errorf("query %v, status %s", q, st.Status)
	}

	// A backslash in a path value fails the step, named, before any request.
	h2 := newHarness(t)
	h2.env = suite.NewTestWorkflowEnvironment()
	worker.Register(h2.env, worker.Activities{Database: h2.db, Files: h2.files, Gateway: &activities.Gateway{Client: &http.Client{}, Services: services}})
	checked := false
	h2.at(time.Hour, func() {
		checked = true
		s := h2.details()
		if s.Status != workflows.StatusWaitingInput || !strings.Contains(stepOf(s, "search").Error, "encoded backslash") {
			t.Errorf("after a backslash: %s, %+v", s.Status, stepOf(s, "search"))
		}
		h2.env.CancelWorkflow()
	})
	h2.runProcess(d, src, `{"name": "ann", "team": "a\\b"}`)
	if !checked || len(got) != 1 {
		t.Errorf("a request went out with a backslash (%v): %q", checked, got)
	}
}

// TestAnEndedRunSaysWhoDecidedInTheUI: the Temporal UI shows a run's current details; once
// the run has ended they say who decided each gate, and how, with the comment.
func TestAnEndedRunSaysWhoDecidedInTheUI(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "approval", "bob", finance)) })
	if _, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`); err != nil {
		t.Fatal(err)
	}
	v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	if got := md.GetCurrentDetails(); !strings.Contains(got, "- `approval`: approved by bob — checked") || !strings.Contains(got, "**Status:** completed") {
		t.Errorf("current details after the end:\n%s", got)
	}
}
