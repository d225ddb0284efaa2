package app

import (
	"context"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/workflows"
)

// notReadyOnce is a Temporal client whose first update is aborted unapplied, as the
// server aborts an update whose workflow task failed as it completed.
type notReadyOnce struct {
	client.Client
	ids []string
}

func (c *notReadyOnce) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	c.ids = append(c.ids, o.UpdateID)
	if len(c.ids) == 1 {
		return nil, serviceerror.NewWorkflowNotReady("Unable to perform workflow execution update due to unexpected workflow task failure.")
	}
	return answered{}, nil
}

type answered struct{ client.WorkflowUpdateHandle }

func (answered) Get(_ context.Context, out any) error {
	*out.(*workflows.StatusView) = workflows.StatusView{WorkflowID: "refund_approval-1", Status: workflows.StatusWithdrawn}
	return nil
}

// TestAnUpdateAbortedUnappliedIsSentAgain: a decision whose workflow task failed as it
// completed (the run closed while a notice's activity completed, say) is aborted by
// Temporal with WorkflowNotReady and not retried by it; the typed API sends it again,
// under the same update id, and the caller gets the run's answer, not the abort.
func TestAnUpdateAbortedUnappliedIsSentAgain(t *testing.T) {
	c := &notReadyOnce{}
	s := New(Config{Client: c})
	v, err := s.Advance(context.Background(), Caller{Name: "rita", Scopes: []string{ScopeWrite}},
		Decision{WorkflowID: "refund_approval-1", Action: workflows.ActionWithdraw, Step: "approval"})
	if err != nil || v.Status != workflows.StatusWithdrawn {
		t.Fatalf("advance: %+v, %v", v, err)
	}
	if len(c.ids) != 2 || c.ids[0] == "" || c.ids[0] != c.ids[1] {
		t.Errorf("update ids %q; want the update sent twice under one id", c.ids)
	}
}
