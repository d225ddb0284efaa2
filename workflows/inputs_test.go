package workflows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// shippedApprovalInputs is the end of the shipped refund example's small-refund gate: it
// takes an optional amount approved, no more than asked, which the refund issues.
const shippedApprovalInputs = `      changes: {revisable: [amount_cents, reason], max_rounds: 3}
      inputs:
        type: object
        properties:
          approved_cents:
            type: integer
            minimum: 1
            description: The amount approved, in cents, if less than asked.
      rules:
        - rule: "!has(inputs.approved_cents) || inputs.approved_cents <= params.amount_cents"
          message: finance cannot approve more than was asked
  - name: issue_refund`

// refundWithInputs is the refund example whose small-refund gate asks finance for the
// amount it approves (required here), no more than asked, an optional ticket, and a reason
// for a reject; the refund issues the approved amount.
func refundWithInputs(t *testing.T) (workflows.Definition, []byte) {
	return refundSource(t, shippedApprovalInputs,
		`      changes: {revisable: [amount_cents, reason], max_rounds: 3}
      reject_needs_reason: true
      inputs:
        type: object
        required: [approved_cents]
        properties:
          approved_cents: {type: integer, minimum: 1, description: "The amount finance approves, in cents."}
          ticket: {type: string, pattern: "^FIN-[0-9]+$"}
      rules:
        - rule: inputs.approved_cents <= params.amount_cents
          message: finance cannot approve more than was asked
  - name: issue_refund`)
}

// shippedRefundAmount is the amount the shipped refund example issues: the amount a gate
// approved, else the amount asked.
const shippedRefundAmount = `        amount_cents: >-
          {{has(steps.finance_approval.output) && has(steps.finance_approval.output.inputs.approved_cents)
          ? steps.finance_approval.output.inputs.approved_cents
          : has(steps.approval.output) && has(steps.approval.output.inputs.approved_cents)
          ? steps.approval.output.inputs.approved_cents : params.amount_cents}}`

// refundWithoutInputs is the refund example whose small-refund gate declares no inputs
// (its output then has none to read): the refund issues the amount asked.
func refundWithoutInputs(t *testing.T) (workflows.Definition, []byte) {
	return refundSource(t, shippedApprovalInputs, "      changes: {revisable: [amount_cents, reason], max_rounds: 3}\n  - name: issue_refund",
		shippedRefundAmount, `        amount_cents: "{{params.amount_cents}}"`)
}

