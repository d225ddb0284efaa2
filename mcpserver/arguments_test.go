package mcpserver

import (
	"encoding/json"
	"testing"
)

// TestArgumentsNameWhatDoesNotFit: a value of another JSON type or an argument the tool
// does not take is refused with the argument named and what is allowed, in JSON's words,
// never Go's (no "Go struct field", no Go type names).
func TestArgumentsNameWhatDoesNotFit(t *testing.T) {
	for raw, want := range map[string]string{
		`{"workflow_type": 7}`:                          "workflow_type: is a number; allowed: a string",
		`{"workflow_type": "deployment", "params": {}}`: "params: is not an argument of start_workflow; allowed: workflow_type, parameters, idempotency_key, approval_timeout",
		`[1, 2]`: "arguments: are an array; allowed: a JSON object",
		`{"workflow_type": "deployment", "parameters": {"a": 1}}`: "",
		`null`: "",
	} {
		var args StartArgs
		if got := bindArguments("start_workflow", json.RawMessage(raw), &args); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
	var list ListArgs
	if got := bindArguments("list_workflows", map[string]any{"limit": "ten"}, &list); got != "limit: is a string; allowed: an integer" {
		t.Errorf("limit as a string: %q", got)
	}
}
