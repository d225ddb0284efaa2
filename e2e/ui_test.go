package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// chromium finds Debian's Chromium (.ci/run installs it) or another Chrome.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const missing = "no Chromium found on PATH (looked for chromium, chromium-browser, google-chrome, google-chrome-stable): apt-get install chromium"
	if os.Getenv("FLOWGATE_REQUIRE_CHROMIUM") != "" {
		t.Fatalf("the browser test must run here (FLOWGATE_REQUIRE_CHROMIUM is set) but %s", missing)
	}
	t.Skip("browser test skipped: " + missing + " (.ci/run installs it)")
	return ""
}

// artifacts is where the browser test keeps its screenshots: $FLOWGATE_ARTIFACTS, or
// artifacts/ui in the repository (ignored by git).
func artifacts(t *testing.T) string {
	dir := os.Getenv("FLOWGATE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts", "ui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTemporalUIShowsAndFollowsARun starts a deployment through MCP, finds it in the
// Temporal web UI's list by Flowgate's search attributes, opens it and sees it waiting at
// the approval gate, approves it through MCP, and sees it completed after a reload.
func TestTemporalUIShowsAndFollowsARun(t *testing.T) {
	// Its own browser and runs: it runs beside the process tests, after the serial
	// tests that share the stack with it.
	t.Parallel()
	chrome := chromium(t)
	env := testenv.Shared(t)
	ui := env.Server.UIURL()
	cs := connectHTTP(t, env.MCPURL)
	var s mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "6.2.0", "environment": "production"}}).decode(t, &s)
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)
	if s.UIURL != ui+"/namespaces/default/workflows/"+s.WorkflowID {
		t.Errorf("ui_url = %q", s.UIURL)
	}

	ctx, shot := newBrowser(t, chrome, 1400, 1000)
	contains := func(text string) string { return `//*[contains(text(), "` + text + `")]` }
	// press clicks the element the CSS selector names once it is there.
	press := func(sel string) chromedp.Action {
		var pressed bool
		return chromedp.Tasks{chromedp.WaitReady(sel, chromedp.ByQuery),
			chromedp.Evaluate(`(() => { document.querySelector('`+sel+`').click(); return true })()`, &pressed)}
	}
	// badge matches a status badge whatever its letter case.
	badge := func(status string) string {
		return `//*[contains(translate(text(), "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"), "` + status + `")]`
	}

	list := ui + "/namespaces/default/workflows?query=" + url.QueryEscape(`FlowgateType = "deployment" AND FlowgateStatus = "waiting_approval"`)
	if err := chromedp.Run(ctx,
		chromedp.Navigate(list),
		chromedp.WaitVisible(contains(s.WorkflowID), chromedp.BySearch),
		shot("1-list-waiting-approval.png"),
	); err != nil {
		t.Fatalf("the UI's filtered list does not show %s: %v", s.WorkflowID, err)
	}
	// The list's columns are the browser's choice (the UI server has no setting for
	// them): the clicks docs/approvals.md gives add Flowgate's, the row shows them, and
	// the browser keeps them when the list is opened again.
	if err := chromedp.Run(ctx,
		chromedp.Click(`[data-testid="workflows-summary-table-configuration-button"]`, chromedp.ByQuery),
		chromedp.WaitVisible(contains("Custom Search Attributes"), chromedp.BySearch),
		// The drawer slides in: its buttons are pressed as elements, not at coordinates
		// that move while it does.
		press(`[aria-label="Add FlowgateType column"]`),
		chromedp.WaitReady(`[aria-label="Move FlowgateType column up"]`, chromedp.ByQuery),
		press(`[aria-label="Add FlowgateStatus column"]`),
		chromedp.WaitReady(`[aria-label="Move FlowgateStatus column up"]`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitVisible(`//th[contains(., "FlowgateStatus")]`, chromedp.BySearch),
		chromedp.Navigate(list),
		chromedp.WaitVisible(`//th[contains(., "FlowgateStatus")]`, chromedp.BySearch),
		chromedp.WaitVisible(`//tr[contains(., "`+s.WorkflowID+`")]//*[text()[contains(., "waiting_approval")]]`, chromedp.BySearch),
		// The list is wider than the window: the screenshot shows the new columns.
		chromedp.ScrollIntoView(`//th[contains(., "FlowgateStatus")]`, chromedp.BySearch),
		shot("1b-list-with-flowgate-columns.png"),
	); err != nil {
		t.Fatalf("the list does not take Flowgate's columns as docs/approvals.md says: %v", err)
	}
	page := ui + "/namespaces/default/workflows/" + s.WorkflowID
	if err := chromedp.Run(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(badge("running"), chromedp.BySearch),
		// The timeline names the gate's deadline timer by its summary, and the checks before
		// it: reads, run as local activities, under their activity's type (the UI does not
		// show a local activity's summary, which its marker event carries).
		chromedp.WaitVisible(contains("deadline of approval gate approval"), chromedp.BySearch),
		chromedp.WaitReady(`//*[text()[contains(., "CallService")]]`, chromedp.BySearch),
		shot("2-run-waiting-timeline.png"),
		// User Metadata holds the summary and the current details: what the run waits for.
		chromedp.Click(contains("User Metadata"), chromedp.BySearch),
		chromedp.WaitVisible(contains("Deploy orders 6.2.0 to production"), chromedp.BySearch),
		chromedp.WaitVisible(contains("Waiting for approval"), chromedp.BySearch),
		shot("3-run-waiting-details.png"),
	); err != nil {
		t.Fatalf("the run's page does not show it waiting at the gate: %v", err)
	}
	if r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval", "inputs": changeTicket}); r.IsError {
		t.Fatal(r.Text)
	}
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusCompleted)
	if err := chromedp.Run(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(badge("completed"), chromedp.BySearch),
		shot("4-run-completed.png"),
	); err != nil {
		t.Fatalf("after approval the run's page does not show it completed: %v", err)
	}
}

