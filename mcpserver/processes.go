package mcpserver

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/flowgate/flowgate/internal/app"
)

// ProcessView describes a process definition to agents (app.ProcessView).
type ProcessView = app.ProcessView

// StepView is one step of a process as describe_process shows it (app.StepView).
type StepView = app.StepView

// workflowTypes lists what start_workflow can start: the Go processes, then the loaded
// definitions.
func (s *Server) workflowTypes() []string { return s.app.Processes() }

// processLines is the part of start_workflow's description that lists the processes it
// can start, built in or loaded, each with its parameters as its schema declares them.
func (s *Server) processLines() string {
	var b strings.Builder
	for _, p := range s.cfg.Processes.List() {
		d := p.Definition
		fmt.Fprintf(&b, "- %s (%s, v%d): %s\n", d.Name, d.Title, d.Version, paramSummary(d.Parameters))
	}
	return b.String()
}

// paramSummary says a parameter schema's properties in a line: each with its type or its
// values, whether it is required, and its description; the required ones first.
func paramSummary(schema map[string]any) string {
	props, _ := schema["properties"].(map[string]any)
	if len(props) == 0 {
		return "no parameters ({})."
	}
	var required []string
	if r, ok := schema["required"].([]any); ok {
		for _, x := range r {
			if name, ok := x.(string); ok && props[name] != nil {
				required = append(required, name)
			}
		}
	}
	names := slices.Clone(required)
	for _, name := range slices.Sorted(maps.Keys(props)) {
		if !slices.Contains(required, name) {
			names = append(names, name)
		}
	}
	parts := make([]string, 0, len(names))
	for _, name := range names {
		prop, _ := props[name].(map[string]any)
		kind := valueKind(prop)
		if items, ok := prop["items"].(map[string]any); ok && prop["type"] == "array" {
			kind = "list of " + valueKind(items)
		}
		if slices.Contains(required, name) {
			kind += ", required"
		}
		part := fmt.Sprintf("%q (%s)", name, kind)
		if desc, _ := prop["description"].(string); desc != "" {
			part += ": " + strings.TrimSuffix(strings.TrimSpace(desc), ".")
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ") + "."
}

// valueKind is a schema's values in words: its enum's values, or its type.
func valueKind(schema map[string]any) string {
	values, ok := schema["enum"].([]any)
	if !ok {
		return fmt.Sprint(schema["type"])
	}
	vs := make([]string, len(values))
	for i, v := range values {
		vs[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(vs, " | ")
}

func (s *Server) addProcessTools() {
	names := s.cfg.Processes.Names()
	opts := []mcp.ToolOption{
		mcp.WithDescription("Describe a process definition that start_workflow can run: what it does, its parameters as JSON Schema, each step (and its condition), the approval gates with who may decide, how many approvals they need and their deadlines, and how each step is undone."),
		mcp.WithOutputSchema[ProcessView](),
		readOnly("Describe a process"),
	}
	if len(names) > 0 {
		opts = append(opts, mcp.WithString("name", mcp.Required(), mcp.Enum(names...), mcp.Description("The process name, as start_workflow's workflow_type.")))
	} else {
		opts = append(opts, mcp.WithString("name", mcp.Required(), mcp.Description("The process name; none is loaded now (start flowgate with --processes DIR).")))
	}
	s.mcp.AddTool(mcp.NewTool("describe_process", opts...), typed(s.describeProcessTool))
}

// ProcessArgs are the arguments of describe_process.
type ProcessArgs struct {
	Name string `json:"name"`
}

func (s *Server) describeProcessTool(ctx context.Context, _ mcp.CallToolRequest, args ProcessArgs) (*mcp.CallToolResult, error) {
	v, err := s.app.Describe(s.caller(ctx), args.Name)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	var gates []string
	for _, st := range v.Steps {
		if st.Gate != nil {
			gates = append(gates, st.Name)
		}
	}
	text := fmt.Sprintf("%s (%s) v%d, hash %s: %d steps, approval gates %s. Start it with start_workflow workflow_type=%s.",
		v.Name, v.Title, v.Version, v.Hash[:12], len(v.Steps), orNone(gates), v.Name)
	return mcp.NewToolResultStructured(v, text), nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// processResources are the process://{name} resources of the loaded definitions.
func (s *Server) processResources() []server.ServerResource {
	var out []server.ServerResource
	for _, p := range s.cfg.Processes.List() {
		d := p.Definition
		uri := "process://" + d.Name
		out = append(out, server.ServerResource{
			Resource: mcp.NewResource(uri, d.Title,
				mcp.WithResourceDescription(fmt.Sprintf("Process definition %s v%d: parameters, steps, gates and who may decide.", d.Name, d.Version)),
				mcp.WithMIMEType("application/json")),
			Handler: func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				return s.readProcess(req.Params.URI, d.Name)
			},
		})
	}
	return out
}

func (s *Server) readProcess(uri, name string) ([]mcp.ResourceContents, error) {
	p, ok := s.cfg.Processes.Get(name)
	if !ok {
		return nil, notFoundError(fmt.Sprintf("process %q is not loaded; loaded: %s", name, orNone(s.cfg.Processes.Names())))
	}
	return jsonContents(uri, app.DescribeProcess(p))
}

// addProcesses registers what depends on the loaded definitions, and registers it again
// (clients get list_changed notifications) whenever the catalog changes.
func (s *Server) addProcesses() {
	s.mcp.AddResourceTemplate(mcp.NewResourceTemplate("process://{name}", "Process definition",
		mcp.WithTemplateDescription("A process definition start_workflow can run: parameters (JSON Schema), steps, gates and who may decide."),
		mcp.WithTemplateMIMEType("application/json"),
	), func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return s.readProcess(req.Params.URI, argString(req.Params.Arguments, "name"))
	})
	s.publishProcesses()
	if s.cfg.Processes != nil {
		s.cfg.Processes.OnChange(s.publishProcesses)
	}
}

// publishProcesses (re)registers the tools whose schemas list the processes and the
// process resources.
func (s *Server) publishProcesses() {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	s.addWorkflowTools()
	s.addProcessTools()
	res := s.processResources()
	var stale []string
	for _, uri := range s.published {
		if !slices.ContainsFunc(res, func(r server.ServerResource) bool { return r.Resource.URI == uri }) {
			stale = append(stale, uri)
		}
	}
	if len(stale) > 0 {
		s.mcp.DeleteResources(stale...)
	}
	s.published = s.published[:0]
	for _, r := range res {
		s.published = append(s.published, r.Resource.URI)
	}
	if len(res) > 0 {
		s.mcp.AddResources(res...)
	}
}
