package proctest_test

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/proctest"
)

// refund is a definition that reads an order of the demo data, refunds it through the
// demo orders service after a gate, marks it refunded, and reads it back.
const refund = `name: refund
title: Refund
description: Refund an order of the demo data.
version: 1
parameters:
  type: object
  properties: {id: {type: string}}
summary: "refund {{params.id}}"
statements:
  find: {mode: read, query: "SELECT status FROM orders WHERE reference = :id"}
  mark: {mode: write, query: "UPDATE orders SET status = 'refunded' WHERE reference = :id"}
outputs:
  refund_id: "{{steps.issue.output.refund_id}}"
  status: "{{steps.after.output.row.status}}"
steps:
  - name: before
    sql: {statement: find, args: {id: "{{params.id}}"}}
  - name: not_yet
    fail: {when: 'steps.before.output.row.status == "refunded"', reason: already refunded}
  - name: ok
    approval: {scope: approve, deadline: 24h}
  - name: issue
    call: {service: orders, method: POST, endpoint: refunds, body: {order_id: "{{params.id}}", amount_cents: 100, reason: test}}
  - name: mark
    sql: {statement: mark, args: {id: "{{params.id}}"}}
  - name: after
    sql: {statement: find, args: {id: "{{params.id}}"}}
`

// demoCase refunds ORD-01003 on the demo backends; the same case twice in one file proves
// each case has a demo world of its own (the second would find the order refunded).
const demoCase = `  - name: %s
    params: {id: ORD-01003}
    identities: {bob: [approve]}
    script:
      - approve: ok
        as: bob
    expect:
      status: completed
      outputs: {refund_id: RF-0001, status: refunded}
      calls:
        - {step: before, call: statement find, body: {id: ORD-01003}}
        - {step: issue, call: POST orders refunds, body: {order_id: ORD-01003, amount_cents: 100, reason: test}}
        - {step: mark, call: statement mark}
        - {step: after}
`

// TestDemoBackendsRunRealActivitiesPerCase: a case with backends: demo runs the real
// activities against a demo world of its own, and its calls are recorded as mocks' are.
func TestDemoBackendsRunRealActivitiesPerCase(t *testing.T) {
	text := "backends: demo\ncases:\n" + strings.ReplaceAll(demoCase, "%s", "first") + strings.ReplaceAll(demoCase, "%s", "second")
	f, err := proctest.Parse("refund.test.yaml", []byte(text), []byte(refund))
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range f.Run(nil) {
		t.Logf("%s: %s", res.Case, res.Duration)
		for _, p := range res.Problems {
			t.Errorf("%s: %s", res.Case, p)
		}
	}
}

// TestDemoBackendsTakeNoMocks: a case runs on mocks or on the demo backends; both is
// refused at load, with the line.
func TestDemoBackendsTakeNoMocks(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"cases:\n  - name: a\n    backends: demo\n    mocks:\n      before: [{output: {rows_returned: 0}}]\n",
			`refund.test.yaml:4: case "a" runs on the demo backends (backends: demo) and takes no mocks`},
		{"backends: demo\ncases:\n  - name: a\n    mocks:\n      before: [{output: {rows_returned: 0}}]\n",
			`refund.test.yaml:4: case "a" runs on the demo backends`},
		{"cases:\n  - name: a\n    backends: staging\n", `refund.test.yaml:3: backends "staging" does not exist; allowed: mocks, demo`},
		{"backends: real\ncases:\n  - name: a\n", `refund.test.yaml:1: backends "real" does not exist`},
	} {
		_, err := proctest.Parse("refund.test.yaml", []byte(tc.text), []byte(refund))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
	// A file of demo cases may keep one on mocks.
	text := "backends: demo\ncases:\n  - name: a\n    backends: mocks\n    mocks:\n      before: [{output: {rows_returned: 0}}]\n"
	if _, err := proctest.Parse("refund.test.yaml", []byte(text), []byte(refund)); err != nil {
		t.Errorf("backends: mocks in a demo file: %v", err)
	}
}
