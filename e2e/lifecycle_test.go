package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
	"github.com/flowgate/flowgate/workflows/legacy"
)

var recordHistories = flag.Bool("record-histories", false, "write the histories of the lifecycle tests to workflows/testdata for the replay tests")

// startKind starts a workflow with the raw client, as the MCP server would.
func startKind(t *testing.T, c client.Client, kind workflows.Kind, params string, req workflows.Request) string {
	t.Helper()
	s, err := app.PrepareStart(kind, json.RawMessage(params), req)
	if err != nil {
		t.Fatal(err)
	}
	id := string(kind) + "-" + uuid.NewString()
	_, err = c.ExecuteWorkflow(context.Background(), s.Options(id), string(kind), s.Input)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func advance(t *testing.T, c client.Client, id string, req workflows.AdvanceRequest) (workflows.StatusView, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.UpdateAdvance, Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var v workflows.StatusView
	if err == nil {
		err = h.Get(ctx, &v)
	}
	return v, err
}

func result(t testing.TB, c client.Client, id string) (workflows.State, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var st workflows.State
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &st)
	// A run that did not complete carries its record in the failure's details.
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.HasDetails() {
		_ = app.Details(&st)
	}
	return st, err
}

// saveHistory writes the run's history as JSON for the replay tests.
func saveHistory(t *testing.T, c client.Client, id, name string) {
	t.Helper()
	saveRunHistory(t, c, id, "", name)
}

