package mcpserver

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestAdvanceNeedsWhatItsActionNeeds: the HTTP layer asks of an advance_workflow call the
// scopes the typed API asks of its action, any one of them, so an admin reaches reassign,
// a requester with write reaches revise and withdraw, and nobody is refused there what the
// typed API would allow (or let through what it would refuse).
func TestAdvanceNeedsWhatItsActionNeeds(t *testing.T) {
	for action, want := range map[string][]string{
		"approve": {ScopeApprove}, "reject": {ScopeApprove}, "request_changes": {ScopeApprove},
		"continue": {ScopeWrite}, "revise": {ScopeWrite}, "withdraw": {ScopeWrite},
		"remind": {ScopeWrite, ScopeApprove}, "reassign": {ScopeApprove, ScopeAdmin},
		"explode": {ScopeApprove},
	} {
		raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
			"params": map[string]any{"name": "advance_workflow", "arguments": map[string]any{"action": action}}})
		m := parseMessage(raw, &decodeCounts{})
		if got := requiredScopes(m); !slices.Equal(got, want) {
			t.Errorf("%s needs %v, want %v", action, got, want)
		}
	}
	for _, scope := range []string{ScopeWrite, ScopeApprove, ScopeAdmin} {
		if !canAdvance(scope) {
			t.Errorf("a caller with only %s is not shown advance_workflow", scope)
		}
	}
	if canAdvance(ScopeRead) {
		t.Error("a read-only caller is shown advance_workflow")
	}
}
