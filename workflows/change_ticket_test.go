package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// TestAProductionDeploymentGoesOutUnderItsChangeTicket: the shipped deployment's gate asks
// for the change ticket. A production approve without one, or with one that is not a
// ticket, is refused with the rule's message or the field, changing nothing; one with a
// ticket deploys, and the record and the deployments row keep it. A staging approve needs
// none, and its row has none.
func TestAProductionDeploymentGoesOutUnderItsChangeTicket(t *testing.T) {
	approve := func(inputs map[string]any) workflows.AdvanceRequest {
		return workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Comment: "ship it", Inputs: inputs}
	}
	ticketOf := func(h *harness, st workflows.State) string {
		t.Helper()
		res, err := h.db.RunStatement(context.Background(), activities.StatementInput{Mode: "read",
			Query: "SELECT change_ticket FROM deployments WHERE id = :id", Args: map[string]any{"id": st.Outputs["deployment_id"]}})
		if err != nil || res.Row == nil {
			t.Fatalf("deployment row %s: %v %+v", st.Outputs["deployment_id"], err, res)
		}
		s, _ := res.Row["change_ticket"].(string)
		return s
	}

	t.Run("production", func(t *testing.T) {
		h := newHarnessOn(t, true)
		var bare, malformed, ok *outcome
		var waiting workflows.StatusView
		h.at(time.Hour, func() {
			waiting = h.status()
			bare = h.advance(approve(nil))
			malformed = h.advance(approve(map[string]any{"change_ticket": "chg 1042"}))
			ok = h.advance(approve(map[string]any{"change_ticket": "CHG-1042"}))
		})
		h.startDeployment(deployment("production", "1.4.2"))
		st, err := h.result()
		if err != nil {
			t.Fatal(err)
		}
		if w := waiting.Waiting; w == nil || w.Inputs == nil || len(w.Rules) != 1 || w.Rules[0] != "a production deployment needs the change ticket it goes out under" {
			t.Errorf("waiting = %+v, want the change ticket's schema and rule", w)
		}
		bare.refused(t, "a production deployment needs the change ticket it goes out under")
		malformed.refused(t, "inputs.change_ticket")
		ok.accepted(t)
		if s := stepOf(st, "approval"); st.Status != workflows.StatusCompleted || s.Output != "approved with change_ticket=CHG-1042" {
			t.Errorf("ended %s, approval %+v", st.Status, s)
		}
		if got := ticketOf(h, st); got != "CHG-1042" {
			t.Errorf("deployments.change_ticket = %q, want CHG-1042", got)
		}
	})

	t.Run("staging", func(t *testing.T) {
		h := newHarnessOn(t, true)
		var ok *outcome
		h.at(time.Hour, func() { ok = h.advance(approve(nil)) })
		h.startDeployment(deployment("staging", "1.4.2"))
		st, err := h.result()
		if err != nil {
			t.Fatal(err)
		}
		ok.accepted(t)
		if s := stepOf(st, "approval"); st.Status != workflows.StatusCompleted || s.Output != "approved" {
			t.Errorf("ended %s, approval %+v", st.Status, s)
		}
		if got := ticketOf(h, st); got != "" {
			t.Errorf("deployments.change_ticket = %q, want none", got)
		}
	})
}
