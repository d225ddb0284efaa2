package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/worker"
	"github.com/flowgate/flowgate/workflows"
)

// harness is a time-skipping test environment whose activities are the real ones: a
// SQLite file, the demo backends over loopback HTTP and a temp-dir sandbox.
type harness struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	backends *demo.Backends
	db       *activities.Database
	files    *activities.Files
	baseURL  string
	// defined runs deployments on the shipped definition instead of the Go code.
	defined bool
}

// sibling is a second test environment on h's backends, database and files, whose run
// has the workflow id id: what h's runs did is there for it.
func (h *harness) sibling(id string) *harness {
	h2 := &harness{t: h.t, backends: h.backends, db: h.db, files: h.files, baseURL: h.baseURL, defined: h.defined}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(quietLogger)
	h2.env = suite.NewTestWorkflowEnvironment()
	worker.Register(h2.env, worker.Activities{Database: h.db, Files: h.files,
		Gateway: &activities.Gateway{Client: &http.Client{}, Services: demo.Services(h.baseURL)}})
	h2.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	return h2
}

// onGoAndDefinition runs a test of a built-in kind on its Go code (runs started before the
// kind became a definition) and on its shipped definition: they must behave alike.
func onGoAndDefinition(t *testing.T, test func(t *testing.T, defined bool)) {
	t.Run("go", func(t *testing.T) { test(t, false) })
	t.Run("definition", func(t *testing.T) { test(t, true) })
}

// newHarnessOn is a harness whose built-in runs follow the shipped definitions (defined)
// or the Go code.
func newHarnessOn(t *testing.T, defined bool) *harness {
	h := newHarness(t)
	h.defined = defined
	return h
}

