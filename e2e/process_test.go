package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// devProcess is `flowgate dev` running as its own OS process.
type devProcess struct {
	cmd    *exec.Cmd
	mcpURL string
	out    *syncBuffer
}

func startDev(t *testing.T, args ...string) *devProcess {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(flowgateBinary(t), append([]string{"dev", "--log-level", "error"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, out: out}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

func (p *devProcess) waitReady(t *testing.T, mcpAddr string) {
	t.Helper()
	p.mcpURL = "http://" + mcpAddr + "/mcp"
	testenv.WaitFor(t, 60*time.Second, "flowgate dev ready", func() (bool, error) {
		if p.cmd.ProcessState != nil {
			return false, fmt.Errorf("exited: %s", p.out)
		}
		resp, err := http.Get("http://" + mcpAddr + "/healthz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && strings.Contains(p.out.String(), "Flowgate is ready"), nil
	})
}

// TestKill9OfTheWholeStackLosesNothing runs `flowgate dev` as a process, leaves
// workflows waiting at their gates, kills the process with SIGKILL, starts it again on
// the same folder and approves them through MCP: every workflow completes.
func TestKill9OfTheWholeStackLosesNothing(t *testing.T) {
	dir := t.TempDir()
	port, mcpPort, demoPort := freePort(t), freePort(t), freePort(t)
	args := []string{"--data-dir", dir, "--port", fmt.Sprint(port), "--no-ui",
		"--mcp-addr", fmt.Sprintf("127.0.0.1:%d", mcpPort), "--demo-addr", fmt.Sprintf("127.0.0.1:%d", demoPort)}
	mcpAddr := fmt.Sprintf("127.0.0.1:%d", mcpPort)

	first := startDev(t, args...)
	first.waitReady(t, mcpAddr)
	cs := connectHTTP(t, first.mcpURL)
	var ids []string
	for i, params := range []map[string]any{
		{"service": "orders", "version": "1.0.0", "environment": "production"},
		{"service": "users", "version": "2.0.0", "environment": "staging"},
		{"service": "products", "version": "3.0.0", "environment": "production"},
	} {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment", "parameters": params,
			"idempotency_key": fmt.Sprintf("kill-test-%d", i)}).decode(t, &s)
		ids = append(ids, s.WorkflowID)
	}
	for _, id := range ids {
		testenv.WaitFor(t, 30*time.Second, id+" waiting", func() (bool, error) {
			var st mcpserver.StatusResult
			r := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id})
			if r.IsError {
				return false, fmt.Errorf("%s", r.Text)
			}
			r.decode(t, &st)
			return st.Status == workflows.StatusWaitingApproval, nil
		})
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	second := startDev(t, args...)
	second.waitReady(t, mcpAddr)
	cs = connectHTTP(t, second.mcpURL)
	for _, id := range ids {
		r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": id, "action": "approve", "step": "approval", "comment": "after kill -9"})
		if r.IsError {
			t.Fatalf("approve %s after restart: %s", id, r.Text)
		}
	}
	for _, id := range ids {
		testenv.WaitFor(t, 60*time.Second, id+" completed", func() (bool, error) {
			var st mcpserver.StatusResult
			callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}).decode(t, &st)
			return st.Status == workflows.StatusCompleted, fmt.Errorf("status %s", st.Status)
		})
	}
	// A repeated start with the same key after the crash still finds the same run.
	var again mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment", "idempotency_key": "kill-test-0",
		"parameters": map[string]any{"service": "orders", "version": "1.0.0", "environment": "production"}}).decode(t, &again)
	if !again.Existing || again.WorkflowID != ids[0] || again.Status != workflows.StatusCompleted {
		t.Errorf("repeated start after restart = %+v", again)
	}
	if err := second.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- second.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Ctrl-C exit: %v\n%s", err, second.out)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("flowgate dev did not stop within 15s of Ctrl-C")
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
