package e2e

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// writeRefundWithInputs writes into dir the refund example whose small-refund gate asks
// finance for the amount it approves (required here; the shipped gate takes it as an
// option), no more than asked, an optional ticket, and a reason for a reject; the refund
// issues the approved amount (workflows/inputs_test.go's refundWithInputs).
func writeRefundWithInputs(t *testing.T, dir string) {
	t.Helper()
	writeRefundExample(t, dir,
		`      changes: {revisable: [amount_cents, reason], max_rounds: 3}
      inputs:
        type: object
        properties:
          approved_cents:
            type: integer
            minimum: 1
            description: The amount approved, in cents, if less than asked.
      rules:
        - rule: "!has(inputs.approved_cents) || inputs.approved_cents <= params.amount_cents"
          message: finance cannot approve more than was asked
  - name: issue_refund`,
		`      changes: {revisable: [amount_cents, reason], max_rounds: 3}
      reject_needs_reason: true
      inputs:
        type: object
        required: [approved_cents]
        properties:
          approved_cents: {type: integer, minimum: 1, description: "The amount finance approves, in cents."}
          ticket: {type: string, pattern: "^FIN-[0-9]+$"}
      rules:
        - rule: inputs.approved_cents <= params.amount_cents
          message: finance cannot approve more than was asked
  - name: issue_refund`)
}

