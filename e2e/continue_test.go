package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/api/enums/v1"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestALongGateContinuesAsNewOnTheEmbeddedServer: a deployment waiting at its gate is sent
// signals it ignores until its history passes its bound (40 events here). It goes on as a
// new run of the same workflow id: MCP shows one run waiting at the same gate, with the
// whole record; an approval then completes it, and the service is deployed once. Both
// runs' histories are recorded for the replay tests.
func TestALongGateContinuesAsNewOnTheEmbeddedServer(t *testing.T) {
	env := testenv.Shared(t)
	c := env.Client
	ctx := context.Background()
	version := fmt.Sprintf("7.%d.0", time.Now().UnixNano()%1000)
	s, err := app.PrepareStart(workflows.KindDeployment, json.RawMessage(`{"service":"orders","version":"`+version+`","environment":"staging"}`),
		workflows.Request{RequestedBy: "alice", ContinueAsNewAfter: 40})
	if err != nil {
		t.Fatal(err)
	}
	id := "deployment-" + uuid.NewString()
	run, err := c.ExecuteWorkflow(ctx, s.Options(id), string(workflows.KindDeployment), s.Input)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitForStatus(t, c, id, workflows.StatusWaitingApproval)
	sent := 0
	testenv.WaitFor(t, 60*time.Second, "the run to continue as new", func() (bool, error) {
		if err := c.SignalWorkflow(ctx, id, "", workflows.SignalApprove, "not a decision"); err != nil {
			return false, err
		}
		sent++
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return false, err
		}
		return d.GetWorkflowExecutionInfo().GetExecution().GetRunId() != run.GetRunID(), fmt.Errorf("%d signals sent, still run %s", sent, run.GetRunID())
	})
	first, err := c.DescribeWorkflowExecution(ctx, id, run.GetRunID())
	if err != nil || first.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
		t.Fatalf("the first run is %v (%v), want continued as new", first.GetWorkflowExecutionInfo().GetStatus(), err)
	}
	testenv.WaitForStatus(t, c, id, workflows.StatusWaitingApproval)

	cs := connectHTTP(t, env.MCPURL)
	var v workflows.StatusView
	callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}).decode(t, &v)
	if v.Status != workflows.StatusWaitingApproval || v.Waiting == nil || v.Waiting.Step != workflows.StepDeployApproval {
		t.Fatalf("after continuing: %s %+v", v.Status, v.Waiting)
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "workflow://" + id + "/details"})
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Events("started")) != 1 || len(st.Events("continued_as_new")) != 1 || st.IgnoredSignals == 0 || stepOf(st, "validate").Status != workflows.StepCompleted {
		t.Errorf("the record after continuing: %d started, %d continued, %d ignored signals, validate %s",
			len(st.Events("started")), len(st.Events("continued_as_new")), st.IgnoredSignals, stepOf(st, "validate").Status)
	}
	// list_workflows counts the workflow once: the run it continued from is not listed.
	testenv.WaitFor(t, 20*time.Second, "list_workflows to show the run once", func() (bool, error) {
		var l mcpserver.ListResult
		callTool(t, cs, "list_workflows", map[string]any{"status": "waiting_approval", "limit": 100}).decode(t, &l)
		n := 0
		for _, w := range l.Items {
			if w.WorkflowID == id {
				n++
			}
		}
		return n == 1, fmt.Errorf("listed %d times", n)
	})

	if _, err := advance(t, c, id, workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Step: workflows.StepDeployApproval, Actor: "bob", Comment: "after a long wait"}); err != nil {
		t.Fatal(err)
	}
	final, err := result(t, c, id)
	if err != nil || final.Status != workflows.StatusCompleted {
		t.Fatalf("approved after continuing: %s %v", final.Status, err)
	}
	if s := stepOf(final, "deploy"); s.Status != workflows.StepCompleted || s.Attempts != 1 {
		t.Errorf("deploy = %+v, want completed once", s)
	}
	if !slices.ContainsFunc(final.History, func(e workflows.Event) bool {
		return e.Event == "approved" || (e.Step == workflows.StepDeployApproval && e.Actor == "bob")
	}) {
		t.Errorf("the record does not show bob's approval: %+v", final.History)
	}
	saveRunHistory(t, c, id, run.GetRunID(), "deployment_continued_first_run")
	saveRunHistory(t, c, id, "", "deployment_continued_next_run")
}
