package activities

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strings"

	"go.temporal.io/sdk/activity"
)

// ToolCallWorkflowType is the workflow type of an agent's own data-tool call
// (call_service outside any process). The gateway holds such calls to the direct-call
// policy; a process's calls are its definition's, which the operator wrote.
const ToolCallWorkflowType = "tool_call"

// ErrTypeNotAllowed marks a call the gateway's policy keeps for processes: a write an
// agent may not make directly, because a process makes it after its approval.
const ErrTypeNotAllowed = "NotAllowed"

// DirectCall is one endpoint that agents may call with call_service outside a process,
// besides GET, which is always open: a method and a path pattern (path.Match syntax, e.g.
// "orders" or "accounts/*") of one service.
type DirectCall struct {
	Service string `json:"service"`
	Method  string `json:"method"`
	Path    string `json:"path"`
}

// String is the rule as ParseDirectCalls reads it: "service METHOD path".
func (d DirectCall) String() string { return d.Service + " " + d.Method + " " + d.Path }

// DirectCalls is the gateway's policy for agents' own calls: GET is open on every
// service; any other method is open only on the endpoints listed.
type DirectCalls []DirectCall

// DirectCallsSyntax is what ParseDirectCalls accepts, for flag help and errors.
const DirectCallsSyntax = `"service METHOD path-pattern" entries separated by commas, e.g. "orders POST orders, users POST accounts/*"`

// ParseDirectCalls reads a policy of comma-separated "service METHOD path-pattern"
// entries. An empty string is an empty policy (GET only).
func ParseDirectCalls(s string) (DirectCalls, error) {
	var out DirectCalls
	for _, part := range strings.Split(s, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%q is not an entry of 3 words; give %s", strings.TrimSpace(part), DirectCallsSyntax)
		}
		d := DirectCall{Service: fields[0], Method: strings.ToUpper(fields[1]), Path: strings.Trim(fields[2], "/")}
		if d.Method != http.MethodPost {
			return nil, fmt.Errorf("%q: method %s needs no entry (GET is always open) or is not one call_service sends; allowed is POST", strings.TrimSpace(part), d.Method)
		}
		if _, err := path.Match(d.Path, ""); err != nil || d.Path == "" {
			return nil, fmt.Errorf("%q: path %q is not a valid pattern (path.Match syntax, e.g. accounts/*)", strings.TrimSpace(part), fields[2])
		}
		out = append(out, d)
	}
	return out, nil
}

// Allows tells whether an agent may call method endpoint on service directly.
func (p DirectCalls) Allows(service, method, endpoint string) bool {
	method = strings.ToUpper(method)
	if method == "" || method == http.MethodGet {
		return true
	}
	p0 := endpointPath(endpoint)
	for _, d := range p {
		if d.Service == service && d.Method == method {
			if ok, _ := path.Match(d.Path, p0); ok {
				return true
			}
		}
	}
	return false
}

// String lists the open endpoints, for tool descriptions and errors.
func (p DirectCalls) String() string {
	if len(p) == 0 {
		return "none"
	}
	parts := make([]string, len(p))
	for i, d := range p {
		parts[i] = d.Service + ": " + d.Method + " " + d.Path
	}
	return strings.Join(parts, ", ")
}

// Refusal is the error for a direct call the policy does not open. process, when not
// empty, names the process whose definition makes that call after its approval.
func (p DirectCalls) Refusal(service, method, endpoint, process string) error {
	ep := endpointPath(endpoint)
	msg := fmt.Sprintf("%s %s/%s is not open to direct calls: call_service may send GET to any service, and %s only to %s",
		method, service, ep, method, p.String())
	if process != "" {
		msg = fmt.Sprintf("%s %s/%s is done by the %s process after its approval: start_workflow workflow_type=%s (call_service may send GET to any service, and %s only to %s)",
			method, service, ep, process, process, method, p.String())
	}
	return expected(ErrTypeNotAllowed, msg)
}

// endpointPath is an endpoint's path without its query and outer slashes, as the
// policy's patterns name it.
func endpointPath(endpoint string) string {
	return strings.Trim(strings.SplitN(endpoint, "?", 2)[0], "/")
}

// isDirectCall tells whether ctx is an activity of an agent's own tool call.
func isDirectCall(ctx context.Context) bool {
	if !activity.IsActivity(ctx) {
		return false
	}
	t := activity.GetInfo(ctx).WorkflowType
	return t != nil && t.Name == ToolCallWorkflowType
}
