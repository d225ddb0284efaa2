package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestFinishedRunsGoAwayAfterTheRetention: flowgate dev --retention sets how long finished
// runs stay; a short one is warned about, naming what it deletes; a run that ended is
// deleted with its history once it has passed, and get_workflow_status says so, while a
// run still waiting at its gate stays.
func TestFinishedRunsGoAwayAfterTheRetention(t *testing.T) {
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(t.TempDir(), "data"))
	port := args[3] // --port N, as devOnFreePorts lays the flags out
	dev := startDev(t, append(args, "--retention", "2s")...)
	dev.waitReady(t, mcpAddr)
	if out := dev.out.String(); !strings.Contains(out, "warning: --retention 2s: every finished run") {
		t.Errorf("no warning of a short retention:\n%s", out)
	}
	c := dialTemporal(t, "127.0.0.1:"+port)
	ns, err := c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if err != nil || ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() != 2*time.Second {
		t.Fatalf("namespace retention = %v, %v; want 2s", ns.GetConfig().GetWorkflowExecutionRetentionTtl(), err)
	}
	cs := connectHTTP(t, dev.mcpURL)
	var done, waiting mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "7.0.0", "environment": "dev"}}).decode(t, &done)
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "7.0.1", "environment": "production"}}).decode(t, &waiting)
	testenv.WaitForStatus(t, c, done.WorkflowID, workflows.StatusCompleted)
	testenv.WaitFor(t, 90*time.Second, "the finished run deleted", func() (bool, error) {
		_, err := c.DescribeWorkflowExecution(context.Background(), done.WorkflowID, "")
		var nf *serviceerror.NotFound
		return errors.As(err, &nf), fmt.Errorf("describe: %v", err)
	})
	if res := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": done.WorkflowID}); !res.IsError || !strings.Contains(res.Text, done.WorkflowID) {
		t.Errorf("status of a deleted run: %+v", res)
	}
	if v := testenv.WaitForStatus(t, c, waiting.WorkflowID, workflows.StatusWaitingApproval); v.WorkflowID != waiting.WorkflowID {
		t.Errorf("the waiting run: %+v", v)
	}
	// On a laptop without authentication the inbox shows the local identity's gates, each
	// with its link, and offers no sign-out (nobody signed in).
	page := get(t, strings.TrimSuffix(dev.mcpURL, mcpserver.EndpointPath)+mcpserver.InboxPath)
	if !strings.Contains(page, waiting.WorkflowID) || !strings.Contains(page, mcpserver.ApprovalPath+"?t=") || strings.Contains(page, "Sign out") {
		t.Errorf("the inbox of flowgate dev without authentication:\n%s", page)
	}
}

// TestARunThatReusesAnIdIsANewRequest: after retention, a new run may take a finished
// run's workflow id (an idempotency key given again). It is a new request: backends that
// remember idempotency keys answer it afresh (it deploys, not replays the old answer), and
// the app database records it beside the first.
func TestARunThatReusesAnIdIsANewRequest(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{NoMCP: true})
	ctx := t.Context()
	s, err := app.PrepareStart(workflows.KindDeployment, json.RawMessage(`{"service":"orders","version":"9.1.0","environment":"staging"}`), workflows.Request{RequestedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	id := "deployment-" + uuid.NewString()
	opts := s.Options(id)
	// As after retention, when Temporal no longer knows the first run and takes the id again.
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	var runs [2]workflows.State
	var keys [2]string
	for i := range runs {
		run, err := env.Client.ExecuteWorkflow(ctx, opts, string(workflows.KindDeployment), s.Input)
		if err != nil {
			t.Fatal(err)
		}
		testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
		if _, err := advance(t, env.Client, id, workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Step: "approval", Actor: "bob"}); err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, &runs[i]); err != nil || runs[i].Status != workflows.StatusCompleted {
			t.Fatalf("run %d: %s %v %+v", i+1, runs[i].Status, err, runs[i].Steps)
		}
		keys[i] = id + "/" + run.GetRunID() + "/deploy"
	}
	ledger := env.Backends.Ledger()
	for i, k := range keys {
		if e := ledger[k]; e.Applied != 1 {
			t.Errorf("run %d: the deploy under %s = %+v, want applied once", i+1, k, e)
		}
	}
	if a, b := runs[0].Outputs["deployment_id"], runs[1].Outputs["deployment_id"]; a == "" || a == b {
		t.Errorf("deployment rows %q and %q: the second run must record its own", a, b)
	}
}
