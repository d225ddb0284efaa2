package mcpserver

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

// refundInputs is a gate's inputs as the status query gives them (JSON values): the
// refund gate of docs/processes.md, with one field of each kind a form asks for.
func refundInputs(t *testing.T) map[string]any {
	t.Helper()
	var schema map[string]any
	err := json.Unmarshal([]byte(`{"type": "object", "required": ["approved_cents", "channel"], "properties": {
		"approved_cents": {"type": "integer", "minimum": 1, "maximum": 90000, "description": "The amount finance approves, in cents."},
		"ticket":         {"type": "string", "pattern": "^FIN-[0-9]+$", "maxLength": 20},
		"note_ref":       {"type": "string", "pattern": "[0-9]"},
		"rate":           {"type": "number", "title": "Rate applied", "default": 0.5},
		"channel":        {"type": "string", "enum": ["card", "bank"]},
		"urgent":         {"type": "boolean", "default": true},
		"pay_on":         {"type": "string", "format": "date"},
		"pay_at":         {"type": "string", "format": "date-time"},
		"contact":        {"type": "string", "format": "email"},
		"receipt":        {"type": "string", "format": "uri"}}}`), &schema)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// renderGate renders the approval page of a gate that asks for inputs, as GET shows it
// (posted nil) or as a refused POST shows it again.
func renderGate(t *testing.T, posted url.Values, refusal string) (int, string) {
	t.Helper()
	s, err := New(Config{DecisionKeys: mustKeys(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	st := &workflows.State{StatusView: workflows.StatusView{WorkflowID: "refund_approval-1", Status: workflows.StatusWaitingApproval,
		Waiting: &workflows.Waiting{Step: "approval", Inputs: refundInputs(t), Rules: []string{"finance cannot approve more than was asked"}, ReasonOnReject: true}}}
	page := approvalPage{Title: "Decide: approval", State: st, Link: signing.Link{WorkflowID: st.WorkflowID, Step: "approval", Approver: "bob"}}
	code := http.StatusOK
	if refusal != "" {
		code = http.StatusConflict
		page.Problem, page.Alert, page.refusal, page.Message = true, true, refusal, refusal+". Nothing changed."
		page.Values = posted
	}
	w := httptest.NewRecorder()
	s.renderApproval(w, code, page)
	return w.Code, w.Body.String()
}

// TestTheApprovalPageAsksForTheGatesInputs: each input is a labelled control of its
// type with the schema's limits, its help linked by aria-describedby; the rules are
// listed and the comment says a reject needs it.
func TestTheApprovalPageAsksForTheGatesInputs(t *testing.T) {
	_, body := renderGate(t, nil, "")
	for _, want := range []string{
		`<fieldset>`, `<legend>To approve, give these values</legend>`,
		`<label for="input-approved_cents">approved_cents <span aria-hidden="true">*</span></label>`,
		`<input type="number" id="input-approved_cents" name="inputs.approved_cents" value="" step="1" min="1" max="90000" inputmode="numeric" required aria-describedby="input-approved_cents-help">`,
		`<p class="help" id="input-approved_cents-help">The amount finance approves, in cents. Required. A whole number, at least 1, at most 90000.</p>`,
		`<label for="input-rate">Rate applied</label>`,
		`<input type="number" id="input-rate" name="inputs.rate" value="0.5" step="any" inputmode="decimal" aria-describedby="input-rate-help">`,
		`<input type="text" id="input-ticket" name="inputs.ticket" value="" maxlength="20" pattern="^FIN-[0-9]&#43;$" aria-describedby="input-ticket-help">`, // + as html/template writes it
		`pattern=".*(?:[0-9]).*"`,
		`<select id="input-channel" name="inputs.channel" required aria-describedby="input-channel-help">`,
		`<option value="">Choose one</option>`, `<option value="bank">bank</option>`,
		`<input type="checkbox" id="input-urgent" name="inputs.urgent" value="true" checked aria-describedby="input-urgent-help">`,
		`<input type="date" id="input-pay_on"`, `<input type="datetime-local" id="input-pay_at"`,
		`<input type="email" id="input-contact"`, `<input type="url" id="input-receipt"`,
		`<li>finance cannot approve more than was asked</li>`,
		`Comment (recorded with your decision; required to reject)`,
		`value="reject" formnovalidate>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	// Required fields come first, then the others by name.
	if a, c, r := strings.Index(body, `id="input-approved_cents"`), strings.Index(body, `id="input-channel"`), strings.Index(body, `id="input-contact"`); !(a < c && c < r) {
		t.Errorf("fields out of order: approved_cents at %d, channel at %d, contact at %d", a, c, r)
	}
	if strings.Contains(body, `role="alert"`) || strings.Contains(body, `aria-invalid="true"`) {
		t.Error("a first visit shows an error")
	}
}

// TestARefusedDecisionKeepsTheFormAndNamesTheField: the gate's refusal is announced
// (role=alert), the field it names is marked invalid with the reason linked to it, and
// what the approver typed is back in the form, escaped.
func TestARefusedDecisionKeepsTheFormAndNamesTheField(t *testing.T) {
	posted := url.Values{"inputs.approved_cents": {"9000"}, "inputs.ticket": {`"><script>alert(1)</script>`}, "inputs.channel": {"bank"}, "inputs.urgent": {"true"}, "comment": {"half"}}
	code, body := renderGate(t, posted, "the inputs of step approval: inputs.approved_cents: must be at most 900")
	if code != http.StatusConflict {
		t.Errorf("status %d", code)
	}
	for _, want := range []string{
		`<p class="problem" role="alert">the inputs of step approval: inputs.approved_cents: must be at most 900. Nothing changed.</p>`,
		`name="inputs.approved_cents" value="9000"`, `aria-describedby="input-approved_cents-error input-approved_cents-help" aria-invalid="true">`,
		`<p class="error" id="input-approved_cents-error">must be at most 900</p>`,
		`value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`,
		`<option value="bank" selected>bank</option>`,
		`name="inputs.urgent" value="true" checked`,
		`name="inputs.rate" value="" step="any"`, // left empty: not refilled with the default
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("a posted value reached the page unescaped")
	}
}

// TestPostedInputsAreTypedByTheSchema: what a form posts (strings) reaches the gate as
// the schema's JSON types; empty optional fields are left out, and a value that cannot
// be its type is refused naming the field.
func TestPostedInputsAreTypedByTheSchema(t *testing.T) {
	schema := refundInputs(t)
	got, err := formInputs(schema, url.Values{
		"inputs.approved_cents": {" 1500 "}, "inputs.rate": {"0.25"}, "inputs.channel": {"card"}, "inputs.urgent": {"true"},
		"inputs.pay_on": {"2026-12-31"}, "inputs.pay_at": {"2026-12-31T17:30"}, "inputs.ticket": {""}, "inputs.contact": {"  "},
		"approved_cents": {"1"}, "inputs.unknown": {"x"},
	})
	want := map[string]any{"approved_cents": int64(1500), "rate": 0.25, "channel": "card", "urgent": true,
		"pay_on": "2026-12-31", "pay_at": "2026-12-31T17:30:00Z"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("inputs = %#v, %v; want %#v", got, err, want)
	}
	if got, _ := formInputs(schema, url.Values{"inputs.approved_cents": {"1"}, "inputs.channel": {"card"}}); got["urgent"] != false {
		t.Errorf("an unticked box: urgent = %#v, want false", got["urgent"])
	}
	for posted, want := range map[string]string{
		"inputs.approved_cents=15.5&inputs.channel=card":                 `inputs.approved_cents: "15.5" is not a whole number`,
		"inputs.approved_cents=lots&inputs.channel=card":                 `inputs.approved_cents: "lots" is not a whole number`,
		"inputs.approved_cents=1&inputs.channel=card&inputs.rate=NaN":    `inputs.rate: "NaN" is not a number`,
		"inputs.approved_cents=1&inputs.channel=card&inputs.pay_at=soon": `inputs.pay_at: "soon" is not a date and time`,
		"inputs.channel=card": "inputs.approved_cents: is required",
	} {
		form, _ := url.ParseQuery(posted)
		if _, err := formInputs(schema, form); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", posted, err, want)
		}
	}
}
