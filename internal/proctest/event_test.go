package proctest_test

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/proctest"
)

// ciTiny hands its wait's callback URL to CI, waits for CI's report, then deploys the
// version it names.
const ciTiny = `name: ci_tiny
title: CI tiny
version: 1
summary: "ci tiny"
parameters: {type: object}
steps:
  - name: ask
    call: {service: ci, method: POST, endpoint: builds, body: {report_to: "{{steps.ci.callback_url}}"}}
  - name: ci
    wait: {event: ci_passed, deadline: 1h, schema: {type: object, required: [version], properties: {version: {type: string}}}}
  - name: deploy
    call: {service: deploy, method: POST, endpoint: deployments, body: {version: "{{steps.ci.output.payload.version}}"}}
`

func runCI(t *testing.T, text string) (proctest.Result, error) {
	t.Helper()
	f, err := proctest.Parse("ci_tiny.test.yaml", []byte(text), []byte(ciTiny))
	if err != nil {
		return proctest.Result{}, err
	}
	return f.RunCase(&f.Cases[0]), nil
}

// TestEventScriptStepNamesAnEventWait: an event for a step that waits for none is
// refused at load with its line, naming the waits there are.
func TestEventScriptStepNamesAnEventWait(t *testing.T) {
	_, err := runCI(t, "cases:\n  - name: a\n    script:\n      - event: ask\n        as: requester\n")
	if want := "ci_tiny.test.yaml:4: step ask does not wait for an event; allowed: ci"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
	_, err = runCI(t, "cases:\n  - name: a\n    script:\n      - event: ci\n")
	if want := "ci_tiny.test.yaml:4: event at ci: say as whom (as: NAME), or callback: true"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestEventReachesTheWaitThroughItsCallbackURL: the step before the wait hands CI the
// case's fixed callback URL, which calls can expect; the event sent through it completes
// the wait, and the next step reads its payload.
func TestEventReachesTheWaitThroughItsCallbackURL(t *testing.T) {
	res, err := runCI(t, `cases:
  - name: a
    mocks:
      ask: [{output: {}}]
      deploy: [{output: {}}]
    script:
      - event: ci
        callback: true
        payload: {version: "1.2.3"}
    expect:
      status: completed
      calls:
        - {step: ask, body: {report_to: "`+proctest.CallbackURL("ci")+`"}}
        - {step: deploy, body: {version: "1.2.3"}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed() {
		t.Errorf("problems: %q", res.Problems)
	}
}

// TestRefusedEventFailsTheCaseUnlessExpected: an event the wait's schema refuses fails
// the case, saying why, unless the step expects that refusal.
func TestRefusedEventFailsTheCaseUnlessExpected(t *testing.T) {
	const text = `cases:
  - name: a
    identities: {ci-bot: [write:data]}
    mocks:
      ask: [{output: {}}]
      deploy: [{output: {}}]
    script:
      - event: ci
        as: ci-bot
        payload: {version: 7}
EXPECT      - event: ci
        as: ci-bot
        payload: {version: "1.0.0"}
    expect: {status: completed}
`
	res, err := runCI(t, strings.Replace(text, "EXPECT", "", 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := "script line 8 (event at ci as ci-bot) was refused: the payload of the event ci_passed at step ci"; len(res.Problems) != 1 || !strings.HasPrefix(res.Problems[0], want) {
		t.Errorf("problems %q, want one starting %q", res.Problems, want)
	}
	res, err = runCI(t, strings.Replace(text, "EXPECT", "        expect_refused: \"payload.version\"\n", 1))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed() {
		t.Errorf("problems: %q", res.Problems)
	}
}
