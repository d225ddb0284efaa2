package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

// TestExplainSortsTemporalErrorsByKind: each kind of error from Temporal becomes its own
// sentence; an invalid argument is never presented as an outage, and no Temporal
// internals reach the agent.
func TestExplainSortsTemporalErrorsByKind(t *testing.T) {
	s := &Server{cfg: Config{CallTimeout: 30 * time.Second}}
	ctx := context.Background()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{serviceerror.NewInvalidArgument("invalid page token"), "Temporal refused the request as invalid: invalid page token"},
		{fmt.Errorf("list: %w", serviceerror.NewInvalidArgument("bad query")), "Temporal refused the request as invalid"},
		{serviceerror.NewUnavailable("connection refused"), "Temporal is unavailable right now"},
		{serviceerror.NewNotFound("workflow not found"), `no workflow with id "wf-1" exists`},
		{serviceerror.NewNotFound("workflow execution already completed"), `workflow "wf-1" has already ended`},
		{serviceerror.NewResourceExhausted(0, "rps limit"), "rate limit"},
		{serviceerror.NewPermissionDenied("no", ""), "not allowed"},
		{serviceerror.NewInternal("sqlite: database is locked"), "Temporal failed internally"},
		{serviceerror.NewFailedPrecondition("not ready"), "cannot do this in the current state"},
		{serviceerror.NewNamespaceNotFound("flowgate-tools"), "the Temporal namespace flowgate-tools does not exist"},
		{serviceerror.NewQueryFailed("unknown queryType foo"), `workflow "wf-1" could not answer: unknown queryType foo`},
		{temporal.NewNonRetryableApplicationError("no row with id 7", "NotFound", nil), "no row with id 7"},
		{errors.New("boom\nstack"), "the call failed: boom"},
	} {
		got := s.explain(ctx, "wf-1", tc.err)
		if !strings.Contains(got, tc.want) {
			t.Errorf("explain(%T %v) = %q, want it to contain %q", tc.err, tc.err, got, tc.want)
		}
		for _, internal := range []string{"type:", "retryable", "serviceerror", "rpc error", "\n"} {
			if strings.Contains(got, internal) {
				t.Errorf("explain(%v) = %q shows %q", tc.err, got, internal)
			}
		}
		if tc.want != "Temporal is unavailable right now" && strings.Contains(got, "unavailable") {
			t.Errorf("explain(%v) = %q blames availability", tc.err, got)
		}
	}
}
