package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

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
}
