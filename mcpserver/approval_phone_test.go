package mcpserver

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

// TestTheApprovalPageReadsOnAPhone: the page opens at its summary (nothing autofocused,
// which on a phone scrolls past it to the buttons), lists the parameters one per line
// rather than as one line of raw JSON, and says how far a quorum is. Values stay escaped.
func TestTheApprovalPageReadsOnAPhone(t *testing.T) {
	s, err := New(Config{DecisionKeys: mustKeys(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	st := &workflows.State{StatusView: workflows.StatusView{WorkflowID: "refund_approval-1", Type: "refund_approval", Status: workflows.StatusWaitingApproval,
		RequestedBy: "rita", Waiting: &workflows.Waiting{Step: "approval", For: "approval", Quorum: 2, Approvals: []string{"fin-ann"},
			Actions: []workflows.Action{workflows.ActionApprove, workflows.ActionReject}}},
		Parameters: json.RawMessage(`{"order_id":"ORD-01007","amount_cents":90000,"reason":"<b>broken</b>"}`)}
	page := approvalPage{Title: "Decide: approval", Summary: "Refund 900.00 on ORD-01007", State: st, Token: "tok",
		Link: signing.Link{WorkflowID: st.WorkflowID, Step: "approval", Approver: "fin-bob"}}
	rec := httptest.NewRecorder()
	s.renderApproval(rec, http.StatusOK, page)
	body := rec.Body.String()
	for _, want := range []string{
		"<dt>Approvals</dt><dd>1 of 2 approvals (fin-ann)</dd>",
		"<dt>amount_cents</dt><dd>90000</dd><dt>order_id</dt><dd>ORD-01007</dd><dt>reason</dt><dd>&lt;b&gt;broken&lt;/b&gt;</dd>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	for _, bad := range []string{"autofocus", `{&#34;order_id`, "<b>broken"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page has %s", bad)
		}
	}
}
