package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestAdvanceAsksThePersonToConfirm connects clients that support elicitation: one whose
// person declines, one whose person confirms. A declined approval is not sent. The gate
// asks an approve for its change ticket, so the person is asked for it in the same form,
// and the ticket they give is the one recorded, though the agent gave none.
func TestAdvanceAsksThePersonToConfirm(t *testing.T) {
	env := testenv.Shared(t)
	var asked, schema atomic.Value
	connect := func(answer bool) *mcp.ClientSession {
		c := mcp.NewClient(&mcp.Implementation{Name: "elicit", Version: "1"}, &mcp.ClientOptions{
			ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				asked.Store(req.Params.Message)
				schema.Store(fmt.Sprint(req.Params.RequestedSchema))
				if !answer {
					return &mcp.ElicitResult{Action: "decline"}, nil
				}
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true, "change_ticket": "CHG-77"}}, nil
			},
		})
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: env.MCPURL}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	no, yes := connect(false), connect(true)
	var s mcpserver.StartResult
	callTool(t, no, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "4.4.4", "environment": "production"}}).decode(t, &s)
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)

	r := callTool(t, no, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval", "inputs": changeTicket})
	if !r.IsError || !strings.Contains(r.Text, "did not confirm") {
		t.Fatalf("declined approval: %s", r.Text)
	}
	msg, _ := asked.Load().(string)
	for _, want := range []string{"Approve", "approval", "4.4.4", "production", "continues"} {
		if !strings.Contains(msg, want) {
			t.Errorf("confirmation %q does not say %q", msg, want)
		}
	}
	if v, _ := testenv.Status(context.Background(), env.Client, s.WorkflowID); v.Status != workflows.StatusWaitingApproval {
		t.Fatalf("a declined approval reached the workflow: %s", v.Status)
	}
	var adv mcpserver.StatusResult
	callTool(t, yes, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval"}).decode(t, &adv)
	if got, _ := schema.Load().(string); !strings.Contains(got, "change_ticket") {
		t.Errorf("the person was not asked for the change ticket: %s", got)
	}
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusCompleted)
	st, err := testenv.Details(context.Background(), env.Client, s.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range st.Steps {
		if step.Name == "approval" && step.Output != "approved with change_ticket=CHG-77" {
			t.Errorf("approval = %+v, want the ticket the person gave", step)
		}
	}
}

// TestLongCallsReportProgress holds a tool call while no worker runs, then starts one:
// the client gets progress notifications meanwhile, and the call completes.
func TestLongCallsReportProgress(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{NoWorker: true})
	var progress atomic.Int32
	heardTwice := make(chan struct{})
	c := mcp.NewClient(&mcp.Implementation{Name: "progress", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			if req.Params.ProgressToken == "tok-1" && progress.Add(1) == 2 {
				close(heardTwice)
			}
		},
	})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: env.MCPURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The worker starts once the client has heard twice that the call is alive.
	type started struct {
		w   *stack.Worker
		err error
	}
	workerUp := make(chan started, 1)
	go func() {
		select {
		case <-heardTwice:
			w, err := startWorker(ctx, env)
			workerUp <- started{w, err}
		case <-ctx.Done():
			workerUp <- started{err: fmt.Errorf("%d progress notifications, want 2: %w", progress.Load(), ctx.Err())}
		}
	}()
	params := &mcp.CallToolParams{Name: "parse_file", Arguments: map[string]any{"file_path": "evidence/users.csv"}}
	params.SetProgressToken("tok-1")
	res, err := cs.CallTool(ctx, params)
	up := <-workerUp
	if up.err != nil {
		t.Fatalf("worker: %v", up.err)
	}
	defer up.w.Stop()
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	if n := progress.Load(); n < 2 {
		t.Errorf("%d progress notifications before the worker ran, want at least 2", n)
	}
}

// TestAConfirmationMustAnswerTheServersRequest: under 2026-07-28 a client that sends
// inputResponses.confirm in its first advance_workflow call (no request was issued) is
// asked, and nothing is decided; the answer to the server's own request, echoing its
// requestState, decides once; the same state cannot confirm a second time.
func TestAConfirmationMustAnswerTheServersRequest(t *testing.T) {
	env := testenv.Shared(t)
	var s mcpserver.StartResult
	callTool(t, connectHTTP(t, env.MCPURL), "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "4.5.6", "environment": "production"}}).decode(t, &s)
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)

	yes := map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}}
	call := func(state string) map[string]any {
		t.Helper()
		params := map[string]any{"name": "advance_workflow",
			"arguments":      map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval", "inputs": changeTicket},
			"inputResponses": yes,
			"_meta":          modernMeta(map[string]any{"elicitation": map[string]any{}})}
		if state != "" {
			params["requestState"] = state
		}
		msg := postModern(t, env.MCPURL, "tools/call", "advance_workflow", params)
		if msg.Result == nil {
			t.Fatalf("advance_workflow answered %+v", msg)
		}
		return msg.Result
	}
	status := func() workflows.Status {
		v, _ := testenv.Status(context.Background(), env.Client, s.WorkflowID)
		return v.Status
	}

	first := call("")
	state, _ := first["requestState"].(string)
	if _, asks := first["inputRequests"].(map[string]any)["confirm"]; !asks || state == "" {
		t.Fatalf("a confirmation nobody asked for was taken: %v", first)
	}
	if st := status(); st != workflows.StatusWaitingApproval {
		t.Fatalf("the self-confirmed approval reached the workflow: %s", st)
	}
	if forged := call(state[:len(state)-2] + "xx"); forged["inputRequests"] == nil {
		t.Fatalf("an altered requestState confirmed: %v", forged)
	}
	if done := call(state); done["inputRequests"] != nil || done["isError"] == true {
		t.Fatalf("the answer to the server's request did not decide: %v", done)
	}
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusCompleted)
	if again := call(state); again["inputRequests"] == nil {
		t.Errorf("a used requestState confirmed a second time: %v", again)
	}
}
