package workflows_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/workflows"
)

// cubic is a condition whose work grows with the cube of its list: it never stops early,
// so over 3 000 items it would run for hours.
const cubic = `params.items.all(a, params.items.all(b, params.items.all(c, a != b || c >= 0)))`

// costly is a definition whose steps use expr, in a when or in a report's content.
func costly(schema, when, content string) []byte {
	return []byte(fmt.Sprintf(`name: costly
title: Costly
version: 1
parameters:
  type: object
  properties:
    items: %s
summary: "Check {{size(params.items)}} items"
steps:
  - name: report
    when: %s
    file: {action: write_report, name: "costly-{{run.id}}", content: %q}
`, schema, when, content))
}

func TestAnExpressionThatMayCostTooMuchIsRefusedAtLoad(t *testing.T) {
	_, err := workflows.ParseDefinition("costly.yaml", costly("{type: array}", cubic, "done"), workflows.DefinitionRules{})
	if err == nil || !strings.Contains(err.Error(), `costly.yaml:11: condition "`+cubic+`" may cost `) ||
		!strings.Contains(err.Error(), "over the cost limit of 1000000") || !strings.Contains(err.Error(), "maxItems") {
		t.Errorf("unbounded list: err = %v, want the when refused at its line, naming the limit", err)
	}
	// The same condition over a list the schema bounds costs little enough.
	if _, err := workflows.ParseDefinition("costly.yaml", costly("{type: array, maxItems: 20}", cubic, "done"), workflows.DefinitionRules{}); err != nil {
		t.Errorf("maxItems 20: %v", err)
	}
	// A linear condition over an unbounded list is fine.
	if _, err := workflows.ParseDefinition("costly.yaml", costly("{type: array}", "params.items.exists(i, i == 3)", "done"), workflows.DefinitionRules{}); err != nil {
		t.Errorf("linear: %v", err)
	}
	// An expression in a template is held to the same limit.
	_, err = workflows.ParseDefinition("costly.yaml", costly("{type: array}", "true", "{{params.items.map(a, params.items.map(b, params.items.map(c, a)))}}"), workflows.DefinitionRules{})
	if err == nil || !strings.Contains(err.Error(), "costly.yaml:12: template {{params.items.map(") || !strings.Contains(err.Error(), "over the cost limit of 1000000") {
		t.Errorf("template: err = %v", err)
	}
}

// rawSource is a process source that never went through the load check, as a run
// started by an older worker or a raw Temporal client may carry.
func rawSource(data []byte) workflows.ProcessSource {
	return workflows.NewProcessSource(workflows.Definition{Name: "costly", Version: 1}, data)
}

// startedBeforeTheCheck makes the run one started before runs checked their definition
// at start (version check-definition-at-start), so what it carries reaches its steps.
func (h *harness) startedBeforeTheCheck() {
	h.env.OnGetVersion("check-definition-at-start", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
}

func manyItems(n int) string {
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	raw, _ := json.Marshal(map[string]any{"items": items})
	return string(raw)
}

func TestAConditionOverTheCostLimitFailsTheRunInsteadOfHanging(t *testing.T) {
	h := newHarness(t)
	h.startedBeforeTheCheck()
	start := time.Now()
	h.env.ExecuteWorkflow("costly", workflows.ProcessInput{Request: alice, Process: rawSource(costly("{type: array}", cubic, "done")), Params: json.RawMessage(manyItems(3000))})
	took := time.Since(start)
	st, err := h.result()
	t.Logf("the run ended in %s", took)
	if errorType(err) != workflows.ErrTypeStepFailed || st.Status != workflows.StatusFailed {
		t.Fatalf("err = %v, status %s; want the run failed", err, st.Status)
	}
	for _, want := range []string{`step report failed: condition "` + cubic + `"`, "cost limit of 1000000"} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("error %q does not say %q", st.Error, want)
		}
	}
	if s := stepOf(st, "report"); s.Status != workflows.StepPending {
		t.Errorf("report = %+v, want never run", s)
	}
	if took > 5*time.Second {
		t.Errorf("the run took %s", took)
	}
}

func TestATemplateOverTheCostLimitFailsItsStep(t *testing.T) {
	h := newHarness(t)
	h.startedBeforeTheCheck()
	src := costly("{type: array}", "true", "{{params.items.map(a, params.items.map(b, params.items.map(c, a))).size()}}")
	h.at(time.Hour, func() {
		s := h.details()
		if e := stepOf(s, "report").Error; s.Status != workflows.StatusWaitingInput || !strings.Contains(e, "cost limit of 1000000") {
			t.Errorf("%s: report error %q, want the step failed at the cost limit", s.Status, e)
		}
		h.advance(decide(workflows.ActionReject, "report", "bob"))
	})
	h.env.ExecuteWorkflow("costly", workflows.ProcessInput{Request: alice, Process: rawSource(src), Params: json.RawMessage(manyItems(3000))})
	if st, err := h.result(); errorType(err) != workflows.ErrTypeStepFailed {
		t.Fatalf("err = %v, status %s", err, st.Status)
	}
}

