package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/freeport"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

func freePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// devProcess is `flowgate dev` running as its own OS process.
type devProcess struct {
	*proc
	mcpURL string
}

func startDev(t *testing.T, args ...string) *devProcess {
	t.Helper()
	return startDevOf(t, flowgateBinary(t), args...)
}

// startDevOf starts `flowgate dev` of the binary bin.
func startDevOf(t *testing.T, bin string, args ...string) *devProcess {
	t.Helper()
	return &devProcess{proc: startCmd(t, exec.Command(bin, append([]string{"dev", "--log-level", "error"}, args...)...))}
}

// devOnFreePorts returns the flags of a `flowgate dev` on data folder dir with free ports
// (no UI), the MCP address and the demo backends' port; a restart with the same flags
// comes back on the same ports.
func devOnFreePorts(t testing.TB, dir string) (args []string, mcpAddr string, demoPort int) {
	port, mcpPort, demoPort := freePort(t), freePort(t), freePort(t)
	mcpAddr = fmt.Sprintf("127.0.0.1:%d", mcpPort)
	return []string{"--data-dir", dir, "--port", fmt.Sprint(port), "--no-ui",
		"--mcp-addr", mcpAddr, "--demo-addr", fmt.Sprintf("127.0.0.1:%d", demoPort)}, mcpAddr, demoPort
}

// waitIdle waits until each run of the flowgate dev started with args (devOnFreePorts)
// has nothing in flight (testenv.WaitForIdle): a kill then finds the runs waiting at
// their gates and nothing else, and the next process takes them up at once instead of
// after a workflow task's 10 s timeout. TestAKilledWorkerStillTellsTheGateOnce kills one
// with work in flight.
func waitIdle(t *testing.T, args []string, ids ...string) {
	t.Helper()
	port := slices.Index(args, "--port")
	if port < 0 || port+1 == len(args) {
		t.Fatalf("no --port in %q", args)
	}
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + args[port+1], Logger: sdklog.NewStructuredLogger(testenv.Logger())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range ids {
		testenv.WaitForIdle(t, c, id)
	}
}

// stop sends the process sig and waits for it to exit.
func (p *devProcess) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()
}

func (p *devProcess) waitReady(t *testing.T, mcpAddr string) {
	t.Helper()
	p.mcpURL = "http://" + mcpAddr + "/mcp"
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		if ended, err := p.ended(); ended {
			t.Fatalf("flowgate dev exited (%v) before it was ready: %s", err, p.out)
		}
		resp, err := http.Get("http://" + mcpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(p.out.String(), "Flowgate is ready") {
				return
			}
			err = fmt.Errorf("healthz answered %d", resp.StatusCode)
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	// Not ready: SIGQUIT makes the Go runtime print every goroutine, which shows where
	// the start is stuck.
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done: // it printed them and exited
	case <-time.After(10 * time.Second):
	}
	out := p.out.String()
	if len(out) > 200_000 {
		out = out[:200_000] + "\n… (cut)"
	}
	t.Fatalf("flowgate dev not ready within 60s (last error: %v); its output and goroutines:\n%s", lastErr, out)
}

