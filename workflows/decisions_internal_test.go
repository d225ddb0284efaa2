package workflows

import (
	"strings"
	"testing"
	"time"
)

// Joined by newlines, a field holding a newline could move a boundary between fields (a
// comment is hashed, the step, actor and scopes were not).
func TestDecisionSignaturesKeepFieldBoundaries(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	exp := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	a := AdvanceRequest{Action: ActionApprove, Step: "approval", Actor: "bob", Scopes: []string{"approve\nread"}, Nonce: "n1", Expires: exp}
	// Under the old join, a's scopes read as c's scopes followed by a field "read".
	c := AdvanceRequest{Action: ActionApprove, Step: "approval", Actor: "bob", Scopes: []string{"approve"}, Nonce: "n1", Expires: exp}
	a1, ok := a.macV1(secret, "w")
	if ok {
		t.Fatalf("macV1 signed a decision with a newline in a field: %s", a1)
	}
	if a.mac(secret, "w") == c.mac(secret, "w") {
		t.Fatal("two different decisions share a signature")
	}
	if !a.signedBy(secret, "w", a.mac(secret, "w")) || !strings.HasPrefix(a.mac(secret, "w"), macPrefix) {
		t.Fatal("a decision does not verify under its own v2 signature")
	}
	if a.signedBy(secret, "w2", a.mac(secret, "w")) {
		t.Fatal("a signature verified for another run")
	}
	// An older MCP server's signature still verifies while it is unambiguous.
	c1, ok := c.macV1(secret, "w")
	if !ok || !c.signedBy(secret, "w", c1) {
		t.Fatal("a v1 signature without newlines no longer verifies")
	}
	d := c
	d.Comment = "a\nb" // comments are hashed: a newline in one is harmless
	if d1, ok := d.macV1(secret, "w"); !ok || !d.signedBy(secret, "w", d1) {
		t.Fatal("a v1 signature with a multi-line comment no longer verifies")
	}
	if c.signedBy(secret, "w", "v2."+c1) {
		t.Fatal("a v1 signature passed as v2")
	}
}