// TestApproveWithTheUIsSignalDialog sends the approve signal exactly as the web UI's
// "Send a Signal" dialog does — a json/plain payload typed by a person — and the run
// completes with that person recorded as approver.
func TestApproveWithTheUIsSignalDialog(t *testing.T) {
	env := testenv.Shared(t)
	id := startKind(t, env.Client, workflows.KindOnboarding, `{"email":"ui.signal@example.com","name":"UI Signal","role":"viewer"}`, workflows.Request{RequestedBy: "alice"})
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
	_, err := env.Client.WorkflowService().SignalWorkflowExecution(context.Background(), &workflowservice.SignalWorkflowExecutionRequest{
		Namespace:         "default",
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: id},
		SignalName:        workflows.SignalApprove,
		Input: &commonpb.Payloads{Payloads: []*commonpb.Payload{{
			Metadata: map[string][]byte{"encoding": []byte("json/plain")},
			Data:     []byte(`{"step": "manager_approval", "actor": "ui-user", "comment": "approved in the web UI"}`),
		}}},
		Identity: "temporal-ui",
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := result(t, env.Client, id)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	for _, s := range st.Steps {
		if s.Name == workflows.StepManagerApproval && (s.Actor != "ui-user" || s.Comment != "approved in the web UI") {
			t.Errorf("approval step = %+v", s)
		}
	}
}

// newBrowser starts a headless Chromium of the window size for one test and returns its
// context (90 s) and an action that saves a full-page screenshot under artifacts(t).
func newBrowser(t *testing.T, chrome string, width, height int) (context.Context, func(name string) chromedp.Action) {
	t.Helper()
	// A folder of its own holds the browser's profile and its TMPDIR, where Chromium makes
	// an org.chromium.Chromium.* folder (its SingletonSocket) that it leaves when it is
	// killed. It is removed once no process of the browser is left: Chromium's helpers
	// outlive the main process for a moment and write to the profile (a folder removed
	// before they end came back with a Default/ in it), which is also why t.TempDir, whose
	// cleanup fails on such a race, is not used.
	root, err := os.MkdirTemp("", "flowgate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	profile, tmp := filepath.Join(root, "profile"), filepath.Join(root, "tmp")
	for _, d := range []string{profile, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var browser *exec.Cmd
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.Env("TMPDIR="+tmp),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { ownGroup(cmd); browser = cmd }),
	)...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc() // waits for the main process
		endGroup(t, browser)
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("remove the browser's folder: %v", err)
		}
	})
	dir := artifacts(t)
	return ctx, func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name), buf, 0o644)
		})
	}
}
