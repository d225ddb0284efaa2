package app

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestAGroupScopeAloneDecidesNothing: a gate's group scope admits its holders at the gate,
// but deciding needs the approve scope first, so a key with group:finance alone is
// refused before anything reaches the run; docs/processes.md says so, as a newcomer who
// gave finance only its group could not tell.
func TestAGroupScopeAloneDecidesNothing(t *testing.T) {
	s := New(Config{})
	for _, action := range []workflows.Action{workflows.ActionApprove, workflows.ActionReject, workflows.ActionRequestChanges} {
		_, err := s.Advance(context.Background(), Caller{Name: "fin-ann", Scopes: []string{ScopeRead, "group:finance"}}, Decision{WorkflowID: "refund_approval-1", Action: action})
		var scope *ScopeError
		if !errors.As(err, &scope) || scope.Need != ScopeApprove {
			t.Errorf("%s with group:finance alone: %v, want it refused for lack of %s", action, err, ScopeApprove)
		}
	}
	doc, err := os.ReadFile("../../docs/processes.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(string(doc)), " "), "So a group scope also needs `approve`") {
		t.Error("docs/processes.md does not say that a group scope also needs the approve scope")
	}
}
