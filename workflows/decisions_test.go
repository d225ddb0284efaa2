package workflows_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

var testKeys, _ = signing.Parse([]byte("k2 " + strings.Repeat("QUJD", 11) + "\nk1 " + strings.Repeat("WFla", 11) + "\n"))

func TestSignedDecisionsOnlyWhenTheRunRequiresThem(t *testing.T) {
	onGoAndDefinition(t, testSignedDecisionsOnlyWhenTheRunRequiresThem)
}

func testSignedDecisionsOnlyWhenTheRunRequiresThem(t *testing.T, defined bool) {
	h := newHarness(t)
	signedOnly(h)
	h.defined = defined
	in := deployment("production", "3.0.0")
	in.RequireSignedDecisions = true
	const id = "default-test-workflow-id"
	approve := workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Comment: "ok", Inputs: h.changeTicket()}
	var unsigned, altered, expired, good *outcome
	h.at(time.Hour, func() {
		unsigned = h.advance(approve)
		now := h.env.Now()
		signed, err := testKeys.Sign(id, approve, now)
		if err != nil {
			t.Fatal(err)
		}
		tampered := signed
		tampered.Actor = "mallory"
		altered = h.advance(tampered)
		old, _ := testKeys.Sign(id, approve, now.Add(-signing.TTL-time.Second))
		expired = h.advance(old)
		// A forged signal, as anyone with access to Temporal could send.
		raw, _ := json.Marshal(workflows.Decision{Step: "approval", Actor: "bob"})
		h.env.SignalWorkflow(workflows.SignalApprove, json.RawMessage(raw))
		good = h.advance(signed)
	})
	h.startDeployment(in)
	st, err := h.result()
	if err != nil {
		t.Fatal(err)
	}
	unsigned.refused(t, "an unsigned decision is refused")
	altered.refused(t, "signature does not match")
	expired.refused(t, "expired")
	good.accepted(t)
	if ign := st.Events("signal_ignored"); len(ign) != 1 || !strings.Contains(ign[0].Detail, "a signal cannot carry one") {
		t.Errorf("forged signal: %+v", ign)
	}
	if s := stepOf(st, "approval"); s.Actor != "bob" || st.Status != workflows.StatusCompleted {
		t.Errorf("approval %+v, status %s", s, st.Status)
	}
}

func TestASignedDecisionIsUsedOnce(t *testing.T) {
	h := newHarness(t)
	signedOnly(h)
	d, src := refundSource(t)
	var first, replayed *outcome
	var signed workflows.AdvanceRequest
	h.at(time.Hour, func() {
		signed, _ = testKeys.Sign("default-test-workflow-id", decide(workflows.ActionApprove, "finance_approval", "bob", finance), h.env.Now())
		first = h.advance(signed)
	})
	h.at(time.Hour+time.Minute, func() { // within the signature's five minutes
		replayed = h.advance(signed)
		h.env.CancelWorkflow()
	})
	req := alice
	req.RequireSignedDecisions = true
	h.env.ExecuteWorkflow(d.Name, workflows.ProcessInput{Request: req, Process: workflows.NewProcessSource(d, src),
		Params: json.RawMessage(`{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "x"}`)})
	first.accepted(t)
	replayed.refused(t, "this signed decision was already applied once")
}

func TestOlderKeysStillVerifyAndUnknownOnesDoNot(t *testing.T) {
	onGoAndDefinition(t, testOlderKeysStillVerifyAndUnknownOnesDoNot)
}

func testOlderKeysStillVerifyAndUnknownOnesDoNot(t *testing.T, defined bool) {
	old, _ := signing.Parse([]byte("k1 " + strings.Repeat("WFla", 11) + "\n"))
	other, _ := signing.Parse([]byte("k9 " + strings.Repeat("WFla", 11) + "\n"))
	for _, c := range []struct {
		keys *signing.Keys
		want string
	}{{old, ""}, {other, `signed with key "k9", which this worker does not have`}} {
		h := newHarness(t)
		signedOnly(h) // k2 signs now, k1 still verifies
		h.defined = defined
		in := deployment("staging", "3.1.0")
		in.RequireSignedDecisions = true
		var o *outcome
		h.at(time.Hour, func() {
			d, _ := c.keys.Sign("default-test-workflow-id", workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "bob"}, h.env.Now())
			o = h.advance(d)
			if c.want != "" {
				h.env.CancelWorkflow()
			}
		})
		h.startDeployment(in)
		if c.want == "" {
			o.accepted(t)
		} else {
			o.refused(t, c.want)
		}
	}
}

