package proctest

import (
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestEveryOperationHasAnActivity: a new builtin operation must say which activity it
// runs, or its steps could not be mocked.
func TestEveryOperationHasAnActivity(t *testing.T) {
	ops := workflows.Operations()
	for _, op := range ops {
		if _, ok := opActivities[op[0]]; !ok {
			t.Errorf("operation %s has no entry in opActivities", op[0])
		}
	}
	if len(opActivities) != len(ops) {
		t.Errorf("opActivities has %d entries, workflows has %d operations", len(opActivities), len(ops))
	}
}
