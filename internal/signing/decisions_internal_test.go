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