// shipped is the definition the binary ships for a built-in kind.
func shipped(t *testing.T, kind workflows.Kind) workflows.ProcessSource {
	t.Helper()
	src, _, err := workflows.ShippedProcess(kind)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// startBuiltin runs a built-in kind as its workflow type does: on the Go code, or
// (h.defined) on the shipped definition with the same parameters.
func (h *harness) startBuiltin(kind workflows.Kind, req workflows.Request, params any) {
	h.t.Helper()
	raw, err := json.Marshal(params)
	if err != nil {
		h.t.Fatal(err)
	}
	bi := workflows.BuiltinInput{Request: req, Params: raw}
	if h.defined {
		src := shipped(h.t, kind)
		bi.Process = &src
	}
	h.env.ExecuteWorkflow(string(kind), bi)
}

// deploymentInput, onboardingInput and auditInput are what a test starts a built-in kind
// with: who asks and the typed parameters, which startBuiltin gives to the Go code or to
// the shipped definition.
type (
	deploymentInput struct {
		workflows.Request
		Params workflows.DeploymentParams
	}
	onboardingInput struct {
		workflows.Request
		Params workflows.OnboardingParams
	}
	auditInput struct {
		workflows.Request
		Params workflows.AuditParams
	}
)

// changeTicket is what an approve of a production deployment carries on the shipped
// definition, whose gate asks for the change ticket; the Go code's gate takes no inputs.
func (h *harness) changeTicket() map[string]any {
	if !h.defined {
		return nil
	}
	return map[string]any{"change_ticket": "CHG-1042"}
}

func (h *harness) startDeployment(in deploymentInput) {
	h.t.Helper()
	h.startBuiltin(workflows.KindDeployment, in.Request, in.Params)
}

func (h *harness) startOnboarding(in onboardingInput) {
	h.t.Helper()
	h.startBuiltin(workflows.KindOnboarding, in.Request, in.Params)
}

func (h *harness) startAudit(in auditInput) {
	h.t.Helper()
	h.startBuiltin(workflows.KindAudit, in.Request, in.Params)
}

// ledgerKey is the idempotency key the Go code (short) or the definition (its step and
// action names) gives a gateway call.
func (h *harness) ledgerKey(id, short, defined string) string {
	if h.defined {
		return processKey(id, defined)
	}
	return id + "/" + short
}

// processKey is the idempotency key of a definition's step in the test environment: the
// workflow id, the first run id and the step's key.
func processKey(id, key string) string { return id + "/" + testRunID + "/" + key }

// testRunID is the run id of every run in Temporal's test environment.
const testRunID = "default-test-run-id"

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	db, err := activities.OpenDatabase(context.Background(), filepath.Join(dir, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sandbox := filepath.Join(dir, "sandbox")
	files, err := activities.OpenFiles(sandbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	if err := demo.SeedSandbox(sandbox); err != nil {
		t.Fatal(err)
	}
	backends := demo.New()
	backends.Latency = 0
	url, stop, err := backends.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(quietLogger)
	env := suite.NewTestWorkflowEnvironment()
	// A workflow task over a second is taken for a deadlock, and the run panics; on a busy
	// CI machine a task that handles a large payload (the audit's 13 700 findings) can take
	// that long, and the run ended before the test's next step (1 CI run in 3).
	env.SetWorkerOptions(sdkworker.Options{DeadlockDetectionTimeout: 10 * time.Second})
	worker.Register(env, worker.Activities{
		Database: db,
		Gateway:  &activities.Gateway{Client: &http.Client{}, Services: demo.Services(url)},
		Files:    files,
	})
	return &harness{t: t, env: env, backends: backends, db: db, files: files, baseURL: url}
}

// at schedules fn after d of workflow time.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *harness) status() workflows.StatusView {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		h.t.Fatalf("query status: %v", err)
	}
	var s workflows.StatusView
	if err := v.Get(&s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) details() workflows.State {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(workflows.QueryDetails)
	if err != nil {
		h.t.Fatalf("query details: %v", err)
	}
	var s workflows.State
	if err := v.Get(&s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// outcome is what an advance update came to; it is filled in as the workflow runs.
type outcome struct {
	view workflows.StatusView
	err  error
	done bool
}

// advance sends the advance update; check its outcome after the workflow has run.
func (h *harness) advance(req workflows.AdvanceRequest) *outcome {
	return h.update(workflows.UpdateAdvance, req)
}

// update sends the update name with arg; check its outcome after the workflow has run.
func (h *harness) update(name string, arg any) *outcome {
	o := &outcome{}
	h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { o.err, o.done = err, true },
		OnComplete: func(v any, err error) {
			o.done, o.err = true, err
			if err == nil {
				o.view = v.(workflows.StatusView)
			}
		},
	}, arg)
	return o
}

// accepted fails the test unless the update completed without error.
func (o *outcome) accepted(t *testing.T) workflows.StatusView {
	t.Helper()
	if !o.done || o.err != nil {
		t.Fatalf("advance: done=%t err=%v", o.done, o.err)
	}
	return o.view
}

// refused fails the test unless the update was refused with a message containing want.
func (o *outcome) refused(t *testing.T, want string) {
	t.Helper()
	if !o.done || o.err == nil || !strings.Contains(o.err.Error(), want) {
		t.Errorf("advance: done=%t err=%v, want a refusal containing %q", o.done, o.err, want)
	}
}

// result returns the workflow's final record, whichever way it ended.
func (h *harness) result() (workflows.State, error) {
	h.t.Helper()
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	err := h.env.GetWorkflowError()
	return h.details(), err
}

func errorType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func stepOf(st workflows.State, name string) workflows.Step {
	for _, s := range st.Steps {
		if s.Name == name {
			return s
		}
	}
	return workflows.Step{}
}

var alice = workflows.Request{RequestedBy: "alice"}

// approveScope is what an approver's decision carries through the MCP server, which lets
// only holders of the approve scope decide.
var approveScope = []string{"approve"}

// quietLogger keeps the test environment's debug lines out of the test output.
var quietLogger = log.NewStructuredLogger(slog.New(slog.DiscardHandler))

func deployment(env, version string) deploymentInput {
	return deploymentInput{Request: alice, Params: workflows.DeploymentParams{
		Service: "orders", Version: version, Environment: env, Manifest: "manifests/orders.json"}}
}

func TestDeploymentApprovedDeploysOnceAndRecords(t *testing.T) {
	onGoAndDefinition(t, testDeploymentApprovedDeploysOnceAndRecords)
}

func testDeploymentApprovedDeploysOnceAndRecords(t *testing.T, defined bool) {
	h := newHarness(t)
	h.defined = defined
	var approve *outcome
	h.at(time.Hour, func() {
		s := h.status()
		if s.Status != workflows.StatusWaitingApproval || s.Waiting == nil || s.Waiting.Step != workflows.StepDeployApproval {
			t.Errorf("status while waiting = %+v", s)
		} else if s.Waiting.NotBy != "alice" || s.Progress != 42 {
			t.Errorf("waiting = %+v, progress %d", s.Waiting, s.Progress)
		}
		approve = h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Comment: "ship it", Inputs: h.changeTicket()})
	})
	h.startDeployment(deployment("production", "1.4.2"))
	st, err := h.result()
	if err != nil {
		t.Fatal(err)
	}
	if v := approve.accepted(t); v.Status != workflows.StatusInProgress || v.CurrentStep != workflows.StepDeploy {
		t.Errorf("advance returned %s at %s, want in_progress at deploy", v.Status, v.CurrentStep)
	}
	if st.Status != workflows.StatusCompleted || st.Progress != 100 {
		t.Fatalf("status %s progress %d", st.Status, st.Progress)
	}
	if got := h.backends.Deployed("orders", "production"); got != "1.4.2" {
		t.Errorf("deployed version = %q", got)
	}
	approval := stepOf(st, workflows.StepDeployApproval)
	if approval.Actor != "bob" || approval.Comment != "ship it" || approval.Status != workflows.StepCompleted {
		t.Errorf("approval step = %+v", approval)
	}
	entry := h.backends.Ledger()[h.ledgerKey(st.WorkflowID, "deploy", "deploy")]
	if entry.Applied != 1 {
		t.Errorf("deploy ledger entry = %+v, want applied once", entry)
	}
	if st.Outputs["deployment_id"] == "" {
		t.Error("no deployment row recorded")
	}
}

