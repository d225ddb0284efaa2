package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// cliRun is one run of the flowgate binary as a client command: its exit code and output.
type cliRun struct {
	code           int
	stdout, stderr string
}

// cli runs `flowgate args...` against the server at url with an API key (none if empty).
func cli(t *testing.T, url, key string, args ...string) cliRun {
	t.Helper()
	return cliWith(t, url, []string{"FLOWGATE_API_KEY=" + key}, args...)
}

// cliWith runs `flowgate args...` against the server at url with the environment's
// credential variables set as env says (none by default).
func cliWith(t *testing.T, url string, env []string, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(flowgateBinary(t), args...)
	cmd.Env = append(os.Environ(), "FLOWGATE_SERVER="+url, "FLOWGATE_API_KEY=", "FLOWGATE_TOKEN=", "FLOWGATE_PROFILE=", "FLOWGATE_CONFIG_FILE=", "XDG_CONFIG_HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("flowgate %q: %v", args, err)
	}
	return cliRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// TestTheCLIDecidesAGateThroughTheSameChecks: a person at a terminal starts a refund,
// finds it among the runs and in what waits on them, reads its record and decides its
// gate with `flowgate runs approve`, the gate's inputs typed by its schema (1500 is sent
// as an integer). The CLI is an MCP client of the server, so its checks hold: a key
// without the approve scope is refused with the server's sentence (exit 1), the
// requester cannot approve their own run (separation of duties), and the decision is
// recorded as signed by the MCP server, with its actor, comment and inputs.
func TestTheCLIDecidesAGateThroughTheSameChecks(t *testing.T) {
	// Its own flowgate dev process, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	writeRefundWithInputs(t, procs)
	keys := writeKeys(t, dir, map[string][]string{
		"rita":    {mcpserver.ScopeWrite, mcpserver.ScopeRead, mcpserver.ScopeApprove, "group:finance"}, // a requester who is also in finance
		"fin-bob": {mcpserver.ScopeRead, mcpserver.ScopeApprove, "group:finance"},
		"viewer":  {mcpserver.ScopeRead},
		"root":    {mcpserver.ScopeRead, mcpserver.ScopeAdmin},
	})
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(dir, "data"))
	dev := startDev(t, append(args, "--processes", procs, "--api-keys", keys)...)
	dev.waitReady(t, mcpAddr)
	url := dev.mcpURL
	rita := connectAs(t, url, "rita-key")

	started := cli(t, url, "rita-key", "runs", "start", "refund_approval", "--param", "order_id=ORD-01003", "--param", "amount_cents=2500", "--param", "reason=arrived damaged", "--json")
	var s mcpserver.StartResult
	if started.code != 0 || json.Unmarshal([]byte(started.stdout), &s) != nil || s.WorkflowID == "" {
		t.Fatalf("runs start: exit %d\n%s%s", started.code, started.stdout, started.stderr)
	}
	id := s.WorkflowID
	waitStatus(t, rita, id, workflows.StatusWaitingApproval)

	for _, c := range []struct {
		name, key string
		args      []string
		want      []string
	}{
		{"list", "fin-bob-key", []string{"runs", "list", "--status", "waiting_approval", "--type", "refund_approval"}, []string{"ID  ", id + "  refund_approval  waiting_approval  approval  rita"}},
		{"approvals", "fin-bob-key", []string{"approvals"}, []string{"Waiting on fin-bob (1):", id, "inputs approved_cents, ticket"}},
		{"show", "fin-bob-key", []string{"runs", "show", id}, []string{
			id + "  refund_approval  waiting_approval",
			"Waits at step approval for approval (approve, reject, reassign, request_changes)",
			"may decide: anyone holding group:finance", "not by: rita (requested it)",
			"input approved_cents (integer, required): The amount finance approves, in cents.",
			"rule: finance cannot approve more than was asked",
			"  approval  ", "by rita\n"}},
	} {
		r := cli(t, url, c.key, c.args...)
		for _, want := range c.want {
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Errorf("%s: exit %d, no %q in:\n%s%s", c.name, r.code, want, r.stdout, r.stderr)
			}
		}
	}
	if r := cli(t, url, "rita-key", "approvals"); r.code != 0 || !strings.Contains(r.stdout, "Nothing waits on rita.") {
		t.Errorf("rita's approvals list her own run: %s%s", r.stdout, r.stderr)
	}

	approve := []string{"runs", "approve", id, "--comment", "half is fair", "--input", "approved_cents=1500", "--input", "ticket=FIN-7"}
	for _, c := range []struct{ name, key, says string }{
		{"without the approve scope", "viewer-key", `refused: tools/call advance_workflow needs scope "approve"; viewer has read:data`},
		{"by the requester", "rita-key", "rita requested this workflow and cannot approve it (separation of duties)"},
		{"with an unknown key", "nobody-key", "refused: API key is not valid"},
		{"without a key", "", "authentication required"},
	} {
		r := cli(t, url, c.key, approve...)
		if r.code != 1 || !strings.Contains(r.stderr, c.says) || r.stdout != "" {
			t.Errorf("approve %s: exit %d, stdout %q, stderr %q; want exit 1 saying %q", c.name, r.code, r.stdout, r.stderr, c.says)
		}
		if v := statusOf(t, rita, id); v.Status != workflows.StatusWaitingApproval {
			t.Fatalf("approve %s changed the run: %s", c.name, v.Status)
		}
	}
	if r := cli(t, url, "fin-bob-key", "runs", "approve", id, "--comment", "x", "--input", "approved_cents=15.5"); r.code != 2 || !strings.Contains(r.stderr, `"15.5" is not a whole number`) {
		t.Errorf("a fractional amount: exit %d, %s", r.code, r.stderr)
	}

	r := cli(t, url, "fin-bob-key", append(approve, "--json")...)
	var v mcpserver.StatusResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v.WorkflowID != id {
		t.Fatalf("fin-bob's approve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	waitStatus(t, rita, id, workflows.StatusCompleted)
	res, err := rita.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "workflow://" + id + "/details"})
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
		t.Fatal(err)
	}
	if a := stepOf(st, "approval"); a.Actor != "fin-bob" || a.Output != "approved with approved_cents=1500, ticket=FIN-7" || a.Comment != "half is fair" {
		t.Errorf("approval = %+v, want bob's decision with the typed inputs", a)
	}
	if r := cli(t, url, "viewer-key", "runs", "show", id); r.code != 0 || !strings.Contains(r.stdout, "approval          completed  by fin-bob; \"half is fair\"") {
		t.Errorf("show after the decision: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Cancel: the write scope, a reason, and the server's sentence when there is nothing to cancel.
	second := cli(t, url, "rita-key", "runs", "start", "refund_approval", "--param", "order_id=ORD-01004", "--param", "amount_cents=100", "--param", "reason=duplicate order", "--json")
	if second.code != 0 || json.Unmarshal([]byte(second.stdout), &s) != nil {
		t.Fatalf("second start: exit %d\n%s%s", second.code, second.stdout, second.stderr)
	}
	waitStatus(t, rita, s.WorkflowID, workflows.StatusWaitingApproval)

	// Reassign: fin-bob, not named on the gate and no admin, is refused with the server's
	// sentence; root, an admin, hands the gate to fin-bob alone, with a reason.
	reassign := []string{"runs", "reassign", s.WorkflowID, "--to", "fin-bob", "--reason", "fin-bob knows this customer"}
	if r := cli(t, url, "fin-bob-key", reassign...); r.code != 1 || !strings.Contains(r.stderr, "fin-bob may not reassign step approval; allowed: an approver it names () or anyone holding the admin scope") {
		t.Errorf("fin-bob's reassign: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, url, "root-key", reassign...); r.code != 0 || !strings.Contains(r.stdout, "reassign of "+s.WorkflowID+" by root accepted: reassigned, now waiting at step approval") {
		t.Errorf("root's reassign: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, url, "viewer-key", "runs", "show", s.WorkflowID); r.code != 0 || !strings.Contains(r.stdout, "may decide: fin-bob\n") ||
		!strings.Contains(r.stdout, "by root; from anyone holding the scope group:finance to fin-bob — fin-bob knows this customer") {
		t.Errorf("show after the reassign: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, url, "fin-bob-key", "runs", "cancel", s.WorkflowID, "--reason", "not mine to cancel"); r.code != 1 || !strings.Contains(r.stderr, `needs scope "write:data"`) {
		t.Errorf("cancel without write: exit %d, %s", r.code, r.stderr)
	}
	if r := cli(t, url, "rita-key", "runs", "cancel", s.WorkflowID, "--reason", "the customer withdrew"); r.code != 0 {
		t.Errorf("cancel: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	waitStatus(t, rita, s.WorkflowID, workflows.StatusCancelled)
	if r := cli(t, url, "rita-key", "runs", "cancel", id, "--reason", "too late"); r.code != 1 || !strings.Contains(r.stderr, "already ended completed") {
		t.Errorf("cancel of an ended run: exit %d, %s", r.code, r.stderr)
	}
}
