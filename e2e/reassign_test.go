package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestAnAdminReassignsAWaitingGate: a large refund waits for two of group:finance. Over
// MCP, with the official Go SDK client: fin-bob, who may approve there but is not named on
// the gate, cannot reassign it; root, an admin, hands it to carol and fin-bob with a reason,
// and only they may decide from then on: dave, in finance, is refused; carol and fin-bob
// approve and the run completes. The record says who handed it from whom to whom, and why.
func TestAnAdminReassignsAWaitingGate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	copyFile(t, "../examples/processes/refund_approval.yaml", filepath.Join(procs, "refund_approval.yaml"))
	finance := []string{mcpserver.ScopeRead, mcpserver.ScopeApprove, "group:finance"}
	keys := writeKeys(t, dir, map[string][]string{
		"rita":    {mcpserver.ScopeRead, mcpserver.ScopeWrite},
		"fin-bob": finance, "dave": finance,
		"carol": {mcpserver.ScopeRead, mcpserver.ScopeApprove},
		"root":  {mcpserver.ScopeRead, mcpserver.ScopeAdmin},
	})
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(dir, "data"))
	dev := startDev(t, append(args, "--processes", procs, "--api-keys", keys)...)
	dev.waitReady(t, mcpAddr)
	as := map[string]*mcp.ClientSession{}
	for _, name := range []string{"rita", "fin-bob", "dave", "carol", "root"} {
		as[name] = connectAs(t, dev.mcpURL, name+"-key")
	}
	started := callTool(t, as["rita"], "start_workflow", map[string]any{"workflow_type": "refund_approval",
		"parameters": map[string]any{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}})
	var st struct {
		WorkflowID string `json:"workflow_id"`
	}
	started.decode(t, &st)
	id := st.WorkflowID
	if v := waitStatus(t, as["rita"], id, workflows.StatusWaitingApproval); v.Waiting == nil || !slices.Contains(v.Waiting.Actions, workflows.ActionReassign) {
		t.Fatalf("the gate waits %+v, want reassign offered", v.Waiting)
	}
	reassign := func(who, comment string) toolResult {
		return callTool(t, as[who], "advance_workflow", map[string]any{"workflow_id": id, "action": "reassign", "step": "finance_approval",
			"comment": comment, "reassign_to": map[string]any{"approvers": []string{"carol", "fin-bob"}}})
	}
	approve := func(who string) toolResult {
		return callTool(t, as[who], "advance_workflow", map[string]any{"workflow_id": id, "action": "approve", "step": "finance_approval", "comment": "ok"})
	}
	if r := reassign("fin-bob", "I am busy"); !r.IsError || !strings.Contains(r.Text, "fin-bob may not reassign step finance_approval; allowed: an approver it names () or anyone holding the admin scope") {
		t.Errorf("fin-bob's reassign: %+v", r)
	}
	if r := reassign("root", "ann is on leave; carol covers"); r.IsError || !strings.Contains(r.Text, "reassign of "+id+" by root accepted: reassigned, now waiting at step finance_approval") {
		t.Fatalf("root's reassign: %+v", r)
	}
	if r := approve("dave"); !r.IsError || !strings.Contains(r.Text, "dave may not decide at step finance_approval; allowed: carol, fin-bob") {
		t.Errorf("dave's approve after the reassign: %+v", r)
	}
	for _, who := range []string{"carol", "fin-bob"} {
		if r := approve(who); r.IsError {
			t.Fatalf("%s's approve: %s", who, r.Text)
		}
	}
	waitStatus(t, as["rita"], id, workflows.StatusCompleted)
	res, err := as["rita"].ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "workflow://" + id + "/details"})
	if err != nil {
		t.Fatal(err)
	}
	var rec workflows.State
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &rec); err != nil {
		t.Fatal(err)
	}
	if re := rec.Events("reassigned"); len(re) != 1 || re[0].Actor != "root" ||
		re[0].Detail != "from anyone holding the scope group:finance to carol, fin-bob — ann is on leave; carol covers" {
		t.Errorf("reassigned events %+v", re)
	}
}