// TestShippedDeploymentKeepsTheRecordOfTheGoCode: a deployment run on the shipped
// definition leaves the record the Go code left: the same steps, statuses, actors, texts
// and outputs, with the manifest loaded and a previous version rolled back to.
func TestShippedDeploymentKeepsTheRecordOfTheGoCode(t *testing.T) {
	record := func(defined bool, env, version string) (workflows.State, error) {
		h := newHarness(t)
		h.defined = defined
		// Something runs before, so the record names a previous version.
		h.startDeployment(deploymentInput{Request: alice,
			Params: workflows.DeploymentParams{Service: "orders", Version: "1.0.0", Environment: env}})
		if _, err := h.result(); err != nil && env == "dev" {
			t.Fatal(err)
		}
		h2 := h.sibling("deployment-second")
		h2.at(time.Hour, func() {
			h2.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Comment: "ship it", Inputs: h2.changeTicket()})
		})
		in := deployment(env, version)
		h2.startDeployment(in)
		return h2.result()
	}
	for _, c := range []struct{ env, version string }{{"dev", "1.1.0"}, {"dev", "1.1.0-unhealthy"}, {"production", "1.2.0"}} {
		goRun, goErr := record(false, c.env, c.version)
		defRun, defErr := record(true, c.env, c.version)
		if errorType(goErr) != errorType(defErr) || goRun.Status != defRun.Status || goRun.Error != defRun.Error {
			t.Errorf("%s %s: Go ended %s (%v), the definition %s (%v)", c.env, c.version, goRun.Status, goErr, defRun.Status, defErr)
		}
		if len(goRun.Steps) != len(defRun.Steps) {
			t.Fatalf("%d steps against %d", len(goRun.Steps), len(defRun.Steps))
		}
		for i, g := range goRun.Steps {
			d := defRun.Steps[i]
			if g.Name == workflows.StepDeployApproval && c.env == "production" {
				// The definition's gate also records the change ticket it was approved under.
				g.Output += " with change_ticket=CHG-1042"
			}
			if g.Name != d.Name || g.Status != d.Status || g.Actor != d.Actor || g.Output != d.Output || g.Error != d.Error || g.Attempts != d.Attempts {
				t.Errorf("%s %s: step %d\n Go         %+v\n definition %+v", c.env, c.version, i, g, d)
			}
		}
		for _, k := range []string{"previous_version", "deployment_id"} {
			if goRun.Outputs[k] != defRun.Outputs[k] {
				t.Errorf("%s %s: output %s: Go %q, definition %q", c.env, c.version, k, goRun.Outputs[k], defRun.Outputs[k])
			}
		}
	}
}

// sameRecord fails t where the definition's record differs from the Go code's: steps,
// statuses, actors, texts, attempts (a step the Go code ran without an activity has
// none) and the named outputs.
func sameRecord(t *testing.T, label string, goRun, defRun workflows.State, goErr, defErr error, outputs ...string) {
	t.Helper()
	if errorType(goErr) != errorType(defErr) || goRun.Status != defRun.Status || goRun.Error != defRun.Error {
		t.Errorf("%s: Go ended %s (%v), the definition %s (%v)", label, goRun.Status, goErr, defRun.Status, defErr)
	}
	if len(goRun.Steps) != len(defRun.Steps) {
		t.Fatalf("%s: %d steps against %d", label, len(goRun.Steps), len(defRun.Steps))
	}
	for i, g := range goRun.Steps {
		d := defRun.Steps[i]
		if g.Name != d.Name || g.Status != d.Status || g.Actor != d.Actor || g.Comment != d.Comment || g.Output != d.Output || g.Error != d.Error || (g.Attempts > 0 && g.Attempts != d.Attempts) {
			t.Errorf("%s: step %d\n Go         %+v\n definition %+v", label, i, g, d)
		}
	}
	for _, k := range outputs {
		if goRun.Outputs[k] != defRun.Outputs[k] || goRun.Outputs[k] == "" && goRun.Status == workflows.StatusCompleted {
			t.Errorf("%s: output %s: Go %q, definition %q", label, k, goRun.Outputs[k], defRun.Outputs[k])
		}
	}
}