// TestKill9OfTheWholeStackLosesNothing runs `flowgate dev` as a process, leaves
// onboardings, deployments and audits waiting at their gates, kills the process with
// SIGKILL, starts it again on the same folder and approves them through MCP: every
// workflow completes, and what they did to the demo backends before the crash (accounts,
// deployed versions, idempotency keys) is still there, each side effect applied once.
// While the first process runs, a second one on the same folder is refused.
func TestKill9OfTheWholeStackLosesNothing(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	args, mcpAddr, demoPort := devOnFreePorts(t, dir)

	first := startDev(t, args...)
	first.waitReady(t, mcpAddr)

	// One owner per data folder: a second flowgate dev on it, with ports of its own,
	// stops at once with one line naming the folder, the holder's pid and the flag.
	other := exec.Command(flowgateBinary(t), "dev", "--data-dir", dir, "--port", fmt.Sprint(freePort(t)), "--no-ui",
		"--mcp-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--demo-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	out, _ := other.CombinedOutput()
	want := fmt.Sprintf("data folder %s is in use by another flowgate (pid %d)", dir, first.cmd.Process.Pid)
	if other.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), want) || !strings.Contains(string(out), "--data-dir") ||
		strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("second flowgate dev on the same folder: exit %d, %q; want one line with %q", other.ProcessState.ExitCode(), out, want)
	}

	cs := connectHTTP(t, first.mcpURL)
	type run struct {
		id, kind, gate string
	}
	var runs []run
	for i, start := range []struct {
		kind, gate string
		params     map[string]any
	}{
		{"deployment", "approval", map[string]any{"service": "orders", "version": "1.0.0", "environment": "production"}},
		{"deployment", "approval", map[string]any{"service": "users", "version": "2.0.0", "environment": "staging"}},
		{"onboarding", "manager_approval", map[string]any{"email": "kill9-ada@example.com", "name": "Ada Kill", "role": "editor"}},
		{"onboarding", "manager_approval", map[string]any{"email": "kill9-bob@example.com", "name": "Bob Kill", "role": "viewer"}},
		{"audit", "auditor_signoff", map[string]any{"tables": []string{"orders", "users"}}},
	} {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", map[string]any{"workflow_type": start.kind, "parameters": start.params,
			"idempotency_key": fmt.Sprintf("kill-test-%d", i)}).decode(t, &s)
		runs = append(runs, run{s.WorkflowID, start.kind, start.gate})
	}
	for _, r := range runs {
		testenv.WaitFor(t, 30*time.Second, r.id+" waiting", func() (bool, error) {
			var st mcpserver.StatusResult
			res := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": r.id})
			if res.IsError {
				return false, fmt.Errorf("%s", res.Text)
			}
			res.decode(t, &st)
			return st.Status == workflows.StatusWaitingApproval, nil
		})
		waitIdle(t, args, r.id)
	}
	first.stop(t, syscall.SIGKILL)

	second := startDev(t, args...)
	second.waitReady(t, mcpAddr)
	cs = connectHTTP(t, second.mcpURL)
	for _, r := range runs {
		approve := map[string]any{"workflow_id": r.id, "action": "approve", "step": r.gate, "comment": "after kill -9"}
		if r.kind == "deployment" {
			approve["inputs"] = changeTicket
		}
		res := callTool(t, cs, "advance_workflow", approve)
		if res.IsError {
			t.Fatalf("approve %s after restart: %s", r.id, res.Text)
		}
	}
	for _, r := range runs {
		testenv.WaitFor(t, 60*time.Second, r.id+" completed", func() (bool, error) {
			var st mcpserver.StatusResult
			callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": r.id}).decode(t, &st)
			return st.Status == workflows.StatusCompleted, fmt.Errorf("status %s, error %q", st.Status, st.Error)
		})
	}
	// The backends remember what the runs did before the crash: each side effect once.
	var ledger map[string]demo.LedgerEntry
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/_ledger", demoPort), &ledger)
	for _, r := range runs {
		var steps []string
		switch r.kind {
		case "deployment":
			steps = []string{"deploy"}
		case "onboarding":
			steps = []string{"provision_accounts", "grant_access/grant", "send_welcome"}
		}
		for _, step := range steps {
			if e, runs := ledgerOf(ledger, r.id, step); e.Applied != 1 || runs != 1 {
				t.Errorf("ledger %s %s = %+v in %d runs, want applied once", r.id, step, e, runs)
			}
		}
	}
	var account []map[string]string
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/users/accounts", demoPort), &account)
	granted := 0
	for _, a := range account {
		if strings.HasPrefix(a["email"], "kill9-") && a["status"] == "active" && a["access"] == a["role"] {
			granted++
		}
	}
	if granted != 2 {
		t.Errorf("accounts after restart and approval = %v, want both kill9- accounts active with their role", account)
	}
	// A repeated start with the same key after the crash still finds the same run.
	var again mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment", "idempotency_key": "kill-test-0",
		"parameters": map[string]any{"service": "orders", "version": "1.0.0", "environment": "production"}}).decode(t, &again)
	if !again.Existing || again.WorkflowID != runs[0].id || again.Status != workflows.StatusCompleted {
		t.Errorf("repeated start after restart = %+v", again)
	}
	if err := second.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- second.wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Ctrl-C exit: %v\n%s", err, second.out)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("flowgate dev did not stop within 15s of Ctrl-C")
	}
}

