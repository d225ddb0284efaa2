package mcpserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

// orEndsSentence is what every surface says of the gate below: one sentence, from
// workflows.Waiting.OrEnds.
const orEndsSentence = "Or the gate ends when the event ci_passed arrives, whichever comes first (send_event at step go_ahead, with the scope write:data)."

// gateOrCI is a run of "approve, or CI green" waiting at its gate go_ahead: for a
// decision, or (changes true) for its requester's revision.
func gateOrCI(changes bool) workflows.StatusView {
	deadline := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	w := &workflows.Waiting{Step: "go_ahead", For: "approval", Deadline: deadline, Approvers: []string{"bob"}, Quorum: 1, NotBy: "dave",
		Actions: []workflows.Action{workflows.ActionApprove, workflows.ActionReject, workflows.ActionRequestChanges}, Revisable: []string{"commit"},
		Event: "ci_passed", EventScope: "write:data", PayloadSchema: map[string]any{"type": "object"}}
	status := workflows.StatusWaitingApproval
	if changes {
		status = workflows.StatusChangesRequested
		w.For, w.Actions, w.NotBy = "changes", []workflows.Action{workflows.ActionRevise, workflows.ActionWithdraw}, ""
		w.Changes = &workflows.ChangesAsked{ChangeRequest: workflows.ChangeRequest{By: "bob", Comment: "build the tagged commit", At: deadline.Add(-time.Hour)},
			Revisable: []string{"commit"}, Requester: "dave", Round: 1, MaxRounds: 2}
	}
	return workflows.StatusView{Type: "gate_or_ci", WorkflowID: "gate_or_ci-1", Status: status, CurrentStep: "go_ahead", RequestedBy: "dave",
		TotalSteps: 2, Waiting: w}
}

// TestAGateWithAnEventSaysSoOnEverySurface: get_workflow_status's text, the MCP task's
// status message, the approval page and the inbox each say that the event also ends the
// gate, while it waits for a decision and while it waits for a revision (where the event
// ends it too); a gate without or_event says nothing of it.
func TestAGateWithAnEventSaysSoOnEverySurface(t *testing.T) {
	s, err := New(Config{DecisionKeys: mustKeys(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.tasks.retention.Do(func() {}) // no Temporal here: the task has no ttl
	page := func(v workflows.StatusView) string {
		st := &workflows.State{StatusView: v}
		rec := httptest.NewRecorder()
		s.renderApproval(rec, http.StatusOK, approvalPage{Title: "Decide: go_ahead", State: st,
			Link: signing.Link{WorkflowID: v.WorkflowID, Step: "go_ahead", Approver: "bob"}})
		return rec.Body.String()
	}
	inbox := func(v workflows.StatusView) string {
		w := v.Waiting
		rec := httptest.NewRecorder()
		s.renderInbox(rec, http.StatusOK, inboxPage{Who: "bob", Items: []inboxItem{{Link: "/approve?t=x", Pending: app.Pending{
			WorkflowID: v.WorkflowID, Type: string(v.Type), Step: w.Step, RequestedBy: v.RequestedBy, Deadline: w.Deadline, Needs: 1, OrEnds: w.OrEnds()}}}})
		return rec.Body.String()
	}
	for _, changes := range []bool{false, true} {
		v := gateOrCI(changes)
		surfaces := map[string]string{
			"get_workflow_status": describeStatus(v),
			"task":                s.taskOf(context.Background(), v).StatusMessage,
			"approval page":       page(v),
		}
		if !changes { // the inbox lists the gates a person may decide, not revisions
			surfaces["inbox"] = inbox(v)
		}
		for name, text := range surfaces {
			if !strings.Contains(text, orEndsSentence) {
				t.Errorf("changes %t: %s does not say %q:\n%s", changes, name, orEndsSentence, text)
			}
		}
		if text := describeStatus(v); !strings.Contains(text, orEndsSentence+" Its payload must match waiting.payload_schema.") {
			t.Errorf("get_workflow_status does not say where the payload's schema is: %s", text)
		}
	}
	plain := gateOrCI(false)
	plain.Waiting.Event, plain.Waiting.EventScope, plain.Waiting.PayloadSchema = "", "", nil
	for name, text := range map[string]string{"get_workflow_status": describeStatus(plain), "approval page": page(plain), "inbox": inbox(plain)} {
		if strings.Contains(text, "ci_passed") || strings.Contains(text, "Or the gate ends") {
			t.Errorf("%s of a gate without or_event speaks of an event:\n%s", name, text)
		}
	}
}