// TestShippedOnboardingKeepsTheRecordOfTheGoCode: an onboarding on the shipped definition
// leaves the record, the user row, the accounts and the audit trail the Go code left,
// approved, rejected and with the email taken.
func TestShippedOnboardingKeepsTheRecordOfTheGoCode(t *testing.T) {
	type outcome struct {
		run     workflows.State
		err     error
		user    string
		account map[string]string
	}
	record := func(defined bool, decide workflows.Action, taken bool) outcome {
		h := newHarnessOn(t, defined)
		if taken {
			first := h.sibling("onboarding-first")
			first.at(time.Minute, func() {
				first.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "manager"})
			})
			first.startOnboarding(onboarding())
			if _, err := first.result(); err != nil {
				t.Fatal(err)
			}
		}
		h2 := h.sibling("onboarding-second")
		h2.at(time.Minute, func() {
			h2.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: decide, Actor: "manager", Comment: "welcome"})
		})
		in := onboarding()
		in.Params.Email = " New.Hire@Example.com "
		in.Params.Name = " New Hire "
		h2.startOnboarding(in)
		st, err := h2.result()
		o := outcome{run: st, err: err, account: h.backends.Account("new.hire@example.com")}
		if !taken {
			o.user = h.userStatus("new.hire@example.com")
		}
		return o
	}
	for _, c := range []struct {
		label  string
		decide workflows.Action
		taken  bool
	}{{"approved", workflows.ActionApprove, false}, {"rejected", workflows.ActionReject, false}, {"email taken", workflows.ActionApprove, true}} {
		g, d := record(false, c.decide, c.taken), record(true, c.decide, c.taken)
		sameRecord(t, c.label, g.run, d.run, g.err, d.err, "user_id")
		if g.user != d.user || fmt.Sprint(g.account) != fmt.Sprint(d.account) {
			t.Errorf("%s: user %s account %v (Go), user %s account %v (definition)", c.label, g.user, g.account, d.user, d.account)
		}
		if len(g.run.Events("compensated")) != len(d.run.Events("compensated")) {
			t.Errorf("%s: %d compensations (Go), %d (definition)", c.label, len(g.run.Events("compensated")), len(d.run.Events("compensated")))
		}
	}
}

// TestShippedAuditKeepsTheRecordOfTheGoCode: an audit on the shipped definition leaves the
// record and publishes the report (the same bytes but its time) and the audits row the Go
// code did, with evidence and without.
func TestShippedAuditKeepsTheRecordOfTheGoCode(t *testing.T) {
	record := func(defined bool, p workflows.AuditParams) (workflows.State, error, workflows.AuditReport, []byte) {
		h := newHarnessOn(t, defined)
		h.at(time.Minute, func() {
			h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: workflows.StepAuditorSignoff, Actor: "auditor", Comment: "checked"})
		})
		h.startAudit(auditInput{Request: alice, Params: p})
		st, err := h.result()
		var report workflows.AuditReport
		raw, rerr := os.ReadFile(filepath.Join(h.files.Dir(), st.Outputs["report_path"]))
		if rerr == nil {
			rerr = json.Unmarshal(raw, &report)
		}
		if rerr != nil {
			t.Fatalf("report of %+v: %v", st.Outputs, rerr)
		}
		report.GeneratedAt = time.Time{}
		same, _ := json.MarshalIndent(report, "", "  ")
		return st, err, report, same
	}
	for _, c := range []struct {
		label string
		p     workflows.AuditParams
	}{
		{"with evidence", workflows.AuditParams{Tables: []string{"users", "orders"}, Since: "2020-01-01", Evidence: []string{"evidence/users.csv", "evidence/orders.json"}}},
		{"without evidence", workflows.AuditParams{Tables: []string{"products"}}},
	} {
		gRun, gErr, gReport, gRaw := record(false, c.p)
		dRun, dErr, dReport, dRaw := record(true, c.p)
		sameRecord(t, c.label, gRun, dRun, gErr, dErr, "findings", "report_path", "audit_id")
		if string(gRaw) != string(dRaw) {
			t.Errorf("%s: report\n Go         %s\n definition %s", c.label, gRaw, dRaw)
		}
		if len(gReport.Findings) == 0 && len(c.p.Evidence) > 0 || gReport.SignedOffBy != "auditor" || dReport.Comment != "checked" {
			t.Errorf("%s: report %+v", c.label, dReport)
		}
	}
}

func TestDeploymentToDevSkipsApproval(t *testing.T) {
	onGoAndDefinition(t, testDeploymentToDevSkipsApproval)
}

func testDeploymentToDevSkipsApproval(t *testing.T, defined bool) {
	h := newHarness(t)
	h.defined = defined
	in := deployment("dev", "0.9.0")
	in.Params.Manifest = ""
	h.startDeployment(in)
	st, err := h.result()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{workflows.StepDeployApproval, workflows.StepLoadManifest} {
		if s := stepOf(st, name); s.Status != workflows.StepSkipped || s.Output == "" {
			t.Errorf("step %s = %+v, want skipped with a reason", name, s)
		}
	}
	if st.Status != workflows.StatusCompleted {
		t.Errorf("status = %s", st.Status)
	}
}

func TestDeploymentRejectedDeploysNothing(t *testing.T) {
	onGoAndDefinition(t, testDeploymentRejectedDeploysNothing)
}

