package signing

import (
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// Joined by newlines, a field holding a newline could move a boundary between fields (a
// comment is hashed, the step, actor and scopes were not).
func TestDecisionSignaturesKeepFieldBoundaries(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	exp := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	a := workflows.AdvanceRequest{Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Scopes: []string{"approve\nread"}, Nonce: "n1", Expires: exp}
	// Under the old join, a's scopes read as c's scopes followed by a field "read".
	c := workflows.AdvanceRequest{Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Scopes: []string{"approve"}, Nonce: "n1", Expires: exp}
	a1, ok := macV1(a, secret, "w")
	if ok {
		t.Fatalf("macV1 signed a decision with a newline in a field: %s", a1)
	}
	if mac(a, secret, "w") == mac(c, secret, "w") {
		t.Fatal("two different decisions share a signature")
	}
	if !signedBy(a, secret, "w", mac(a, secret, "w")) || !strings.HasPrefix(mac(a, secret, "w"), macPrefix) {
		t.Fatal("a decision does not verify under its own v2 signature")
	}
	if signedBy(a, secret, "w2", mac(a, secret, "w")) {
		t.Fatal("a signature verified for another run")
	}
	// An older MCP server's signature still verifies while it is unambiguous.
	c1, ok := macV1(c, secret, "w")
	if !ok || !signedBy(c, secret, "w", c1) {
		t.Fatal("a v1 signature without newlines no longer verifies")
	}
	d := c
	d.Comment = "a\nb" // comments are hashed: a newline in one is harmless
	if d1, ok := macV1(d, secret, "w"); !ok || !signedBy(d, secret, "w", d1) {
		t.Fatal("a v1 signature with a multi-line comment no longer verifies")
	}
	if signedBy(c, secret, "w", "v2."+c1) {
		t.Fatal("a v1 signature passed as v2")
	}
}

// A decision's inputs (the amount approved) are what it says: one with other inputs, or
// with them stripped or added, does not verify under its signature.
func TestDecisionSignaturesCoverInputs(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	exp := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	plain := workflows.AdvanceRequest{Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Nonce: "n1", Expires: exp}
	with := plain
	with.Inputs = map[string]any{"approved_cents": 40000.0, "ticket": "CHG-1"}
	sig := mac(with, secret, "w")
	if !signedBy(with, secret, "w", sig) {
		t.Fatal("a decision with inputs does not verify under its own signature")
	}
	altered := with
	altered.Inputs = map[string]any{"approved_cents": 90000.0, "ticket": "CHG-1"}
	if signedBy(altered, secret, "w", sig) {
		t.Fatal("a decision verified with altered inputs")
	}
	if signedBy(plain, secret, "w", sig) {
		t.Fatal("a decision verified with its inputs stripped")
	}
	if signedBy(with, secret, "w", mac(plain, secret, "w")) {
		t.Fatal("inputs were added to a decision signed without them")
	}
	rev := workflows.AdvanceRequest{Action: workflows.ActionRevise, Step: "approval", Actor: "alice", Nonce: "n1", Expires: exp,
		Parameters: map[string]any{"amount_cents": 40000.0}}
	revSig := mac(rev, secret, "w")
	rev.Parameters = map[string]any{"amount_cents": 4.0}
	if signedBy(rev, secret, "w", revSig) {
		t.Fatal("a revision verified with altered parameters")
	}
	// Without inputs, a decision signs as before inputs existed (servers in a rolling
	// upgrade agree).
	if got := len(macFields(plain, "w", "v")); got != 10 {
		t.Fatalf("a decision without inputs signs %d fields, want the 10 it always signed", got)
	}
}