func TestAQuorumCountsOnePersonOnceWhateverTheCaseOfTheirName(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	var first, again, wide, requester, second *outcome
	h.at(time.Hour, func() {
		first = h.advance(decide(workflows.ActionApprove, "finance_approval", "fin-ann", finance))
	})
	h.at(2*time.Hour, func() {
		again = h.advance(decide(workflows.ActionApprove, "finance_approval", " Fin-Ann ", finance))
		wide = h.advance(decide(workflows.ActionApprove, "finance_approval", "ＦＩＮ－ＡＮＮ", finance))
		requester = h.advance(decide(workflows.ActionApprove, "finance_approval", "ALICE", finance))
		h.env.SignalWorkflow(workflows.SignalApprove, workflows.Decision{Step: "finance_approval", Actor: "FIN-ANN"})
	})
	h.at(3*time.Hour, func() {
		if s := h.status(); s.Status != workflows.StatusWaitingApproval || len(s.Waiting.Approvals) != 1 {
			t.Errorf("after the same person again: %s %+v, want still one approval", s.Status, s.Waiting)
		}
		second = h.advance(decide(workflows.ActionApprove, "finance_approval", "carol", finance))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)
	if err != nil {
		t.Fatal(err)
	}
	first.accepted(t)
	again.refused(t, "already approved step finance_approval (as fin-ann")
	wide.refused(t, "already approved step finance_approval")
	requester.refused(t, "ALICE requested this workflow and cannot approve it (separation of duties)")
	if second == nil {
		t.Fatalf("the gate opened without a second person: %+v", stepOf(st, "finance_approval"))
	}
	second.accepted(t)
	if ign := st.Events("signal_ignored"); len(ign) != 1 || !strings.Contains(ign[0].Detail, "already approved") {
		t.Errorf("ignored signals %+v, want FIN-ANN's", ign)
	}
	if s := stepOf(st, "finance_approval"); s.Actor != "fin-ann, carol" || st.Status != workflows.StatusCompleted {
		t.Errorf("finance_approval %+v, run %s", s, st.Status)
	}
}

// TestRunsStartedBeforeFoldingCompareNamesAsTheyDid: a run that replays without the
// change's marker still counts differently cased names apart, so its history replays.
func TestRunsStartedBeforeFoldingCompareNamesAsTheyDid(t *testing.T) {
	h := newHarness(t)
	h.env.OnGetVersion("cel-cost-limit-and-folded-actors", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	d, src := refundSource(t)
	var second *outcome
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "finance_approval", "fin-ann", finance)) })
	h.at(2*time.Hour, func() { second = h.advance(decide(workflows.ActionApprove, "finance_approval", "Fin-Ann", finance)) })
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)
	if err != nil {
		t.Fatal(err)
	}
	second.accepted(t)
	if s := stepOf(st, "finance_approval"); s.Actor != "fin-ann, Fin-Ann" {
		t.Errorf("finance_approval %+v", s)
	}
}