func testDeploymentRejectedDeploysNothing(t *testing.T, defined bool) {
	h := newHarness(t)
	h.defined = defined
	h.at(time.Minute, func() {
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionReject, Step: "approval", Actor: "bob", Comment: "freeze week"})
	})
	h.startDeployment(deployment("staging", "2.0.0"))
	st, err := h.result()
	if errorType(err) != workflows.ErrTypeRejected || !strings.Contains(err.Error(), "rejected at step approval by bob: freeze week") {
		t.Fatalf("a rejection ends the run with a Rejected failure naming step, actor and comment, got %v", err)
	}
	if st.Status != workflows.StatusRejected {
		t.Errorf("status = %s", st.Status)
	}
	if got := h.backends.Deployed("orders", "staging"); got != "" {
		t.Errorf("deployed %q after a rejection", got)
	}
	if s := stepOf(st, workflows.StepDeployApproval); s.Status != workflows.StepRejected || s.Actor != "bob" {
		t.Errorf("approval step = %+v", s)
	}
}

func TestDeploymentFailedVerificationRollsBack(t *testing.T) {
	onGoAndDefinition(t, testDeploymentFailedVerificationRollsBack)
}

func testDeploymentFailedVerificationRollsBack(t *testing.T, defined bool) {
	h := newHarness(t)
	h.defined = defined
	// 1.0.0 runs in dev before the broken version arrives.
	h.startDeployment(deploymentInput{Request: alice,
		Params: workflows.DeploymentParams{Service: "orders", Version: "1.0.0", Environment: "dev"}})
	if _, err := h.result(); err != nil {
		t.Fatal(err)
	}
	// Another workflow id, so its deploy carries another idempotency key.
	h2 := h.sibling("deployment-broken")
	h2.startDeployment(deploymentInput{Request: alice,
		Params: workflows.DeploymentParams{Service: "orders", Version: "1.1.0-unhealthy", Environment: "dev"}})
	st, err := h2.result()
	if errorType(err) != workflows.ErrTypeStepFailed {
		t.Fatalf("error = %v, want a StepFailed error; record %+v", err, st)
	}
	if st.Status != workflows.StatusFailed || !strings.Contains(st.Error, "verify") {
		t.Errorf("status %s, error %q", st.Status, st.Error)
	}
	if got := h.backends.Deployed("orders", "dev"); got != "1.0.0" {
		t.Errorf("after rollback %q runs, want 1.0.0", got)
	}
	if s := stepOf(st, workflows.StepDeploy); s.Status != workflows.StepCompensated {
		t.Errorf("deploy step = %s, want compensated", s.Status)
	}
	if len(st.Events("compensated")) != 1 {
		t.Errorf("history = %+v", st.History)
	}
}

func onboarding() onboardingInput {
	return onboardingInput{Request: workflows.Request{RequestedBy: "alice", ApprovalTimeout: 2 * time.Hour},
		Params: workflows.OnboardingParams{Email: "new.hire@example.com", Name: "New Hire", Role: "editor", Team: "payments"}}
}

func (h *harness) userStatus(email string) string {
	h.t.Helper()
	res, err := h.db.ExecuteQuery(context.Background(), activities.QueryInput{Query: "SELECT status FROM users WHERE email = '" + email + "'"})
	if err != nil || len(res.Rows) != 1 {
		h.t.Fatalf("user %s: %v %+v", email, err, res.Rows)
	}
	return res.Rows[0]["status"].(string)
}

func TestOnboardingApprovedGrantsAccessAndWelcomes(t *testing.T) {
	onGoAndDefinition(t, testOnboardingApprovedGrantsAccessAndWelcomes)
}

func testOnboardingApprovedGrantsAccessAndWelcomes(t *testing.T, defined bool) {
	h := newHarnessOn(t, defined)
	h.at(30*time.Second, func() {
		// Until the manager approves, the user record exists but is not active.
		if got := h.userStatus("new.hire@example.com"); got != "pending" {
			t.Errorf("user record %s while waiting for approval, want pending", got)
		}
	})
	h.at(time.Minute, func() {
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "manager"})
	})
	h.startOnboarding(onboarding())
	st, err := h.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s, err %v", st.Status, err)
	}
	acc := h.backends.Account("new.hire@example.com")
	if acc["status"] != "active" || acc["access"] != "editor" {
		t.Errorf("account = %v", acc)
	}
	if h.userStatus("new.hire@example.com") != "active" {
		t.Error("user record not active")
	}
	ledger := h.backends.Ledger()
	for _, k := range [][2]string{{"provision", "provision_accounts"}, {"grant", "grant_access/grant"}, {"welcome", "send_welcome"}} {
		if key := h.ledgerKey(st.WorkflowID, k[0], k[1]); ledger[key].Applied != 1 {
			t.Errorf("ledger %s = %+v", key, ledger[key])
		}
	}
}

func TestApprovalTimeoutCompensates(t *testing.T) {
	onGoAndDefinition(t, testApprovalTimeoutCompensates)
}

