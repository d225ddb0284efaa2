package mcpserver

import (
	"context"
	"errors"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
)

func workflowExecution(id string) *commonpb.WorkflowExecution {
	return &commonpb.WorkflowExecution{WorkflowId: id}
}

// decodeKeyword reads a Keyword search attribute's value, or "".
func decodeKeyword(p *commonpb.Payload) string {
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// query runs a workflow query and decodes its answer into out. A query is read-only, so
// when Temporal gives up on it before the caller's deadline (a busy worker held the query
// task past the server's sticky-queue timeout), it is asked again until ctx ends.
func (s *Server) query(ctx context.Context, workflowID, queryType string, out any) error {
	wait := 100 * time.Millisecond
	for {
		resp, err := s.cfg.Client.QueryWorkflow(ctx, workflowID, "", queryType)
		if err == nil {
			return resp.Get(out)
		}
		if !serverGaveUp(err) || ctx.Err() != nil {
			return err
		}
		s.cfg.Logger.Debug("query timed out inside Temporal; asking again", "workflow_id", workflowID, "query", queryType, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// serverGaveUp reports whether Temporal abandoned a call on its side (its own deadline or
// cancellation), as opposed to refusing it.
func serverGaveUp(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return errors.As(err, &deadline) || errors.As(err, &canceled)
}