func TestNamesThatCouldSpoofARecordAreRefusedAndTextIsCleaned(t *testing.T) {
	h := newHarness(t)
	d, src := refundSource(t)
	var override, newline, ok *outcome
	h.at(time.Hour, func() {
		override = h.advance(decide(workflows.ActionApprove, "approval", "bob\u202eOFC", finance))
		newline = h.advance(decide(workflows.ActionApprove, "approval", "bob\nApproved by CFO", finance))
		h.env.SignalWorkflow(workflows.SignalApprove, workflows.Decision{Step: "approval", Actor: "carol\x00"})
	})
	h.at(2*time.Hour, func() {
		req := decide(workflows.ActionApprove, "approval", "bob", finance)
		req.Comment = "fine\u202e\r\nApproved by CFO\x1b[2J"
		ok = h.advance(req)
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged\u202e in transit"}`)
	if err != nil {
		t.Fatal(err)
	}
	override.refused(t, "U+202E")
	newline.refused(t, "U+000A")
	if ok == nil {
		t.Fatalf("the gate opened on a spoofing name: %+v", stepOf(st, "approval"))
	}
	ok.accepted(t)
	if ign := st.Events("signal_ignored"); len(ign) != 1 || !strings.Contains(ign[0].Detail, "U+0000") || strings.ContainsRune(ign[0].Actor, 0) {
		t.Errorf("ignored signals %+v, want carol's refused and shown without its NUL", ign)
	}
	if s := stepOf(st, "approval"); s.Comment != "fine\nApproved by CFO[2J" || s.Actor != "bob" {
		t.Errorf("approval actor %q comment %q, want the comment without its override, CR and ESC", s.Actor, s.Comment)
	}
	for _, e := range st.History {
		if strings.ContainsAny(e.Detail+e.Actor, "\u202e\x1b\r\x00") {
			t.Errorf("history entry %+v holds a control or bidi character", e)
		}
	}
	if r := h.backends.Refunds(); len(r) != 1 || r[0]["reason"] != "damaged in transit" {
		t.Errorf("refunds %v, want the reason sent without its override", r)
	}
}

func TestApproverNamesAreCheckedAtLoad(t *testing.T) {
	_, src := refundSource(t)
	for _, c := range []struct{ old, new, want string }{
		{"approvers: [cfo]", `approvers: ["cfo\u202e"]`, "refund_approval.yaml:63: approver \"cfo\\u202e\" holds U+202E"},
		{"approvers: [cfo]", `approvers: ["cfo\nceo"]`, "holds U+000A"},
		{"approvers: [cfo]", `approvers: [cfo, " CFO"]`, "refund_approval.yaml:63: approver \" CFO\" is listed twice (as \"cfo\")"},
		{"scope: group:finance\n      quorum: 2", "scope: \"group:finance\\u200b\"\n      quorum: 2", "refund_approval.yaml:57: scope \"group:finance\\u200b\" holds U+200B"},
	} {
		edited := strings.Replace(string(src), c.old, c.new, 1)
		_, err := workflows.ParseDefinition("refund_approval.yaml", []byte(edited), workflows.DefinitionRules{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.new, err, c.want)
		}
	}
}

func TestARequesterNameThatCouldSpoofARecordIsRefused(t *testing.T) {
	_, err := app.PrepareStart(workflows.KindDeployment, json.RawMessage(`{}`), workflows.Request{RequestedBy: "alice\u202e"})
	if err == nil || !strings.Contains(err.Error(), "requested_by") || !strings.Contains(err.Error(), "U+202E") {
		t.Errorf("err = %v", err)
	}
}

func TestNoticesShowNoControlOrBidiCharacters(t *testing.T) {
	h := newHarness(t)
	notices := h.tellOneChannel()
	d, src := refundSource(t)
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "approval", "bob", finance)) })
	// The harness starts the run as a raw client would, past PrepareStart's check of the name.
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: workflows.Request{RequestedBy: "mallory\u202eOFC"},
		Process: workflows.NewProcessSource(d, src), Params: json.RawMessage(`{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged\u202e in transit"}`)})
	if _, err := h.result(); err != nil {
		t.Fatal(err)
	}
	if len(*notices) == 0 {
		t.Fatal("no notice was sent")
	}
	for _, n := range *notices {
		if strings.ContainsRune(n.Summary+n.RequestedBy+n.Who+string(n.Params), '\u202e') {
			t.Errorf("notice %s holds U+202E: summary %q, requested by %q, params %s", n.Event, n.Summary, n.RequestedBy, n.Params)
		}
		if !strings.Contains(n.Summary, "requested by malloryOFC") || !strings.Contains(string(n.Params), `damaged\u202e in transit`) {
			t.Errorf("notice %s: summary %q, params %s; want the name without its override, the parameter escaped", n.Event, n.Summary, n.Params)
		}
	}
}

// TestARunChecksItsDefinitionWhenItStarts: a definition no server loaded (started by a raw
// Temporal client) is checked when its run starts: one that names a step it does not
// have, or costs too much, fails at once with every problem named, never reaching a step.
func TestARunChecksItsDefinitionWhenItStarts(t *testing.T) {
	for name, tc := range map[string]struct {
		src  []byte
		want []string
	}{
		"a step it does not have": {costly("{type: array}", "steps.nosuch.status == 'completed'", "done"),
			[]string{"process costly cannot run", "costly.yaml:11", "nosuch"}},
		"a condition that costs too much": {costly("{type: array}", cubic, "done"),
			[]string{"process costly cannot run", "over the cost limit of 1000000"}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.env.ExecuteWorkflow("costly", workflows.ProcessInput{Request: alice, Process: rawSource(tc.src), Params: json.RawMessage(manyItems(3))})
			if !h.env.IsWorkflowCompleted() {
				t.Fatal("the run did not end")
			}
			err := h.env.GetWorkflowError()
			if errorType(err) != activities.ErrTypeInvalidInput {
				t.Fatalf("err = %v, want the start refused as invalid", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