func testApprovalTimeoutCompensates(t *testing.T, defined bool) {
	h := newHarnessOn(t, defined)
	h.startOnboarding(onboarding())
	st, err := h.result()
	if errorType(err) != workflows.ErrTypeApprovalTimeout {
		t.Fatalf("error = %v, want ApprovalTimedOut", err)
	}
	if st.Status != workflows.StatusTimedOut {
		t.Errorf("status = %s", st.Status)
	}
	if got := h.userStatus("new.hire@example.com"); got != "inactive" {
		t.Errorf("user record %s after timeout, want inactive", got)
	}
	if got := h.backends.Account("new.hire@example.com")["status"]; got != "deprovisioned" {
		t.Errorf("account %s after timeout, want deprovisioned", got)
	}
	if n := len(st.Events("compensated")); n != 2 {
		t.Errorf("%d compensations, want 2", n)
	}
}

func TestSelfApprovalRefusedUnlessAllowed(t *testing.T) {
	onGoAndDefinition(t, testSelfApprovalRefusedUnlessAllowed)
}

func testSelfApprovalRefusedUnlessAllowed(t *testing.T, defined bool) {
	h := newHarnessOn(t, defined)
	var self *outcome
	h.at(time.Minute, func() {
		self = h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "alice"})
	})
	h.at(2*time.Minute, func() {
		if h.status().Status != workflows.StatusWaitingApproval {
			t.Error("a refused approval changed the status")
		}
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "bob"})
	})
	h.startOnboarding(onboarding())
	st, err := h.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	self.refused(t, "separation of duties")
	if s := stepOf(st, workflows.StepManagerApproval); s.Actor != "bob" {
		t.Errorf("approved by %q, want bob", s.Actor)
	}

	h = newHarnessOn(t, defined)
	in := onboarding()
	in.AllowSelfApproval = true
	var own *outcome
	h.at(time.Minute, func() {
		own = h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "alice"})
	})
	h.startOnboarding(in)
	if st, err := h.result(); err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("with self-approval allowed: status %s err %v", st.Status, err)
	}
	own.accepted(t)
}

func TestAdvanceRefusals(t *testing.T) { onGoAndDefinition(t, testAdvanceRefusals) }

func testAdvanceRefusals(t *testing.T, defined bool) {
	h := newHarness(t)
	h.defined = defined
	cases := []struct {
		req  workflows.AdvanceRequest
		want string
		got  *outcome
	}{
		{req: workflows.AdvanceRequest{Action: "ship", Actor: "bob"}, want: "unknown"},
		{req: workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove}, want: "actor is empty"},
		{req: workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "deploy", Actor: "bob"}, want: "waits at step approval, not deploy"},
		{req: workflows.AdvanceRequest{Action: workflows.ActionContinue, Actor: "bob"}, want: "not continue"},
	}
	var early *outcome
	h.at(0, func() {
		early = h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "bob"})
	})
	h.at(time.Minute, func() {
		for i := range cases {
			cases[i].got = h.advance(cases[i].req)
		}
	})
	h.at(2*time.Minute, func() {
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionReject, Step: "approval", Actor: "bob"})
	})
	h.startDeployment(deployment("production", "3.0.0"))
	st, _ := h.result()
	if st.Status != workflows.StatusRejected {
		t.Errorf("status = %s", st.Status)
	}
	early.refused(t, "not waiting")
	for _, c := range cases {
		c.got.refused(t, c.want)
	}
	if n := len(st.History); n == 0 || len(st.Events("signal_ignored")) != 0 {
		t.Errorf("refused updates reached the history: %+v", st.History)
	}
}

func TestSignalsActOnlyOnTheWaitingGate(t *testing.T) {
	onGoAndDefinition(t, testSignalsActOnlyOnTheWaitingGate)
}

func testSignalsActOnlyOnTheWaitingGate(t *testing.T, defined bool) {
	h := newHarness(t)
	h.defined = defined
	h.at(time.Minute, func() {
		h.env.SignalWorkflow(workflows.SignalApprove, workflows.Decision{Step: "deploy", Actor: "bob"})
	})
	h.at(2*time.Minute, func() {
		if s := h.status(); s.Status != workflows.StatusWaitingApproval {
			t.Errorf("a stale signal moved the workflow to %s", s.Status)
		}
		h.env.SignalWorkflow(workflows.SignalApprove, workflows.Decision{Step: "approval", Actor: "alice", Inputs: h.changeTicket()})
	})
	h.at(3*time.Minute, func() {
		h.env.SignalWorkflow(workflows.SignalApprove, workflows.Decision{Step: "approval", Actor: "carol", Comment: "ok", Inputs: h.changeTicket()})
		h.env.SignalWorkflow(workflows.SignalApprove, workflows.Decision{Step: "approval", Actor: "dave", Inputs: h.changeTicket()}) // duplicate
	})
	h.startDeployment(deployment("production", "1.5.0"))
	st, err := h.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	if s := stepOf(st, "approval"); s.Actor != "carol" {
		t.Errorf("approved by %q, want carol", s.Actor)
	}
	ignored := st.Events("signal_ignored")
	if len(ignored) != 3 {
		t.Fatalf("ignored signals = %+v, want stale, self-approval and duplicate", ignored)
	}
	for i, want := range []string{"not deploy", "separation of duties", "not waiting"} {
		if !strings.Contains(ignored[i].Detail, want) {
			t.Errorf("ignored[%d] = %q, want %q", i, ignored[i].Detail, want)
		}
	}
}

