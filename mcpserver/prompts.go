package mcpserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/workflows"
)

func (s *Server) addPrompts() {
	s.mcp.AddPrompt(mcp.NewPrompt("review_pending_approvals",
		mcp.WithPromptDescription("Find every workflow waiting for a person and summarize each for a decision."),
		mcp.WithArgument("workflow_type", mcp.ArgumentDescription("Optional: onboarding, deployment, audit or a loaded process definition.")),
	), func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		filter := ""
		if t := strings.TrimSpace(req.Params.Arguments["workflow_type"]); t != "" {
			if !slices.Contains(s.workflowTypes(), t) {
				return nil, invalidParamsError(fmt.Sprintf("workflow_type: %q is not a workflow type; allowed: %s, or leave it out for all", t, strings.Join(s.workflowTypes(), " | ")))
			}
			filter = fmt.Sprintf(` with workflow_type="%s"`, t)
		}
		text := fmt.Sprintf(`Review what waits for a human decision in Flowgate.
1. Read the approvals://pending resource: the gates the person may decide now, oldest deadline first. To see every waiting run, call list_workflows with status="waiting_approval"%s (follow pagination.next_cursor until has_more is false). Also list status="waiting_input": those are steps that failed and need continue or reject.
2. For each workflow, call get_workflow_status and read the workflow://{workflow_id}/details resource.
3. Summarize each in two or three lines: what it will do and to what (user, service and environment, tables), who requested it, which step waits, the deadline, and anything unusual in its history (failed attempts, ignored signals, audit findings).
4. Recommend approve or reject with a reason, but do not call advance_workflow until the person tells you what to do. Remind them that the requester cannot approve their own workflow.`, filter)
		return mcp.NewGetPromptResult("Review pending approvals", []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
		}), nil
	})

	s.mcp.AddPrompt(mcp.NewPrompt("start_deployment",
		mcp.WithPromptDescription("Deploy a version of a service to an environment, with the approval it needs."),
		mcp.WithArgument("service", mcp.RequiredArgument(), mcp.ArgumentDescription("Service to deploy, e.g. orders.")),
		mcp.WithArgument("version", mcp.RequiredArgument(), mcp.ArgumentDescription("Semantic version, e.g. 1.4.2.")),
		mcp.WithArgument("environment", mcp.RequiredArgument(), mcp.ArgumentDescription("dev, staging or production.")),
	), func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		a := req.Params.Arguments
		var missing []string
		for _, k := range []string{"service", "version", "environment"} {
			if strings.TrimSpace(a[k]) == "" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return nil, invalidParamsError(fmt.Sprintf("%s: missing; allowed: a service, a semantic version and an environment (%s)", strings.Join(missing, ", "), strings.Join(workflows.Environments, " | ")))
		}
		// The same checks as start_workflow, so the prompt never proposes a start that fails.
		p := workflows.DeploymentParams{Service: a["service"], Version: a["version"], Environment: a["environment"]}
		if err := p.Validate(); err != nil {
			return nil, invalidParamsError(strings.TrimPrefix(err.Error(), "parameters."))
		}
		if len(s.cfg.Services) > 0 && !slices.Contains(s.cfg.Services, p.Service) {
			return nil, invalidParamsError(fmt.Sprintf("service: %q is not a service the gateway is configured for; allowed: %s", p.Service, strings.Join(s.cfg.Services, ", ")))
		}
		text := fmt.Sprintf(`Deploy %[1]s version %[2]s to %[3]s with Flowgate.
1. Call start_workflow with workflow_type="deployment", parameters={"service": %[1]q, "version": %[2]q, "environment": %[3]q} and an idempotency_key such as "deploy-%[1]s-%[2]s-%[3]s", so a retry does not deploy twice.
2. Call get_workflow_status. Staging and production deployments stop at the "approval" step: tell the person what will be deployed where, share the ui_url, and ask them (or another approver) to approve. Do not approve on their behalf.
3. After the approval, poll get_workflow_status until the status is final. If verification fails the workflow rolls back to the previous version and ends failed: report the error from get_workflow_status.`, a["service"], a["version"], a["environment"])
		return mcp.NewGetPromptResult("Start a deployment", []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
		}), nil
	})
}