// saveRunHistory writes the history of one run of the workflow id (empty: the latest).
func saveRunHistory(t *testing.T, c client.Client, id, runID, name string) {
	t.Helper()
	if !*recordHistories {
		return
	}
	iter := c.GetWorkflowHistory(context.Background(), id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", name+".json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// changeTicket is what an approve of a deployment gives: the shipped definition asks a
// production deployment for the change ticket it goes out under, and takes it elsewhere.
var changeTicket = map[string]any{"change_ticket": "CHG-2042"}

// approverScopes are what the MCP server puts on an approver's decision: it lets only
// holders of the approve scope decide, and gates of definitions check it again.
var approverScopes = []string{"approve"}

func TestLifecycleOfEachKindOnTheEmbeddedServer(t *testing.T) {
	env := testenv.Shared(t)
	c := env.Client
	req := workflows.Request{RequestedBy: "alice"}
	cases := []struct {
		kind     workflows.Kind
		params   string
		gate     string
		decision workflows.Action
		want     workflows.Status
		history  string
	}{
		{workflows.KindOnboarding, `{"email":"e2e.hire@example.com","name":"E2E Hire","role":"viewer"}`, workflows.StepManagerApproval, workflows.ActionApprove, workflows.StatusCompleted, "onboarding_approved"},
		{workflows.KindOnboarding, `{"email":"e2e.reject@example.com","name":"E2E Reject","role":"admin"}`, workflows.StepManagerApproval, workflows.ActionReject, workflows.StatusRejected, "onboarding_rejected"},
		{workflows.KindDeployment, `{"service":"orders","version":"2.3.4","environment":"production","manifest":"manifests/orders.json"}`, workflows.StepDeployApproval, workflows.ActionApprove, workflows.StatusCompleted, "deployment_approved"},
		{workflows.KindDeployment, `{"service":"users","version":"3.0.0","environment":"staging"}`, workflows.StepDeployApproval, workflows.ActionReject, workflows.StatusRejected, "deployment_rejected"},
		{workflows.KindAudit, `{"tables":["users","products"],"evidence":["evidence/users.csv"]}`, workflows.StepAuditorSignoff, workflows.ActionApprove, workflows.StatusCompleted, "audit_approved"},
	}
	for _, tc := range cases {
		t.Run(tc.history, func(t *testing.T) {
			id := startKind(t, c, tc.kind, tc.params, req)
			v := testenv.WaitForStatus(t, c, id, workflows.StatusWaitingApproval)
			if v.Waiting == nil || v.Waiting.Step != tc.gate {
				t.Fatalf("waiting = %+v, want gate %s", v.Waiting, tc.gate)
			}
			// The search attributes show the gate, written once per workflow task however
			// many steps the task passed.
			if status, step := searchAttr(t, c, id, "FlowgateStatus"), searchAttr(t, c, id, "FlowgateStep"); status != string(workflows.StatusWaitingApproval) || step != tc.gate {
				t.Errorf("at the gate the search attributes say %s at %s", status, step)
			}
			if most, total := upsertsPerTask(t, c, id); most > 1 {
				t.Errorf("a workflow task upserted Flowgate's search attributes %d times (%d upserts to the gate)", most, total)
			}
			if _, err := advance(t, c, id, workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Actor: "alice"}); err == nil {
				t.Fatal("the requester approved their own workflow")
			}
			decision := workflows.AdvanceRequest{Scopes: approverScopes, Action: tc.decision, Step: tc.gate, Actor: "bob", Comment: "e2e"}
			if tc.kind == workflows.KindDeployment && tc.decision == workflows.ActionApprove {
				decision.Inputs = changeTicket
			}
			if _, err := advance(t, c, id, decision); err != nil {
				t.Fatal(err)
			}
			st, err := result(t, c, id)
			if tc.want == workflows.StatusRejected {
				// A rejected run ends Failed with type Rejected, so it never looks like a success.
				var app *temporal.ApplicationError
				if !errors.As(err, &app) || app.Type() != workflows.ErrTypeRejected {
					t.Fatalf("rejected run ended with %v, want a Rejected failure", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if st.Status != tc.want {
				t.Fatalf("status %s, want %s", st.Status, tc.want)
			}
			if status := searchAttr(t, c, id, "FlowgateStatus"); status != string(tc.want) {
				t.Errorf("FlowgateStatus search attribute = %q, want %s", status, tc.want)
			}
			saveHistory(t, c, id, tc.history)
		})
	}
}

// TestARunStartedBeforeTheUpgradeFinishesOnTheGoCode: a run of each built-in kind that
// the previous release started (typed parameters, no definition in its input) waits at its
// gate, is approved after the upgrade, and completes on the Go code it began on; a new
// start of the same kind follows the shipped definition.
func TestARunStartedBeforeTheUpgradeFinishesOnTheGoCode(t *testing.T) {
	env := testenv.Shared(t)
	c := env.Client
	for _, k := range []struct {
		kind   workflows.Kind
		old    any
		gate   string
		output string
		fresh  string
	}{
		{workflows.KindDeployment, legacy.DeploymentInput{Request: workflows.Request{RequestedBy: "alice"},
			Params: workflows.DeploymentParams{Service: "orders", Version: "4.0.0", Environment: "production"}},
			workflows.StepDeployApproval, "deployment_id", `{"service":"orders","version":"4.0.1","environment":"production"}`},
		{workflows.KindOnboarding, legacy.OnboardingInput{Request: workflows.Request{RequestedBy: "alice"},
			Params: workflows.OnboardingParams{Email: "upgrade.old@example.com", Name: "Old Hire", Role: "viewer"}},
			workflows.StepManagerApproval, "user_id", `{"email":"upgrade.new@example.com","name":"New Hire","role":"viewer"}`},
		{workflows.KindAudit, legacy.AuditInput{Request: workflows.Request{RequestedBy: "alice"},
			Params: workflows.AuditParams{Tables: []string{"products"}}},
			workflows.StepAuditorSignoff, "report_path", `{"tables":["products"]}`},
	} {
		t.Run(string(k.kind), func(t *testing.T) {
			id := string(k.kind) + "-" + uuid.NewString()
			opts := app.Prepared{Kind: k.kind, Input: workflows.ProcessInput{Request: workflows.Request{RequestedBy: "alice"}}}.Options(id)
			if _, err := c.ExecuteWorkflow(context.Background(), opts, string(k.kind), k.old); err != nil {
				t.Fatal(err)
			}
			v := testenv.WaitForStatus(t, c, id, workflows.StatusWaitingApproval)
			if v.Process != nil {
				t.Fatalf("a run started with typed parameters follows process %+v, want the Go code", v.Process)
			}
			if _, err := advance(t, c, id, workflows.AdvanceRequest{Action: workflows.ActionApprove, Step: k.gate, Actor: "bob"}); err != nil {
				t.Fatal(err)
			}
			st, err := result(t, c, id)
			if err != nil || st.Status != workflows.StatusCompleted || st.Outputs[k.output] == "" {
				t.Fatalf("old run: %s %v, outputs %v", st.Status, err, st.Outputs)
			}
			fresh := startKind(t, c, k.kind, k.fresh, workflows.Request{RequestedBy: "alice"})
			if v := testenv.WaitForStatus(t, c, fresh, workflows.StatusWaitingApproval); v.Process == nil || v.Process.Name != string(k.kind) || len(v.Process.Hash) != 64 {
				t.Errorf("a new %s follows %+v, want the shipped definition", k.kind, v.Process)
			}
		})
	}
}

// searchAttr is a keyword search attribute of the run as Temporal holds it now.
func searchAttr(t *testing.T, c client.Client, id, name string) string {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	var v string
	_ = json.Unmarshal(desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[name].GetData(), &v)
	return v
}

// upsertsPerTask reads the run's history so far: the most upserts of Flowgate's search
// attributes one workflow task issued, and how many there were in all.
func upsertsPerTask(t *testing.T, c client.Client, id string) (most, total int) {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch e.GetEventType() {
		case enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			n = 0
		case enums.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			// Only Flowgate's own: the SDK upserts TemporalChangeVersion with a marker.
			if _, ok := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()["FlowgateStatus"]; !ok {
				continue
			}
			n++
			total++
			most = max(most, n)
		}
	}
	return most, total
}