func TestFailedStepWaitsForContinue(t *testing.T) {
	onGoAndDefinition(t, testFailedStepWaitsForContinue)
}

func testFailedStepWaitsForContinue(t *testing.T, defined bool) {
	h := newHarnessOn(t, defined)
	h.backends.FailureRate = 1 // every call to the demo services fails with 503
	var approve, cont *outcome
	h.at(30*time.Minute, func() {
		s := h.status()
		if s.Status != workflows.StatusWaitingInput || s.Waiting == nil || s.Waiting.Step != workflows.StepProvisionAccounts {
			t.Errorf("status = %+v", s)
		}
		approve = h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "ops"})
	})
	h.at(31*time.Minute, func() {
		h.backends.FailureRate = 0 // the operator fixed the cause
		cont = h.advance(workflows.AdvanceRequest{Action: workflows.ActionContinue, Step: workflows.StepProvisionAccounts, Actor: "ops", Comment: "users service is back"})
	})
	h.at(32*time.Minute, func() {
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Actor: "manager"})
	})
	h.startOnboarding(onboarding())
	st, err := h.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	approve.refused(t, "waits for continue")
	// The answer comes once the step runs again.
	if v := cont.accepted(t); v.Status != workflows.StatusInProgress || v.CurrentStep != workflows.StepProvisionAccounts {
		t.Errorf("after continue: %s at %s", v.Status, v.CurrentStep)
	}
	if s := stepOf(st, workflows.StepProvisionAccounts); s.Attempts != 2 {
		t.Errorf("provision attempts = %d, want 2", s.Attempts)
	}
	if ev := st.Events("continued"); len(ev) != 1 || ev[0].Actor != "ops" {
		t.Errorf("continued events = %+v", ev)
	}
}

func TestRejectAfterFailureFailsAndCompensates(t *testing.T) {
	onGoAndDefinition(t, testRejectAfterFailureFailsAndCompensates)
}

func testRejectAfterFailureFailsAndCompensates(t *testing.T, defined bool) {
	h := newHarnessOn(t, defined)
	h.backends.FailureRate = 1
	h.at(30*time.Minute, func() {
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionReject, Actor: "ops", Comment: "give up"})
	})
	h.startOnboarding(onboarding())
	st, err := h.result()
	if errorType(err) != workflows.ErrTypeStepFailed || st.Status != workflows.StatusFailed {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	if got := h.userStatus("new.hire@example.com"); got != "inactive" {
		t.Errorf("user %s, want inactive", got)
	}
}

func TestCancelWhileWaitingCompensates(t *testing.T) {
	onGoAndDefinition(t, testCancelWhileWaitingCompensates)
}

func testCancelWhileWaitingCompensates(t *testing.T, defined bool) {
	h := newHarnessOn(t, defined)
	h.at(time.Minute, func() { h.env.CancelWorkflow() })
	h.startOnboarding(onboarding())
	st, err := h.result()
	if !temporal.IsCanceledError(err) {
		t.Fatalf("error = %v, want cancelled", err)
	}
	if st.Status != workflows.StatusCancelled {
		t.Errorf("status = %s", st.Status)
	}
	if got := h.userStatus("new.hire@example.com"); got != "inactive" {
		t.Errorf("user %s after cancel, want inactive", got)
	}
}

func TestAuditPublishesReportWithFindings(t *testing.T) {
	onGoAndDefinition(t, testAuditPublishesReportWithFindings)
}

func testAuditPublishesReportWithFindings(t *testing.T, defined bool) {
	h := newHarnessOn(t, defined)
	h.at(time.Minute, func() {
		s := h.details()
		if s.Outputs["findings"] == "" || s.Status != workflows.StatusWaitingApproval {
			t.Errorf("before sign-off: %s %v", s.Status, s.Outputs)
		}
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: workflows.StepAuditorSignoff, Actor: "auditor"})
	})
	h.startAudit(auditInput{Request: alice, Params: workflows.AuditParams{
		Tables: []string{"users", "orders"}, Evidence: []string{"evidence/users.csv", "evidence/orders.json"}}})
	st, err := h.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	raw, err := os.ReadFile(filepath.Join(h.files.Dir(), st.Outputs["report_path"]))
	if err != nil {
		t.Fatal(err)
	}
	var report workflows.AuditReport
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range report.Findings {
		kinds[f.Kind]++
	}
	// The sample evidence names one unknown user and one unknown order, lists Ada twice,
	// and covers 4 of 20 users and 2 of 40 orders.
	if kinds[workflows.FindingUnknownRecord] != 2 || kinds[workflows.FindingDuplicateEvidence] != 1 || kinds[workflows.FindingMissingEvidence] != 16+38 {
		t.Errorf("findings by kind = %v", kinds)
	}
	if report.SignedOffBy != "auditor" || report.RecordsCount != 60 {
		t.Errorf("report = %+v", report)
	}
}

