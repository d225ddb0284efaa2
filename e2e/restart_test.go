package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/devserver"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
)

// TestWaitingWorkflowSurvivesServerAndWorkerRestart stops the embedded server and the
// worker while a workflow waits at a gate, starts them again on the same SQLite file and
// port, and approves: the workflow goes on from where it was and completes, and its deploy
// reached the backend once.
func TestWaitingWorkflowSurvivesServerAndWorkerRestart(t *testing.T) {
	// Each case has its own stack, files and ports: they run beside the others.
	t.Parallel()
	for _, d := range []devserver.Durability{devserver.DurabilityProcessCrash, devserver.DurabilityLegacy, "postgres"} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dbFile := testenv.TempFile(t, "temporal.db")
			dataDir := t.TempDir()
			opts := testenv.Options{DatabaseFile: dbFile, DataDir: dataDir, Durability: d, NoMCP: true}
			if d == "postgres" {
				opts = testenv.Options{PostgresDSN: postgresDSN(t), DataDir: dataDir, NoMCP: true}
			}
			first := testenv.StartT(t, opts)
			id := startKind(t, first.Client, workflows.KindDeployment,
				`{"service":"users","version":"5.0.0","environment":"staging","manifest":"manifests/users.json"}`,
				workflows.Request{RequestedBy: "alice"})
			before := testenv.WaitForStatus(t, first.Client, id, workflows.StatusWaitingApproval)
			testenv.WaitForIdle(t, first.Client, id)
			port := portOf(t, first.Server.FrontendAddress())
			first.Stop()

			opts.FrontendPort = port
			second := testenv.StartT(t, opts)
			after := testenv.WaitForStatus(t, second.Client, id, workflows.StatusWaitingApproval)
			if after.Waiting.Step != before.Waiting.Step || !after.Waiting.Deadline.Equal(before.Waiting.Deadline) {
				t.Fatalf("after restart waiting = %+v, before %+v", after.Waiting, before.Waiting)
			}
			if _, err := advance(t, second.Client, id, workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Step: "approval", Actor: "bob"}); err != nil {
				t.Fatal(err)
			}
			st, err := result(t, second.Client, id)
			if err != nil || st.Status != workflows.StatusCompleted {
				t.Fatalf("status %s err %v", st.Status, err)
			}
			// The first run's history survived: started once, one approval, one deploy.
			if n := len(st.Events("started")); n != 1 {
				t.Errorf("%d start events", n)
			}
			if got := second.Backends.Deployed("users", "staging"); got != "5.0.0" {
				t.Errorf("deployed %q", got)
			}
			if e := second.Backends.Ledger()[runKey(t, second.Client, id)+"/deploy"]; e.Applied != 1 {
				t.Errorf("deploy ledger = %+v", e)
			}
		})
	}
}

// TestWorkerRestartMidRun stops the only worker while workflows wait, starts a new one,
// and the workflows complete.
func TestWorkerRestartMidRun(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{NoMCP: true})
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = startKind(t, env.Client, workflows.KindAudit, `{"tables":["orders"]}`, workflows.Request{RequestedBy: "alice"})
	}
	for _, id := range ids {
		testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
		testenv.WaitForIdle(t, env.Client, id)
	}
	env.Worker.Stop()
	w := restartWorker(t, env)
	defer w.Stop()
	for _, id := range ids {
		if _, err := advance(t, env.Client, id, workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Actor: "bob"}); err != nil {
			t.Fatal(err)
		}
		if st, err := result(t, env.Client, id); err != nil || st.Status != workflows.StatusCompleted {
			t.Fatalf("%s: status %s err %v", id, st.Status, err)
		}
	}
}

// TestSignalsThatAreNotDecisionsLeaveATrace sends, through the raw Temporal client, an
// approve signal whose input is not a decision and a signal named "Approve": both are in
// the run's record as ignored, and the run still waits.
func TestSignalsThatAreNotDecisionsLeaveATrace(t *testing.T) {
	env := testenv.Shared(t)
	id := startKind(t, env.Client, workflows.KindDeployment, `{"service":"orders","version":"8.0.0","environment":"staging"}`,
		workflows.Request{RequestedBy: "alice"})
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
	ctx := t.Context()
	if err := env.Client.SignalWorkflow(ctx, id, "", workflows.SignalApprove, "yes"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.SignalWorkflow(ctx, id, "", "Approve", workflows.Decision{Step: "approval", Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	testenv.WaitFor(t, 10*time.Second, "both signals recorded", func() (bool, error) {
		resp, err := env.Client.QueryWorkflow(ctx, id, "", workflows.QueryDetails)
		if err != nil {
			return false, err
		}
		if err := resp.Get(&st); err != nil {
			return false, err
		}
		return len(st.Events("signal_ignored")) == 2, nil
	})
	if st.Status != workflows.StatusWaitingApproval {
		t.Errorf("status after ignored signals = %s", st.Status)
	}
	details := st.Events("signal_ignored")[0].Detail + " | " + st.Events("signal_ignored")[1].Detail
	for _, want := range []string{`its input "yes" is not a decision`, `signal "Approve" ignored`} {
		if !strings.Contains(details, want) {
			t.Errorf("ignored signals %q lack %q", details, want)
		}
	}
}
