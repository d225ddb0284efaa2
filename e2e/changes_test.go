package e2e

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// writeRefundWithChanges writes into dir the refund example whose small-refund gate lets
// finance send a refund back to its requester, to revise its amount or reason, at most
// twice (workflows/changes_test.go's refundWithChanges).
func writeRefundWithChanges(t *testing.T, dir string) {
	t.Helper()
	gate := `  - name: approval
    when: params.amount_cents <= 50000
    approval:
      scope: group:finance
      deadline: 72h
      changes: {revisable: [amount_cents, reason], max_rounds: 3}`
	// The shipped example lets finance send a refund back three times; this one twice.
	writeRefundExample(t, dir, gate, strings.Replace(gate, "max_rounds: 3", "max_rounds: 2", 1))
}

// writeRefundExample writes into dir the shipped refund example, edited by the
// replacements (old, new, …), each of which must be there.
func writeRefundExample(t *testing.T, dir string, replacements ...string) {
	t.Helper()
	raw, err := os.ReadFile("../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	for i := 0; i+1 < len(replacements); i += 2 {
		if !strings.Contains(src, replacements[i]) {
			t.Fatalf("the refund example has no %q to replace", replacements[i])
		}
		src = strings.Replace(src, replacements[i], replacements[i+1], 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "refund_approval.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestARefundSentBackIsRevisedAndApproved: rita asks for a refund of 2500; fin-bob
// (group:finance) sends it back asking for 1500. Over MCP, with the official Go
// SDK client: rita cannot request changes on her own run and fin-bob cannot revise; while
// the changes are asked, rita's task reports input_required; rita revises amount_cents to
// 1500, fin-bob approves, and the orders backend refunds 1500, once. The record keeps both
// rounds (changes_requested by fin-bob, revised by rita with amount_cents: 2500 → 1500).
//
// The second run is sent back from the approval page (its third button, whose comment is
// required); its link then shows what was asked and decides nothing. The whole stack is
// killed with SIGKILL while that run waits for rita; after the restart her revise is
// accepted, the used link stays used, fin-bob approves and the run completes.
func TestARefundSentBackIsRevisedAndApproved(t *testing.T) {
	// Its own flowgate dev process, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	writeRefundWithChanges(t, procs)
	// Each holds the other's scopes too, so what refuses rita's request for changes and
	// fin-bob's revise is the gate's rule on who they are, not a missing scope.
	finance := []string{mcpserver.ScopeRead, mcpserver.ScopeApprove, "group:finance", mcpserver.ScopeWrite}
	keys := writeKeys(t, dir, map[string][]string{"rita": finance, "fin-bob": finance})
	args, mcpAddr, demoPort := devOnFreePorts(t, filepath.Join(dir, "data"))
	args = append(args, "--processes", procs, "--api-keys", keys)
	dev := startDev(t, args...)
	dev.waitReady(t, mcpAddr)
	rita, bob := connectAs(t, dev.mcpURL, "rita-key"), connectAs(t, dev.mcpURL, "fin-bob-key")
	origin := strings.TrimSuffix(dev.mcpURL, mcpserver.EndpointPath)
	params := func(order string) map[string]any {
		return map[string]any{"order_id": order, "amount_cents": 2500, "reason": "arrived damaged"}
	}
	waitsForApproval := func(t *testing.T, cs *mcp.ClientSession, id string) {
		t.Helper()
		v := waitStatus(t, cs, id, workflows.StatusWaitingApproval)
		if v.Waiting == nil || !slices.Contains(v.Waiting.Actions, workflows.ActionRequestChanges) || fmt.Sprint(v.Waiting.Revisable) != "[amount_cents reason]" {
			t.Fatalf("%s waits at %+v, want a gate that offers request_changes", id, v.Waiting)
		}
	}
	advance := func(t *testing.T, cs *mcp.ClientSession, id, action, comment string, parameters map[string]any) toolResult {
		t.Helper()
		args := map[string]any{"workflow_id": id, "action": action, "step": "approval", "comment": comment}
		if parameters != nil {
			args["parameters"] = parameters
		}
		return callTool(t, cs, "advance_workflow", args)
	}
	// checkRecord checks the run's record keeps the round: fin-bob's request, rita's revision.
	checkRecord := func(t *testing.T, id, asked string) {
		t.Helper()
		res, err := rita.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "workflow://" + id + "/details"})
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.State
		if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
			t.Fatal(err)
		}
		var sent, revised bool
		for _, e := range st.History {
			switch {
			case e.Event == "changes_requested" && e.Actor == "fin-bob" && strings.Contains(e.Detail, asked):
				sent = true
			case e.Event == "revised" && e.Actor == "rita" && strings.Contains(e.Detail, "amount_cents: 2500 → 1500"):
				revised = true
			}
		}
		if !sent || !revised {
			t.Errorf("%s's record has no changes_requested by fin-bob (%v) or revised by rita with amount_cents: 2500 → 1500 (%v):\n%+v", id, sent, revised, st.History)
		}
		var now struct {
			Amount int64 `json:"amount_cents"`
		}
		if err := json.Unmarshal(st.Parameters, &now); err != nil || now.Amount != 1500 {
			t.Errorf("%s's parameters = %s, want the revised amount", id, st.Parameters)
		}
	}
	// refunded is what the orders backend refunded on order.
	refunded := func(t *testing.T, order string) []int64 {
		t.Helper()
		var all []struct {
			OrderID string `json:"order_id"`
			Amount  int64  `json:"amount_cents"`
		}
		getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/orders/refunds", demoPort), &all)
		var out []int64
		for _, r := range all {
			if r.OrderID == order {
				out = append(out, r.Amount)
			}
		}
		return out
	}

	t.Run("mcp", func(t *testing.T) {
		// rita starts the refund as an MCP task (mcp-go's client has the task methods).
		tasks := connectTasks(t, dev.mcpURL, "rita-key")
		out, rpcErr := tasks.raw(t, "tools/call", map[string]any{"name": "start_workflow", "task": map[string]any{"ttl": 600000},
			"arguments": map[string]any{"workflow_type": "refund_approval", "parameters": params("ORD-01003")}})
		var created struct {
			Task struct {
				TaskID string `json:"taskId"`
			} `json:"task"`
		}
		if rpcErr != nil || json.Unmarshal(out, &created) != nil || created.Task.TaskID == "" {
			t.Fatalf("task-augmented start_workflow: %s %+v", out, rpcErr)
		}
		id := created.Task.TaskID
		waitsForApproval(t, rita, id)

		if r := advance(t, rita, id, "request_changes", "refund 1500", nil); !r.IsError || !strings.Contains(r.Text, "rita requested this workflow and cannot request_changes it (separation of duties)") {
			t.Errorf("rita's request_changes on her own run: %+v", r)
		}
		if r := advance(t, bob, id, "request_changes", "", nil); !r.IsError || !strings.Contains(r.Text, "needs a comment saying what to change") {
			t.Errorf("a request for changes without a comment: %+v", r)
		}
		if r := advance(t, bob, id, "request_changes", "refund 1500", nil); r.IsError {
			t.Fatalf("fin-bob's request_changes: %s", r.Text)
		}
		v := statusOf(t, rita, id)
		if v.Status != workflows.StatusChangesRequested || v.Waiting == nil || v.Waiting.For != "changes" {
			t.Fatalf("after the request: %s waiting %+v", v.Status, v.Waiting)
		}
		if c := v.Waiting.Changes; c == nil || c.By != "fin-bob" || c.Comment != "refund 1500" || c.Requester != "rita" || c.Round != 1 {
			t.Errorf("waiting.changes = %+v", c)
		}
		tasks.waitTask(t, id, "input_required")

		if r := advance(t, bob, id, "revise", "", map[string]any{"amount_cents": 1500}); !r.IsError || !strings.Contains(r.Text, "fin-bob may not revise at step approval; only the requester, rita, may") {
			t.Errorf("fin-bob's revise: %+v", r)
		}
		if r := advance(t, rita, id, "revise", "as asked", map[string]any{"amount_cents": 1500}); r.IsError {
			t.Fatalf("rita's revise: %s", r.Text)
		}
		waitsForApproval(t, rita, id)
		if r := advance(t, bob, id, "approve", "1500 it is", nil); r.IsError {
			t.Fatalf("fin-bob's approve: %s", r.Text)
		}
		waitStatus(t, rita, id, workflows.StatusCompleted)
		if got := refunded(t, "ORD-01003"); fmt.Sprint(got) != "[1500]" {
			t.Errorf("the orders backend refunded %v on ORD-01003, want [1500]", got)
		}
		checkRecord(t, id, "refund 1500")
	})

	t.Run("phone", func(t *testing.T) {
		chrome := chromium(t)
		var s mcpserver.StartResult
		callTool(t, rita, "start_workflow", map[string]any{"workflow_type": "refund_approval", "parameters": params("ORD-01005")}).decode(t, &s)
		id := s.WorkflowID
		waitsForApproval(t, rita, id)
		ctx, shot := newBrowser(t, chrome, 375, 667)
		fits := func(when string) chromedp.Action { return fitsPhone(t, 375, when) }
		link := `//a[contains(text(), "` + id + `")]`
		if err := chromedp.Run(ctx,
			chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
			chromedp.Navigate(origin+mcpserver.InboxPath),
			chromedp.SendKeys(`#api_key`, "fin-bob-key", chromedp.ByQuery),
			chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(link, chromedp.BySearch),
			chromedp.Click(link, chromedp.BySearch),
			chromedp.WaitVisible(`button.changes`, chromedp.ByQuery),
			fits("the form"),
			chromedp.Click(`button.changes`, chromedp.ByQuery),
			chromedp.WaitVisible(`//p[@role="alert"][contains(text(), "Say what should change")]`, chromedp.BySearch),
			fits("the refusal"),
			chromedp.SendKeys(`#comment`, "refund 1500: the box arrived, the lamp did not", chromedp.ByQuery),
			shot("request-changes-form.png"),
			chromedp.Click(`button.changes`, chromedp.ByQuery),
			chromedp.WaitVisible(`//h2[@id="asked-heading"]`, chromedp.BySearch),
			fits("what was asked"),
			shot("request-changes-sent.png"),
		); err != nil {
			t.Fatalf("browser: %v", err)
		}
		if v := statusOf(t, rita, id); v.Status != workflows.StatusChangesRequested || v.Waiting == nil || v.Waiting.Changes == nil ||
			v.Waiting.Changes.Comment != "refund 1500: the box arrived, the lamp did not" {
			t.Fatalf("after the phone's request: %s waiting %+v", v.Status, v.Waiting)
		}
		// rita withdraws instead of revising: the run ends withdrawn, nothing refunded.
		if r := advance(t, rita, id, "withdraw", "the customer kept the lamp", nil); r.IsError {
			t.Fatalf("rita's withdraw: %s", r.Text)
		}
		waitStatus(t, rita, id, workflows.StatusWithdrawn)
		if got := refunded(t, "ORD-01005"); len(got) != 0 {
			t.Errorf("a withdrawn refund was issued: %v", got)
		}
	})

	t.Run("page and kill -9", func(t *testing.T) {
		var s mcpserver.StartResult
		callTool(t, rita, "start_workflow", map[string]any{"workflow_type": "refund_approval", "parameters": params("ORD-01004")}).decode(t, &s)
		id := s.WorkflowID
		waitsForApproval(t, rita, id)

		jar, _ := cookiejar.New(nil)
		web := &http.Client{Jar: jar}
		signIn := func() string {
			return read(t, web, http.MethodPost, origin+mcpserver.InboxPath, url.Values{"api_key": {"fin-bob-key"}})
		}
		m := regexp.MustCompile(`href="(` + regexp.QuoteMeta(mcpserver.ApprovalPath) + `\?t=[^"]+)">` + regexp.QuoteMeta(id)).FindStringSubmatch(signIn())
		if m == nil {
			t.Fatalf("bob's inbox does not link %s", id)
		}
		link := origin + html.UnescapeString(m[1])
		gate := read(t, web, http.MethodGet, link+"&action=request_changes", nil)
		// The shipped gate asks an approve for inputs: sending it back skips the form's checks.
		for _, want := range []string{`value="request_changes" formnovalidate>Request changes</button>`, `; required to request changes)`, `aria-describedby="comment-help">`} {
			if !strings.Contains(gate, want) {
				t.Errorf("the page has no %s", want)
			}
		}
		post := func(fields ...string) (int, string) {
			t.Helper()
			return postApproval(t, web, origin, pageForm(gate, fields...))
		}
		if code, body := post("action", "request_changes"); code != http.StatusBadRequest || !strings.Contains(body, `role="alert">Say what should change`) ||
			!strings.Contains(body, `aria-invalid="true" aria-describedby="comment-error comment-help"`) {
			t.Errorf("a bare request for changes: %d\n%s", code, body)
		}
		if v := statusOf(t, rita, id); v.Status != workflows.StatusWaitingApproval {
			t.Fatalf("a refused request changed the run: %s", v.Status)
		}
		code, body := post("action", "request_changes", "comment", "refund 1500, the box was fine")
		if code != http.StatusOK || !strings.Contains(body, "request_changes of "+id+" by fin-bob accepted") {
			t.Fatalf("request changes from the page: %d\n%s", code, body)
		}
		// The link now says what was asked and decides nothing; the inbox leaves the run out.
		again := read(t, web, http.MethodGet, link, nil)
		if !strings.Contains(again, "<blockquote>refund 1500, the box was fine</blockquote>") || !strings.Contains(again, "<strong>rita</strong>, who requested it, must now revise") ||
			strings.Contains(again, "<form") {
			t.Errorf("the link's page while rita must revise:\n%s", again)
		}
		if code, body := post("action", "approve"); code != http.StatusConflict || !strings.Contains(body, "waits for its requester, rita, to revise") {
			t.Errorf("an approve while rita must revise: %d\n%s", code, body)
		}
		if inbox := signIn(); strings.Contains(inbox, id) || !strings.Contains(inbox, "fin-bob") {
			t.Errorf("bob's inbox while rita must revise lists %s (or broke):\n%s", id, inbox)
		}

		waitIdle(t, args, id)
		dev.stop(t, syscall.SIGKILL)
		dev = startDev(t, args...)
		dev.waitReady(t, mcpAddr)
		rita, bob = connectAs(t, dev.mcpURL, "rita-key"), connectAs(t, dev.mcpURL, "fin-bob-key")
		if v := statusOf(t, rita, id); v.Status != workflows.StatusChangesRequested || v.Waiting == nil || v.Waiting.Changes == nil ||
			v.Waiting.Changes.Comment != "refund 1500, the box was fine" {
			t.Fatalf("after kill -9: %s waiting %+v", v.Status, v.Waiting)
		}
		if r := advance(t, rita, id, "revise", "as asked", map[string]any{"amount_cents": 1500}); r.IsError {
			t.Fatalf("rita's revise after kill -9: %s", r.Text)
		}
		waitsForApproval(t, rita, id)
		// The link decided once, before the crash: it decides nothing in the new round.
		signIn()
		if code, body := post("action", "approve"); code != http.StatusConflict || !strings.Contains(body, "already applied once") {
			t.Errorf("the used link in the new round: %d\n%s", code, body)
		}
		if r := advance(t, bob, id, "approve", "", nil); r.IsError {
			t.Fatalf("fin-bob's approve after kill -9: %s", r.Text)
		}
		waitStatus(t, rita, id, workflows.StatusCompleted)
		if got := refunded(t, "ORD-01004"); fmt.Sprint(got) != "[1500]" {
			t.Errorf("the orders backend refunded %v on ORD-01004, want [1500]", got)
		}
		checkRecord(t, id, "refund 1500, the box was fine")
	})
}
