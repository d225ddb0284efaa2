package proctest_test

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/proctest"
)

// tiny is a definition with a read, a gate and a write that is undone.
const tiny = `name: tiny
title: Tiny
description: A read, a gate, a write.
version: 1
parameters:
  type: object
  properties: {id: {type: string}}
summary: "tiny {{params.id}}"
steps:
  - name: fetch
    call: {service: orders, method: GET, endpoint: "orders/{{params.id}}"}
  - name: ok
    approval: {scope: approve, deadline: 24h}
  - name: write
    call: {service: orders, method: POST, endpoint: refunds, body: {id: "{{params.id}}"}}
    compensate:
      call: {service: orders, method: POST, endpoint: refunds/reverse, body: {id: "{{params.id}}"}}
  - name: tell
    call: {service: notifications, method: POST, endpoint: messages, body: {id: "{{params.id}}"}}
`

func parse(t *testing.T, text string) (*proctest.File, error) {
	t.Helper()
	return proctest.Parse("tiny.test.yaml", []byte(text), []byte(tiny))
}

func run(t *testing.T, text string) proctest.Result {
	t.Helper()
	f, err := parse(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) != 1 {
		t.Fatalf("%d cases", len(f.Cases))
	}
	return f.RunCase(&f.Cases[0])
}