// getJSON decodes the JSON answer of a GET.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestDevRefusesATakenPort checks the one-line error and the exit code.
func TestDevRefusesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	// Every other port is a free one, so only --mcp-addr can be the one refused.
	cmd := exec.Command(flowgateBinary(t), "dev", "--memory", "--data-dir", t.TempDir(), "--mcp-addr", taken,
		"--port", fmt.Sprint(freePort(t)), "--ui-port", fmt.Sprint(freePort(t)), "--demo-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(string(out), "--mcp-addr "+taken+" is in use") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("output = %q, want one line naming --mcp-addr", out)
	}
	cmd = exec.Command(flowgateBinary(t), "dev", "--no-such-flag")
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "no-such-flag") {
		t.Errorf("unknown flag: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
	cmd = exec.Command(flowgateBinary(t), "worker", "--temporal-address", "127.0.0.1:1")
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "TEMPORAL_ADDRESS") {
		t.Errorf("unreachable Temporal: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
}

// TestRollbackAfterRestartRestoresThePreviousVersion: orders 1.0.0 is deployed to staging,
// flowgate dev is killed with SIGKILL and started again, and a version that never becomes
// healthy is deployed: it fails its verification and rolls back to 1.0.0, because the
// backends still know what ran before the restart (they used to forget it and roll back
// to nothing). The deployment is the built-in one with its verification tried twice a
// second apart instead of six times backing off from 2s to 20s (50s of waiting; the
// workflow tests cover the backoff with time skipping).
func TestRollbackAfterRestartRestoresThePreviousVersion(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	args, mcpAddr, demoPort := devOnFreePorts(t, filepath.Join(dir, "data"))
	args = append(args, "--processes", quickVerifyDeployment(t, filepath.Join(dir, "processes")))
	deployed := func() string {
		var d map[string]string
		getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/deploy/deployments/orders/staging", demoPort), &d)
		return d["version"]
	}
	// deploy starts and approves a staging deployment and waits until it has ended as want.
	deploy := func(cs *mcp.ClientSession, version string, want workflows.Status) mcpserver.StatusResult {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
			"parameters": map[string]any{"service": "orders", "version": version, "environment": "staging"}}).decode(t, &s)
		var st mcpserver.StatusResult
		for _, phase := range []workflows.Status{workflows.StatusWaitingApproval, want} {
			testenv.WaitFor(t, 120*time.Second, s.WorkflowID+" "+string(phase), func() (bool, error) {
				callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": s.WorkflowID}).decode(t, &st)
				// A failed run says failed while it still undoes its steps (undoing); it has
				// ended once closed_at is set.
				done := phase == workflows.StatusWaitingApproval || st.ClosedAt != nil
				return st.Status == phase && done, fmt.Errorf("status %s at %s, undoing %v", st.Status, st.CurrentStep, st.Undoing)
			})
			if phase == workflows.StatusWaitingApproval {
				if r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval"}); r.IsError {
					t.Fatalf("approve %s: %s", version, r.Text)
				}
			}
		}
		return st
	}

	first := startDev(t, args...)
	first.waitReady(t, mcpAddr)
	if out := first.out.String(); strings.Contains(out, "refused") {
		t.Fatalf("the quick deployment was refused:\n%s", out)
	}
	deploy(connectHTTP(t, first.mcpURL), "1.0.0", workflows.StatusCompleted)
	first.stop(t, syscall.SIGKILL)

	second := startDev(t, args...)
	second.waitReady(t, mcpAddr)
	if got := deployed(); got != "1.0.0" {
		t.Fatalf("after the restart orders runs %q in staging, want 1.0.0", got)
	}
	st := deploy(connectHTTP(t, second.mcpURL), "2.0.0-unhealthy", workflows.StatusFailed)
	if got := deployed(); got != "1.0.0" {
		t.Errorf("after the rollback orders runs %q in staging, want 1.0.0 (run error: %s)", got, st.Error)
	}
}

// quickVerifyDeployment writes into dir the built-in deployment with its verify step
// tried twice, a second apart, and returns dir.
func quickVerifyDeployment(t *testing.T, dir string) string {
	t.Helper()
	const retry = "retry: {initial_interval: 2s, backoff_coefficient: 2, maximum_interval: 20s, maximum_attempts: 6}"
	for _, f := range workflows.BuiltinDefinitions() {
		if f.Path != "builtin:deployment.yaml" {
			continue
		}
		if n := strings.Count(string(f.Data), retry); n != 1 {
			t.Fatalf("the built-in deployment has %d verify retries %q, want 1: update this test", n, retry)
		}
		quick := strings.Replace(string(f.Data), retry, "retry: {initial_interval: 1s, backoff_coefficient: 1, maximum_interval: 1s, maximum_attempts: 2}", 1)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "deployment.yaml"), []byte(quick), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Fatal("no built-in deployment")
	return ""
}

// TestEvictedRunsStillFollowTheirGates: with the worker's workflow cache bounded to two
// runs, six deployments wait at their gates (most evicted from memory); each answers its
// status, is approved and completes, rebuilt by replay.
func TestEvictedRunsStillFollowTheirGates(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	args, mcpAddr, _ := devOnFreePorts(t, t.TempDir())
	dev := startDev(t, append(args, "--workflow-cache", "2")...)
	dev.waitReady(t, mcpAddr)
	cs := connectHTTP(t, dev.mcpURL)
	var ids []string
	for i := range 6 {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
			"parameters": map[string]any{"service": "orders", "version": fmt.Sprintf("6.%d.0", i), "environment": "staging"}}).decode(t, &s)
		ids = append(ids, s.WorkflowID)
	}
	status := func(id string) mcpserver.StatusResult {
		var st mcpserver.StatusResult
		callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}).decode(t, &st)
		return st
	}
	for _, id := range ids {
		testenv.WaitFor(t, 30*time.Second, id+" waiting", func() (bool, error) {
			return status(id).Status == workflows.StatusWaitingApproval, nil
		})
	}
	for _, id := range ids {
		if r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": id, "action": "approve", "step": "approval"}); r.IsError {
			t.Fatalf("approve %s: %s", id, r.Text)
		}
	}
	for _, id := range ids {
		testenv.WaitFor(t, 60*time.Second, id+" completed", func() (bool, error) {
			st := status(id)
			return st.Status == workflows.StatusCompleted, fmt.Errorf("status %s", st.Status)
		})
	}
}