// TestDecisionAnswerSaysWhatItDid: the answer to an accepted reject says the run is
// rejected and which steps it is undoing, never the gate it just left; the answer to an
// approve names the step the run went on to.
func TestDecisionAnswerSaysWhatItDid(t *testing.T) {
	onGoAndDefinition(t, testDecisionAnswerSaysWhatItDid)
}

func testDecisionAnswerSaysWhatItDid(t *testing.T, defined bool) {
	t.Run("reject", func(t *testing.T) {
		h := newHarnessOn(t, defined)
		var o *outcome
		h.at(time.Minute, func() {
			o = h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionReject, Step: workflows.StepManagerApproval, Actor: "manager"})
		})
		h.startOnboarding(onboarding())
		st, _ := h.result()
		v := o.accepted(t)
		if v.Status != workflows.StatusRejected || v.Waiting != nil {
			t.Fatalf("answer to reject = %s waiting %+v, want rejected and no gate", v.Status, v.Waiting)
		}
		if want := []string{workflows.StepProvisionAccounts, workflows.StepCreateUserRecord}; !slices.Equal(v.Undoing, want) {
			t.Errorf("answer undoing = %v, want %v", v.Undoing, want)
		}
		if st.Status != workflows.StatusRejected || len(st.Undoing) != 0 || st.ClosedAt == nil {
			t.Errorf("final record: status %s undoing %v closed_at %v", st.Status, st.Undoing, st.ClosedAt)
		}
		for _, e := range st.Events("compensated") {
			if e.Detail != "undone because the run was rejected" {
				t.Errorf("compensation detail %q", e.Detail)
			}
		}
	})
	t.Run("approve", func(t *testing.T) {
		h := newHarnessOn(t, defined)
		var o *outcome
		h.at(time.Minute, func() {
			o = h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: workflows.StepManagerApproval, Actor: "manager"})
		})
		h.startOnboarding(onboarding())
		h.result()
		v := o.accepted(t)
		if v.Status != workflows.StatusInProgress || v.CurrentStep != workflows.StepGrantAccess || v.Waiting != nil {
			t.Errorf("answer to approve = %s at %s waiting %+v, want in_progress at grant_access", v.Status, v.CurrentStep, v.Waiting)
		}
	})
}

// TestEverySignalLeavesATrace: a signal whose input is not a decision, or whose name is in
// another case (Approve), is recorded as ignored with the reason; the run still waits and
// a proper approval afterwards completes it.
func TestEverySignalLeavesATrace(t *testing.T) { onGoAndDefinition(t, testEverySignalLeavesATrace) }

func testEverySignalLeavesATrace(t *testing.T, defined bool) {
	h := newHarness(t)
	h.defined = defined
	h.at(time.Minute, func() {
		h.env.SignalWorkflow(workflows.SignalApprove, "yes")
		h.env.SignalWorkflow("Approve", workflows.Decision{Step: "approval", Actor: "bob"})
	})
	h.at(2*time.Minute, func() {
		h.env.SignalWorkflow("Approve", workflows.Decision{Step: "approval", Actor: "bob"})
		if s := h.status(); s.Status != workflows.StatusWaitingApproval {
			t.Errorf("after ignored signals the run is %s", s.Status)
		}
		h.env.SignalWorkflow(workflows.SignalApprove, workflows.Decision{Step: "approval", Actor: "carol", Inputs: h.changeTicket()})
	})
	h.startDeployment(deployment("production", "1.6.0"))
	st, err := h.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	ignored := st.Events("signal_ignored")
	if len(ignored) != 3 {
		t.Fatalf("ignored signals = %+v, want the undecodable one and both Approve", ignored)
	}
	for i, want := range []string{`approve signal ignored: its input "yes" is not a decision`, `signal "Approve" ignored`, `signal "Approve" ignored`} {
		if !strings.Contains(ignored[i].Detail, want) {
			t.Errorf("ignored[%d] = %q, want %q", i, ignored[i].Detail, want)
		}
	}
}

// tellOneChannel makes h's notification activity answer as one channel that took every
// notice, and returns the notices it was given, in order.
func (h *harness) tellOneChannel() *[]activities.Notice {
	var notices []activities.Notice
	h.env.RegisterActivityWithOptions(func(_ context.Context, n activities.Notice) (activities.NoticeResult, error) {
		notices = append(notices, n)
		return activities.NoticeResult{Channels: 1, Delivered: []string{"test"}}, nil
	}, activity.RegisterOptions{Name: "Notify", DisableAlreadyRegisteredCheck: true})
	return &notices
}

// tellNoChannel makes h's notification activity answer as Flowgate with no channel
// configured.
func (h *harness) tellNoChannel() {
	h.env.RegisterActivityWithOptions(func(context.Context, activities.Notice) (activities.NoticeResult, error) {
		return activities.NoticeResult{}, nil
	}, activity.RegisterOptions{Name: "Notify", DisableAlreadyRegisteredCheck: true})
}