// TestBadTestFileIsRefusedWithItsLine: every mistake a test file can hold is named with
// its line, as a definition's are.
func TestBadTestFileIsRefusedWithItsLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"cases:\n  - name: a\n    expekt: {}\n", `tiny.test.yaml:3: unknown field "expekt"`},
		{"cases:\n  - name: a\n    mocks:\n      fech: [{output: {}}]\n", `tiny.test.yaml:4: no step of tiny has the key "fech"; allowed: fetch, write, write/undo, tell`},
		{"cases:\n  - name: a\n    mocks:\n      ok: [{output: {}}]\n", `tiny.test.yaml:4: step ok calls no backend`},
		{"cases:\n  - name: a\n    mocks:\n      fetch: [{output: {}, timeout: true}]\n", `tiny.test.yaml:4: an answer is exactly one of output, error and timeout; this one has 2`},
		{"cases:\n  - name: a\n    script:\n      - approve: okk\n        as: requester\n", `tiny.test.yaml:4: tiny has no gate "okk"; allowed: ok`},
		{"cases:\n  - name: a\n    script:\n      - approve: ok\n        as: bob\n", `tiny.test.yaml:5: identity "bob" is not declared`},
		{"cases:\n  - name: a\n    script:\n      - event: wiat\n        as: requester\n", `tiny.test.yaml:4: tiny has no step "wiat"; allowed: fetch, ok, write, tell`},
		{"cases:\n  - name: a\n    script:\n      - event: ok\n        as: requester\n", `tiny.test.yaml:4: step ok does not wait for an event, and tiny has no step that does`},
		{"cases:\n  - name: a\n    script:\n      - approve: ok\n        as: requester\n        payload: {a: 1}\n", `tiny.test.yaml:6: payload is for event`},
		{"cases:\n  - name: a\n    script:\n      - advance: 3 days\n", `tiny.test.yaml:4: advance "3 days" is not a duration`},
		{"cases:\n  - name: a\n    expect:\n      status: finished\n", `tiny.test.yaml:4: status "finished" does not exist`},
		{"cases:\n  - name: a\n    expect:\n      steps:\n        - fetch: done\n", `tiny.test.yaml:5: step status "done" does not exist`},
		{"cases:\n  - name: a\n    expect:\n      steps:\n        - fetsh: completed\n", `tiny.test.yaml:5: tiny has no step "fetsh"`},
	} {
		_, err := parse(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

// mocks answer every act of tiny.
const mocks = `    mocks:
      fetch: [{output: {id: A-1, status: open}}]
      write: [{output: {ok: true}}]
      write/undo: [{output: {ok: true}}]
      tell: [{output: {}}]
`

// TestFailingCaseSaysWhatDiffers asserts a failing case's report word for word.
func TestFailingCaseSaysWhatDiffers(t *testing.T) {
	res := run(t, `identities: {ann: [approve]}
cases:
  - name: approved
    params: {id: A-1}
`+mocks+`    script:
      - approve: ok
        as: ann
    expect:
      status: rejected
      steps:
        - fetch: completed
        - ok: completed
        - write: failed
        - tell: completed
      calls:
        - {step: fetch, call: GET orders orders/A-1}
        - {step: write, body: {id: A-2}}
        - {step: tell}
`)
	want := []string{
		"status: (- expected, + actual)\n    - rejected\n    + completed",
		"steps: (- expected, + actual)\n      fetch: completed\n      ok: completed\n    - write: failed\n    + write: completed\n      tell: completed",
		"calls: (- expected, + actual)\n      fetch: GET orders orders/A-1\n    - write {\"id\":\"A-2\"}\n    + write {\"id\":\"A-1\"}\n      tell",
	}
	if strings.Join(res.Problems, "\n\n") != strings.Join(want, "\n\n") {
		t.Errorf("problems:\n%s\n\nwant:\n%s", strings.Join(res.Problems, "\n\n"), strings.Join(want, "\n\n"))
	}
}

// TestUnmockedStepFailsTheCase: a step with no answers stops the case, naming it.
func TestUnmockedStepFailsTheCase(t *testing.T) {
	res := run(t, "cases:\n  - name: a\n    params: {id: A-1}\n")
	if len(res.Problems) == 0 || res.Problems[0] != "step fetch is not mocked" {
		t.Errorf("problems %q", res.Problems)
	}
}

// TestGateDeadlinePassesInSimulatedTime: a gate's deadline passes in simulated time; the
// run times out and the written step is never reached.
func TestGateDeadlinePassesInSimulatedTime(t *testing.T) {
	res := run(t, `cases:
  - name: nobody decides
    params: {id: A-1}
`+mocks+`    script:
      - advance: 25h
    expect:
      status: timed_out
      steps:
        - fetch: completed
        - ok: {status: timed_out, says: "no decision within 24h"}
      notifications:
        - {event: gate_opened, step: ok}
        - {event: run_ended}
`)
	if !res.Passed() {
		t.Errorf("problems:\n%s", strings.Join(res.Problems, "\n"))
	}
}

// TestCompensationAfterAFailedStep: a step that fails past its retries (a retryable
// error, a timeout, then one no retry fixes) waits for input; a reject there fails the
// run and undoes the completed write.
func TestCompensationAfterAFailedStep(t *testing.T) {
	res := run(t, `identities: {ann: [approve]}
cases:
  - name: tell fails, ann rejects
    params: {id: A-1}
    mocks:
      fetch: [{output: {}}]
      write: [{output: {ok: true}}]
      write/undo: [{output: {ok: true}}]
      tell: [{error: {message: "503 from notifications", retryable: true}}, {timeout: true}, {error: {message: "400 bad address"}}]
    script:
      - approve: ok
        as: ann
      - reject: tell
        as: ann
        comment: cannot reach the customer
    expect:
      status: failed
      steps:
        - fetch: completed
        - ok: completed
        - write: compensated
        - tell: {status: failed, says: "400 bad address"}
      record:
        - {event: failure_accepted, step: tell, actor: ann, says: cannot reach the customer}
      calls:
        - {step: fetch}
        - {step: write}
        - {step: tell}
        - {step: tell}
        - {step: tell}
        - {step: write/undo, call: POST orders refunds/reverse, body: {id: A-1}}
`)
	if !res.Passed() {
		t.Errorf("problems:\n%s", strings.Join(res.Problems, "\n"))
	}
}

// TestCaseThatNeverEndsStopsAtItsLimit: a limit shorter than the gate's deadline stops
// the case, saying where the run stood.
func TestCaseThatNeverEndsStopsAtItsLimit(t *testing.T) {
	res := run(t, "cases:\n  - name: a\n    limit: 2h\n    params: {id: A-1}\n"+mocks)
	if len(res.Problems) == 0 || !strings.Contains(res.Problems[0], "the run did not end within the case's limit of 2h0m0s of simulated time; it stood at waiting_approval at step ok") {
		t.Errorf("problems %q", res.Problems)
	}
}
