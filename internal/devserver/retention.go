package devserver

import (
	"context"
	"fmt"
	"time"

	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// DefaultRetention is how long a finished run (completed, rejected, failed, timed out or
// cancelled) and its history stay in the embedded server before Temporal deletes them.
const DefaultRetention = 72 * time.Hour

// MinRetention and MaxRetention bound Options.Retention. Under RetentionWarning a
// retention is allowed but deserves a warning: finished runs vanish from the UI and
// get_workflow_status almost at once.
const (
	MinRetention     = time.Second
	MaxRetention     = 10 * 365 * 24 * time.Hour
	RetentionWarning = time.Hour
)

// retention is the retention the options ask for.
func (o *Options) retention() time.Duration {
	if o.Retention <= 0 {
		return DefaultRetention
	}
	return o.Retention
}

// CheckRetention refuses a retention the server cannot keep, naming the flag.
func CheckRetention(d time.Duration) error {
	if d < MinRetention || d > MaxRetention {
		return fmt.Errorf("--retention %s: allowed is %s to %s (default %s): how long finished runs stay before Temporal deletes them", d, MinRetention, MaxRetention, DefaultRetention)
	}
	return nil
}

// setRetention makes the namespace keep finished runs for d. A run that ends is deleted,
// with its history, d after it ended.
func setRetention(ctx context.Context, c client.Client, namespace string, d time.Duration) error {
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("describe namespace %s: %w", namespace, err)
	}
	if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() == d {
		return nil
	}
	_, err = c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace: namespace,
		Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(d)},
	})
	if err != nil {
		return fmt.Errorf("set the retention of namespace %s to %s: %w", namespace, d, err)
	}
	// The history service reads retention from its namespace cache, refreshed each
	// NamespaceCacheRefreshInterval: wait it out, so no run that ends from now on is kept
	// for the old retention. This happens once, when the retention changes.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * namespaceCacheRefresh):
	}
	return nil
}