func TestDecisionKeyFilesAreChecked(t *testing.T) {
	for data, want := range map[string]string{
		"":            "no keys",
		"k1 c2hvcnQ=": "line 1: want \"ID SECRET\"",
		"k1\n":        "line 1",
		"a " + strings.Repeat("QUJD", 11) + "\na " + strings.Repeat("QUJD", 11): `key id "a" appears twice`,
	} {
		if _, err := signing.Parse([]byte(data)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", data, err, want)
		}
	}
	path := t.TempDir() + "/decision.keys"
	a, err := signing.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := signing.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := a.Sign("w", workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "x"}, time.Now())
	d2 := d1
	d2.Signature = ""
	if s, _ := b.Sign("w", d2, d1.Expires.Add(-signing.TTL)); s.KeyID != d1.KeyID {
		t.Errorf("a second load of the file signs with key %q, the first with %q", s.KeyID, d1.KeyID)
	}
}

// TestAWorkerWithKeysTakesOnlySignedDecisions: a run started around the MCP server (a raw
// Temporal client, the web UI's API) whose input says it takes unsigned decisions still
// takes only signed ones when the worker holds decision keys: a signal that claims a name
// and an unsigned update are refused, and nothing is deployed until a signed approval.
func TestAWorkerWithKeysTakesOnlySignedDecisions(t *testing.T) {
	onGoAndDefinition(t, testAWorkerWithKeysTakesOnlySignedDecisions)
}

func testAWorkerWithKeysTakesOnlySignedDecisions(t *testing.T, defined bool) {
	h := newHarness(t)
	signedOnly(h)
	h.defined = defined
	in := deployment("production", "3.1.0")
	in.RequireSignedDecisions = false // what an attacker's raw start says
	approve := workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Comment: "ok", Inputs: h.changeTicket()}
	var unsigned, good *outcome
	var deployedBefore int
	h.at(time.Hour, func() {
		raw, _ := json.Marshal(workflows.Decision{Step: "approval", Actor: "cfo"})
		h.env.SignalWorkflow(workflows.SignalApprove, json.RawMessage(raw))
	})
	h.at(2*time.Hour, func() {
		unsigned = h.advance(approve)
	})
	h.at(3*time.Hour, func() {
		deployedBefore = len(h.backends.Ledger())
		signed, err := testKeys.Sign("default-test-workflow-id", approve, h.env.Now())
		if err != nil {
			t.Fatal(err)
		}
		good = h.advance(signed)
	})
	h.startDeployment(in)
	st, err := h.result()
	if err != nil {
		t.Fatal(err)
	}
	unsigned.refused(t, "an unsigned decision is refused")
	good.accepted(t)
	if ign := st.Events("signal_ignored"); len(ign) != 1 || !strings.Contains(ign[0].Detail, "a signal cannot carry one") {
		t.Errorf("the forged signal: %+v, want it ignored", ign)
	}
	if deployedBefore != 0 {
		t.Errorf("%d backend writes before the signed approval; want none", deployedBefore)
	}
	if s := stepOf(st, "approval"); s.Actor != "bob" || st.Status != workflows.StatusCompleted {
		t.Errorf("approval %+v, status %s; want bob's signed approval to complete it", s, st.Status)
	}
}

// signedOnly makes h's worker hold the test keys, as a worker given --decision-keys does:
// it verifies signed decisions with them, and every run it starts takes only those.
func signedOnly(h *harness) {
	h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{workflows.SignedOnly(testKeys)}})
}

// TestARunThatRequiresSignaturesRefusesAllOnAWorkerWithoutKeys: a run whose input requires
// signed decisions, picked up by a worker given no decision keys (no Verifier), refuses
// every decision, signed or not, saying what the worker lacks, instead of taking one it
// cannot verify.
func TestARunThatRequiresSignaturesRefusesAllOnAWorkerWithoutKeys(t *testing.T) {
	h := newHarness(t)
	in := deployment("production", "3.0.0")
	in.RequireSignedDecisions = true
	approve := workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Comment: "ok"}
	var unsigned, signed *outcome
	h.at(time.Hour, func() {
		unsigned = h.advance(approve)
		s, err := testKeys.Sign("default-test-workflow-id", approve, h.env.Now())
		if err != nil {
			t.Fatal(err)
		}
		signed = h.advance(s)
	})
	h.at(2*time.Hour, func() { h.env.CancelWorkflow() })
	h.startDeployment(in)
	unsigned.refused(t, "the worker has no decision keys to verify them")
	signed.refused(t, "the worker has no decision keys to verify them")
}