// A gate that declares inputs takes an approve only with inputs its schema and rules
// accept, each refusal naming the field or the rule; the approved amount is what later
// steps use, and the record says what was approved.
func TestDecisionInputsAreCheckedRecordedAndUsed(t *testing.T) {
	h := newHarness(t)
	d, src := refundWithInputs(t)
	with := func(action workflows.Action, inputs map[string]any, comment string) workflows.AdvanceRequest {
		req := decide(action, "approval", "bob", finance)
		req.Inputs, req.Comment = inputs, comment
		return req
	}
	var none, over, unknown, badType, pattern, rejectWith, rejectBare, ok *outcome
	h.at(time.Hour, func() {
		w := h.status().Waiting
		if w == nil || w.Inputs == nil || len(w.Rules) != 1 || w.Rules[0] != "finance cannot approve more than was asked" || !w.ReasonOnReject {
			t.Errorf("waiting = %+v, want the inputs' schema, the rule and the reason on reject", w)
		}
		none = h.advance(with(workflows.ActionApprove, nil, "ok"))
		over = h.advance(with(workflows.ActionApprove, map[string]any{"approved_cents": 9000}, "ok"))
		unknown = h.advance(with(workflows.ActionApprove, map[string]any{"approved_cents": 100, "refund_all": true}, "ok"))
		badType = h.advance(with(workflows.ActionApprove, map[string]any{"approved_cents": "lots"}, "ok"))
		pattern = h.advance(with(workflows.ActionApprove, map[string]any{"approved_cents": 100, "ticket": "X"}, "ok"))
		rejectWith = h.advance(with(workflows.ActionReject, map[string]any{"approved_cents": 100}, "no"))
		rejectBare = h.advance(with(workflows.ActionReject, nil, " "))
		ok = h.advance(with(workflows.ActionApprove, map[string]any{"approved_cents": 1500, "ticket": "FIN-7"}, "half is fair"))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`)
	if err != nil {
		t.Fatal(err)
	}
	none.refused(t, "the inputs of step approval: inputs: missing property 'approved_cents'")
	over.refused(t, "break a rule: finance cannot approve more than was asked (rule: inputs.approved_cents <= params.amount_cents)")
	unknown.refused(t, "inputs.refund_all: is not a known field of inputs")
	badType.refused(t, "inputs.approved_cents: got string, want integer; allowed: integer, at least 1 — The amount finance approves, in cents")
	pattern.refused(t, "inputs.ticket: 'X' does not match pattern '^FIN-[0-9]+$'; allowed: string, matching ^FIN-[0-9]+$")
	rejectWith.refused(t, "inputs go with approve at step approval, not with reject")
	rejectBare.refused(t, "step approval needs a reason to reject; give it as the comment")
	ok.accepted(t)
	if st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s: %s", st.Status, st.Error)
	}
	refunds := h.backends.Refunds()
	if len(refunds) != 1 || fmt.Sprint(refunds[0]["amount_cents"]) != "1500" {
		t.Errorf("refunds = %v, want the 1500 cents finance approved", refunds)
	}
	if s := stepOf(st, "approval"); s.Actor != "bob" || s.Output != "approved with approved_cents=1500, ticket=FIN-7" {
		t.Errorf("approval = %+v, want the inputs in its record", s)
	}
}

// A gate without inputs refuses a decision that carries some, rather than dropping them.
func TestAGateWithoutInputsRefusesThem(t *testing.T) {
	h := newHarness(t)
	d, src := refundWithoutInputs(t)
	var o *outcome
	h.at(time.Hour, func() {
		req := decide(workflows.ActionApprove, "approval", "bob", finance)
		req.Inputs = map[string]any{"approved_cents": 1}
		o = h.advance(req)
		h.advance(decide(workflows.ActionApprove, "approval", "bob", finance))
	})
	if _, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`); err != nil {
		t.Fatal(err)
	}
	o.refused(t, "step approval takes no inputs")
}

// Inputs are checked when a definition loads: each mistake is named with its line.
func TestDeclaredInputsAreCheckedAtLoad(t *testing.T) {
	cases := map[string]string{
		`inputs: {type: object, properties: {n: {type: array}}}`:                 "input n has type array; allowed: string, number, integer or boolean",
		`inputs: {type: object, properties: {n: {type: string, format: ipv4}}}`:  `input n has format "ipv4"; allowed: date, date-time, email or uri`,
		`inputs: {type: object, properties: {n: {type: string, items: {}}}}`:     `input n may not use "items"`,
		`inputs: {type: object, required: [m], properties: {n: {type: string}}}`: "required input m is not among the properties; allowed: n",
		`inputs: {type: object, properties: {N: {type: string}}}`:                `input "N"; allowed: lowercase letters`,
		`inputs: {type: string}`:                      "inputs has type string; allowed: a JSON Schema of type object",
		`rules: [{rule: "inputs.n > 1", message: x}]`: "rules check inputs, and this gate declares none",
		"inputs: {type: object, properties: {n: {type: integer}}}\n      rules: [{rule: \"inputs.n +\", message: x}]": `rule "inputs.n +" does not compile`,
		"inputs: {type: object, properties: {n: {type: integer}}}\n      rules: [{rule: \"inputs.n > 1\"}]":           "rule 0 has no message",
	}
	for decl, want := range cases {
		_, bare := refundWithoutInputs(t)
		src := strings.Replace(string(bare), "      scope: group:finance\n      deadline: 72h\n",
			"      scope: group:finance\n      deadline: 72h\n      "+decl+"\n", 1)
		_, err := workflows.ParseDefinition("refund_approval.yaml", []byte(src), workflows.DefinitionRules{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refund_approval.yaml:") {
			t.Errorf("%s: err = %v, want %q with file:line", decl, err, want)
		}
	}
}

// refundYAML is the shipped refund example's text.
func refundYAML(t *testing.T) string {
	t.Helper()
	_, src := refundSource(t)
	return string(src)
}
