package mcpserver

import (
	"testing"
	"time"
)

// TestConfirmationsAnswerOnlyTheServersOwnRequestOnce: a confirmation counts only with the
// requestState this server issued, for the same caller and decision, unexpired, once.
func TestConfirmationsAnswerOnlyTheServersOwnRequestOnce(t *testing.T) {
	c := newConfirmations()
	now := time.Now()
	args := AdvanceArgs{WorkflowID: "deployment-1", Action: "approve", Step: "approval"}
	state := c.issue("bob", args, now)
	other := args
	other.WorkflowID = "deployment-2"
	reject := args
	reject.Action = "reject"
	// The last character of the signature, changed: to another letter when it is already
	// "A" (one state in sixteen ends so), else the test would redeem the state itself.
	altered := state[:len(state)-1] + "A"
	if altered == state {
		altered = state[:len(state)-1] + "B"
	}
	for name, ok := range map[string]bool{
		"no state":           c.redeem("", "bob", args, now),
		"altered":            c.redeem(altered, "bob", args, now),
		"another caller":     c.redeem(state, "mallory", args, now),
		"another run":        c.redeem(state, "bob", other, now),
		"another action":     c.redeem(state, "bob", reject, now),
		"another server":     newConfirmations().redeem(state, "bob", args, now),
		"after it expired":   c.redeem(state, "bob", args, now.Add(confirmTTL+time.Second)),
		"not a state at all": c.redeem("e30.e30", "bob", args, now),
	} {
		if ok {
			t.Errorf("%s: redeemed", name)
		}
	}
	if !c.redeem(state, "bob", args, now) {
		t.Fatal("the server's own request for bob's decision was not redeemed")
	}
	if c.redeem(state, "bob", args, now) {
		t.Error("a requestState was redeemed twice")
	}
}
