package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestStatsCountThePileByKindAndGate: admin://system/stats says how many runs wait at each
// gate of each process and since when the longest-waiting one started.
func TestStatsCountThePileByKindAndGate(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{})
	cs := connectHTTP(t, env.MCPURL)
	before := time.Now().UTC().Add(-time.Second)
	var ids []string
	for _, start := range []map[string]any{
		{"workflow_type": "deployment", "parameters": map[string]any{"service": "orders", "version": "8.1.0", "environment": "production"}},
		{"workflow_type": "deployment", "parameters": map[string]any{"service": "users", "version": "8.1.1", "environment": "staging"}},
		{"workflow_type": "onboarding", "parameters": map[string]any{"email": "stats.hire@example.com", "name": "Stats Hire", "role": "viewer"}},
	} {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", start).decode(t, &s)
		ids = append(ids, s.WorkflowID)
	}
	for _, id := range ids {
		testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
	}
	var st mcpserver.Stats
	testenv.WaitFor(t, 10*time.Second, "visibility to count the waiting runs", func() (bool, error) {
		res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "admin://system/stats"})
		if err != nil {
			return false, err
		}
		st = mcpserver.Stats{}
		if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
			return false, err
		}
		return st.WaitingApproval["deployment"]["approval"] == 2 && st.WaitingApproval["onboarding"]["manager_approval"] == 1, nil
	})
	if n, ok := st.WaitingApproval["audit"]["auditor_signoff"]; !ok || n != 0 {
		t.Errorf("audit waiting = %v (present %t), want 0", n, ok)
	}
	// To the second: the start lies in the second the stats name.
	if st.OldestWaitingStartedAt == nil || st.OldestWaitingStartedAt.Before(before.Truncate(time.Second)) || st.OldestWaitingStartedAt.After(time.Now()) || st.OldestWaitingFor == "" {
		t.Errorf("oldest waiting started at %v (%s), want between %v and now", st.OldestWaitingStartedAt, st.OldestWaitingFor, before)
	}
}
