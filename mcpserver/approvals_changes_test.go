package mcpserver

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

// renderChanges renders the approval page of a refund gate that lets finance request
// changes, as GET shows it with the run waiting at w.
func renderChanges(t *testing.T, status workflows.Status, w *workflows.Waiting, action string) string {
	t.Helper()
	s, err := New(Config{DecisionKeys: mustKeys(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	st := &workflows.State{StatusView: workflows.StatusView{WorkflowID: "refund_approval-1", Status: status, RequestedBy: "rita", Waiting: w}}
	page := approvalPage{Title: "Decide: approval", State: st, Link: signing.Link{WorkflowID: st.WorkflowID, Step: "approval", Approver: "fin-bob"}}
	rec := httptest.NewRecorder()
	s.renderApproval(rec, http.StatusOK, page)
	return rec.Body.String()
}

// TestTheApprovalPageOffersRequestChangesWhereTheGateDoes: a gate whose actions include
// request_changes gets a third button; the comment then says it is required for it and
// what the requester may revise, linked by aria-describedby. A gate without it keeps
// the two buttons.
func TestTheApprovalPageOffersRequestChangesWhereTheGateDoes(t *testing.T) {
	offered := &workflows.Waiting{Step: "approval", For: "approval", Revisable: []string{"amount_cents", "reason"},
		Actions: []workflows.Action{workflows.ActionApprove, workflows.ActionReject, workflows.ActionRemind, workflows.ActionRequestChanges}}
	body := renderChanges(t, workflows.StatusWaitingApproval, offered, "")
	for _, want := range []string{
		`Comment (recorded with your decision; required to request changes)`,
		`<textarea id="comment" name="comment" maxlength="1000" aria-describedby="comment-help">`,
		`<p class="help" id="comment-help">To request changes, say what should change: rita, who requested this run, may then revise amount_cents, reason, and the gate asks again.</p>`,
		`<button class="approve" type="submit" name="action" value="approve">Approve</button>`,
		`<button class="changes" type="submit" name="action" value="request_changes">Request changes</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	// A link that says action=request_changes focuses nothing: on a phone, autofocus would
	// scroll past the summary the approver should read first.
	if body := renderChanges(t, workflows.StatusWaitingApproval, offered, "request_changes"); strings.Contains(body, "autofocus") {
		t.Error("action=request_changes focuses a field and scrolls past the summary")
	}

	plain := &workflows.Waiting{Step: "approval", For: "approval", Actions: []workflows.Action{workflows.ActionApprove, workflows.ActionReject}}
	body = renderChanges(t, workflows.StatusWaitingApproval, plain, "")
	if strings.Contains(body, "request_changes") || strings.Contains(body, "comment-help") || !strings.Contains(body, `value="reject">Reject</button>`) {
		t.Errorf("a gate without request_changes offers it:\n%s", body)
	}
}

// TestARunSentBackShowsWhatWasAskedAndNoDecision: while the requester must revise, the
// link's page says who asked what, who must revise what by when, and offers no form.
func TestARunSentBackShowsWhatWasAskedAndNoDecision(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w := &workflows.Waiting{Step: "approval", For: "changes", Deadline: at.Add(24 * time.Hour),
		Actions: []workflows.Action{workflows.ActionRevise, workflows.ActionWithdraw},
		Changes: &workflows.ChangesAsked{ChangeRequest: workflows.ChangeRequest{By: "fin-bob", Comment: "refund 1500 <b>only</b>", At: at},
			Revisable: []string{"amount_cents", "reason"}, Requester: "rita", Round: 1, MaxRounds: 3}}
	body := renderChanges(t, workflows.StatusChangesRequested, w, "approve")
	for _, want := range []string{
		`<section class="asked" aria-labelledby="asked-heading">`,
		`<p>fin-bob sent this run back to its requester on 2026-12-02 10:00 UTC (round 1 of 3), asking:</p>`,
		`<blockquote>refund 1500 &lt;b&gt;only&lt;/b&gt;</blockquote>`,
		`<strong>rita</strong>, who requested it, must now revise amount_cents, reason or withdraw it, by 2026-12-03 10:00 UTC.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	for _, not := range []string{"<form", "<button", `name="action"`} {
		if strings.Contains(body, not) {
			t.Errorf("the page offers a decision (%s) while the requester must revise", not)
		}
	}
}