// TestAnApproverGivesAGatesInputsOnItsPage: a refund whose gate asks for the amount
// approved is decided from the approver's inbox. The page asks for each input with a
// labelled control; a value the gate refuses (over the rule, of the wrong type, not
// matching its pattern) or a reject without a reason shows the form again with the
// refusal announced and the values kept, changing nothing; a valid approve records the
// typed inputs, which the refund uses. On a phone-sized browser the same form fits the
// screen and approves.
func TestAnApproverGivesAGatesInputsOnItsPage(t *testing.T) {
	// Its own flowgate dev process, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	writeRefundWithInputs(t, procs)
	finance := []string{mcpserver.ScopeRead, mcpserver.ScopeApprove, "group:finance"}
	keys := writeKeys(t, dir, map[string][]string{"rita": {mcpserver.ScopeWrite, mcpserver.ScopeRead}, "fin-bob": finance})
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(dir, "data"))
	dev := startDev(t, append(args, "--processes", procs, "--api-keys", keys)...)
	dev.waitReady(t, mcpAddr)
	rita := connectAs(t, dev.mcpURL, "rita-key")
	origin := strings.TrimSuffix(dev.mcpURL, mcpserver.EndpointPath)
	start := func(order string, cents int) string {
		t.Helper()
		var s mcpserver.StartResult
		callTool(t, rita, "start_workflow", map[string]any{"workflow_type": "refund_approval",
			"parameters": map[string]any{"order_id": order, "amount_cents": cents, "reason": "arrived damaged"}}).decode(t, &s)
		if v := waitStatus(t, rita, s.WorkflowID, workflows.StatusWaitingApproval); v.Waiting == nil || v.Waiting.Inputs == nil {
			t.Fatalf("%s waits at %+v, want a gate with inputs", s.WorkflowID, v.Waiting)
		}
		return s.WorkflowID
	}
	approval := func(t *testing.T, id string) workflows.Step {
		t.Helper()
		res, err := rita.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "workflow://" + id + "/details"})
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.State
		if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
			t.Fatal(err)
		}
		return stepOf(st, "approval")
	}

	t.Run("form", func(t *testing.T) {
		id := start("ORD-01003", 2500)
		jar, _ := cookiejar.New(nil)
		bob := &http.Client{Jar: jar}
		inbox := read(t, bob, http.MethodPost, origin+mcpserver.InboxPath, url.Values{"api_key": {"fin-bob-key"}})
		m := regexp.MustCompile(`href="(` + regexp.QuoteMeta(mcpserver.ApprovalPath) + `\?t=[^"]+)">` + regexp.QuoteMeta(id)).FindStringSubmatch(inbox)
		if m == nil {
			t.Fatalf("bob's inbox does not link %s:\n%s", id, inbox)
		}
		if !strings.Contains(inbox, "an approve gives approved_cents, ticket") {
			t.Errorf("bob's inbox does not say what an approve gives:\n%s", inbox)
		}
		gate := read(t, bob, http.MethodGet, origin+html.UnescapeString(m[1]), nil)
		for _, want := range []string{
			`<legend>To approve, give these values</legend>`,
			`<label for="input-approved_cents">approved_cents`,
			`<input type="number" id="input-approved_cents" name="inputs.approved_cents" value="" step="1" min="1" inputmode="numeric" required aria-describedby="input-approved_cents-help">`,
			`<p class="help" id="input-approved_cents-help">The amount finance approves, in cents. Required. A whole number, at least 1.</p>`,
			`<input type="text" id="input-ticket" name="inputs.ticket"`,
			`<li>finance cannot approve more than was asked</li>`,
			`; required to reject`,
		} {
			if !strings.Contains(gate, want) {
				t.Errorf("the page has no %s", want)
			}
		}
		decide := func(fields ...string) (int, string) {
			t.Helper()
			return postApproval(t, bob, origin, pageForm(gate, fields...))
		}
		for _, c := range []struct {
			name   string
			fields []string
			code   int
			says   []string
		}{
			{"over the rule", []string{"action", "approve", "inputs.approved_cents", "9000", "inputs.ticket", "FIN-7", "comment", "too much"}, http.StatusConflict,
				[]string{`role="alert">the inputs of step approval break a rule: finance cannot approve more than was asked`, `name="inputs.approved_cents" value="9000"`, `name="inputs.ticket" value="FIN-7"`, `>too much</textarea>`}},
			{"not a whole number", []string{"action", "approve", "inputs.approved_cents", "15.5"}, http.StatusBadRequest,
				[]string{`role="alert">inputs.approved_cents: &#34;15.5&#34; is not a whole number. Nothing changed.`, `value="15.5"`, `aria-invalid="true"`}},
			{"off the pattern", []string{"action", "approve", "inputs.approved_cents", "1500", "inputs.ticket", "X-1"}, http.StatusConflict,
				[]string{`role="alert">the inputs of step approval: inputs.ticket:`, `<p class="error" id="input-ticket-error">&#39;X-1&#39; does not match pattern`, `aria-describedby="input-ticket-error input-ticket-help" aria-invalid="true"`}},
			{"a bare reject", []string{"action", "reject", "inputs.approved_cents", "1500"}, http.StatusBadRequest,
				[]string{`role="alert">Say why you reject: step approval needs a reason to reject. Nothing changed.`, `aria-invalid="true" aria-describedby="comment-error`}},
		} {
			code, body := decide(c.fields...)
			if code != c.code {
				t.Errorf("%s: status %d, want %d", c.name, code, c.code)
			}
			for _, want := range c.says {
				if !strings.Contains(body, want) {
					t.Errorf("%s: the page has no %s:\n%s", c.name, want, body)
				}
			}
			for _, internal := range []string{"goroutine", "WorkflowExecution", "rpc error", "temporal.", "panic"} {
				if strings.Contains(body, internal) {
					t.Errorf("%s: the page shows internals (%q)", c.name, internal)
				}
			}
			if v := statusOf(t, rita, id); v.Status != workflows.StatusWaitingApproval {
				t.Fatalf("%s changed the run: %s", c.name, v.Status)
			}
		}
		code, done := decide("action", "approve", "inputs.approved_cents", "1500", "inputs.ticket", "FIN-7", "comment", "half is fair")
		if code != http.StatusOK || !strings.Contains(done, "approve of "+id+" by fin-bob accepted") {
			t.Fatalf("a valid approve: %d\n%s", code, done)
		}
		waitStatus(t, rita, id, workflows.StatusCompleted)
		if s := approval(t, id); s.Actor != "fin-bob" || s.Output != "approved with approved_cents=1500, ticket=FIN-7" || s.Comment != "half is fair" {
			t.Errorf("approval = %+v, want bob's inputs in the record", s)
		}
	})

	t.Run("phone", func(t *testing.T) {
		chrome := chromium(t)
		id := start("ORD-01004", 3000)
		ctx, shot := newBrowser(t, chrome, 375, 667)
		var kept string
		fits := func(when string) chromedp.Action { return fitsPhone(t, 375, when) }
		link := `//a[contains(text(), "` + id + `")]`
		if err := chromedp.Run(ctx,
			// Headless Chromium's window is at least 500 px wide: a phone's screen is emulated.
			chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
			chromedp.Navigate(origin+mcpserver.InboxPath),
			chromedp.SendKeys(`#api_key`, "fin-bob-key", chromedp.ByQuery),
			chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(link, chromedp.BySearch),
			chromedp.Click(link, chromedp.BySearch),
			chromedp.WaitVisible(`//h1[contains(text(), "Decide: approval")]`, chromedp.BySearch),
			fits("the form"),
			chromedp.SendKeys(`#input-approved_cents`, "9000", chromedp.ByQuery),
			chromedp.SendKeys(`#input-ticket`, "FIN-12", chromedp.ByQuery),
			shot("decision-inputs-form.png"),
			chromedp.Click(`button.approve`, chromedp.ByQuery),
			chromedp.WaitVisible(`//p[@role="alert"][contains(text(), "finance cannot approve more than was asked")]`, chromedp.BySearch),
			chromedp.Value(`#input-approved_cents`, &kept, chromedp.ByQuery),
			fits("the refusal"),
			shot("decision-inputs-refused.png"),
			chromedp.Clear(`#input-approved_cents`, chromedp.ByQuery),
			chromedp.SendKeys(`#input-approved_cents`, "2000", chromedp.ByQuery),
			chromedp.Click(`button.approve`, chromedp.ByQuery),
			chromedp.WaitVisible(`//h1[contains(text(), "Thank you")]`, chromedp.BySearch),
			shot("decision-inputs-done.png"),
		); err != nil {
			t.Fatalf("browser: %v", err)
		}
		if kept != "9000" {
			t.Errorf("after the refusal the amount reads %q, want the 9000 typed", kept)
		}
		waitStatus(t, rita, id, workflows.StatusCompleted)
		if s := approval(t, id); s.Actor != "fin-bob" || s.Output != "approved with approved_cents=2000, ticket=FIN-12" {
			t.Errorf("approval = %+v, want the inputs given on the phone", s)
		}
	})
}

// fitsPhone checks that the page needs no sideways scroll on a phone width px wide.
func fitsPhone(t *testing.T, width int, when string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var px []int // the window's width, the page's
		if err := chromedp.Evaluate(`[window.innerWidth, document.documentElement.scrollWidth]`, &px).Do(ctx); err != nil {
			return err
		}
		if len(px) != 2 || px[0] > width || px[1] > px[0] {
			t.Errorf("%s: the page and window are %v px wide: it scrolls sideways on a %d px phone", when, px, width)
		}
		return nil
	})
}
