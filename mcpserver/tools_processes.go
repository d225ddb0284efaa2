package mcpserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/proctest"
	"github.com/flowgate/flowgate/workflows"
)

// Bounds of the proving tools: the text of a definition or a test file, the cases one
// call runs (each case is bounded by proctest: its simulated time, its calls, 30 s of real
// time without progress), and the calls that run cases at once on this server.
const (
	MaxProcessText  = 256 << 10
	MaxProcessCases = 100
	maxProving      = 2
)

// definitionFile names the definition text in the problems the tools report.
const (
	definitionFile = "definition.yaml"
	testsFile      = "definition.test.yaml"
)

// ValidateProcessArgs are the arguments of validate_process.
type ValidateProcessArgs struct {
	Definition string `json:"definition"`
}

// TestProcessArgs are the arguments of test_process.
type TestProcessArgs struct {
	Definition string `json:"definition"`
	Tests      string `json:"tests"`
}

// ValidateProcessResult is what validate_process answers: ok with the process as
// describe_process would show it, or the problems, each with its line.
type ValidateProcessResult struct {
	OK       bool         `json:"ok"`
	Problems []string     `json:"problems,omitempty"`
	Process  *ProcessView `json:"process,omitempty"`
}

// CaseResult is one test case as test_process reports it.
type CaseResult struct {
	Name   string `json:"name"`
	Line   int    `json:"line"`
	Passed bool   `json:"passed"`
	// Problems are what differs from what the case expects, each a line diff.
	Problems   []string `json:"problems,omitempty"`
	DurationMS int64    `json:"duration_ms"`
}

// TestProcessResult is what test_process answers: the same report as `flowgate
// processes test`, as data and as its text.
type TestProcessResult struct {
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	// Problems are why the test file or the definition was refused (file:line); no case
	// ran then.
	Problems []string `json:"problems,omitempty"`
	// Skipped are the cases that run on the demo backends (backends: demo), which only
	// flowgate processes test runs.
	Skipped []string     `json:"skipped,omitempty"`
	Cases   []CaseResult `json:"cases"`
	Report  string       `json:"report"`
}

func (s *Server) addProcessProofTools() {
	s.proving = make(chan struct{}, maxProving)
	s.mcp.AddTool(mcp.NewTool("validate_process",
		mcp.WithDescription(fmt.Sprintf(`Check a process definition given as YAML text, as the server checks a definition file when it loads one (schema, steps, CEL expressions, services, templates), without loading it: nothing can be started from it.
Answers ok with a summary of the process (parameters, steps, gates), or every problem as definition.yaml:LINE: what is wrong and what is allowed.
Use it while drafting a definition; then prove its behaviour with test_process. Text of at most %d KiB.`, MaxProcessText>>10)),
		mcp.WithString("definition", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(MaxProcessText),
			mcp.Description("The definition file's YAML text (name, title, version, parameters, steps, ...).")),
		mcp.WithOutputSchema[ValidateProcessResult](),
		readOnly("Validate a process definition"),
	), typed(s.validateProcessTool))
	s.mcp.AddTool(mcp.NewTool("test_process",
		mcp.WithDescription(fmt.Sprintf(`Run the test cases of a process definition, both given as YAML text, on mocked backends in a time-skipping test environment (a 72h deadline passes in milliseconds), and get the report of flowgate processes test: per case passed or failed with a diff of expected (-) against actual (+), and N passed, N failed.
tests is a test file (docs/testing.md): cases:, each with name, as, params, mocks (answers per step key), script (approve/reject/... a gate as someone, event: WAIT with a payload, advance: 72h, cancel) and expect (status, steps, outputs, record, notifications, calls). Its definition: field is ignored: the definition argument is tested.
Nothing is loaded or started and no backend is called. At most %d cases and %d KiB of text each; a case stops at its limit of simulated time or after 30 s without progress.`, MaxProcessCases, MaxProcessText>>10)),
		mcp.WithString("definition", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(MaxProcessText),
			mcp.Description("The definition file's YAML text.")),
		mcp.WithString("tests", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(MaxProcessText),
			mcp.Description("The test file's YAML text (NAME.test.yaml): identities and cases.")),
		mcp.WithOutputSchema[TestProcessResult](),
		readOnly("Test a process definition"),
	), typed(s.testProcessTool))
}

// needAdmin refuses a caller without the admin scope (the HTTP layer refuses them first;
// this holds for every transport).
func (s *Server) needAdmin(ctx context.Context, tool string) *mcp.CallToolResult {
	if c := s.caller(ctx); !c.Has(app.ScopeAdmin) {
		return mcp.NewToolResultError(fmt.Sprintf("%s needs the %s scope, which %s does not hold; ask an operator to run it or to grant the scope", tool, ScopeAdmin, c.Name))
	}
	return nil
}

func checkSize(name, text string) string {
	if len(text) > MaxProcessText {
		return fmt.Sprintf("%s is %d bytes; at most %d are allowed", name, len(text), MaxProcessText)
	}
	return ""
}

func (s *Server) definitionRules() workflows.DefinitionRules {
	services := s.cfg.Services
	if len(services) == 0 {
		services = activities.DefaultServiceNames
	}
	return workflows.DefinitionRules{Services: services}
}

func (s *Server) validateProcessTool(ctx context.Context, _ mcp.CallToolRequest, args ValidateProcessArgs) (*mcp.CallToolResult, error) {
	if res := s.needAdmin(ctx, "validate_process"); res != nil {
		return res, nil
	}
	if msg := checkSize("definition", args.Definition); msg != "" {
		return mcp.NewToolResultError(msg), nil
	}
	p, err := processes.Parse(definitionFile, []byte(args.Definition), s.definitionRules())
	if err != nil {
		out := ValidateProcessResult{Problems: problemLines(err)}
		return mcp.NewToolResultStructured(out, fmt.Sprintf("invalid: %d problems\n%s", len(out.Problems), strings.Join(out.Problems, "\n"))), nil
	}
	v := app.DescribeProcess(p)
	var gates []string
	for _, st := range v.Steps {
		if st.Gate != nil {
			gates = append(gates, st.Name)
		}
	}
	text := fmt.Sprintf("ok: %s (%s) v%d: %d steps, approval gates %s. Not loaded: an operator adds the file to the server's --processes folder.",
		v.Name, v.Title, v.Version, len(v.Steps), orNone(gates))
	return mcp.NewToolResultStructured(ValidateProcessResult{OK: true, Process: &v}, text), nil
}

// problemLines are the lines of a joined error, one problem each.
func problemLines(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (s *Server) testProcessTool(ctx context.Context, _ mcp.CallToolRequest, args TestProcessArgs) (*mcp.CallToolResult, error) {
	if res := s.needAdmin(ctx, "test_process"); res != nil {
		return res, nil
	}
	for _, t := range []struct{ name, text string }{{"definition", args.Definition}, {"tests", args.Tests}} {
		if msg := checkSize(t.name, t.text); msg != "" {
			return mcp.NewToolResultError(msg), nil
		}
	}
	// The definition is checked as a server loads one (its services), then the tests.
	if _, err := processes.Parse(definitionFile, []byte(args.Definition), s.definitionRules()); err != nil {
		return refusedTests(err), nil
	}
	f, err := proctest.Parse(testsFile, []byte(args.Tests), []byte(args.Definition))
	if err != nil {
		return refusedTests(err), nil
	}
	// A demo case would start backends and a database inside the server's process: the
	// tool proves definitions on mocks only, and says which cases it left to the CLI.
	var skipped []string
	f.Cases = slices.DeleteFunc(f.Cases, func(c proctest.Case) bool {
		if c.Demo() {
			skipped = append(skipped, c.Name)
		}
		return c.Demo()
	})
	if len(f.Cases) > MaxProcessCases {
		return mcp.NewToolResultError(fmt.Sprintf("tests has %d cases; at most %d run in one call: split them", len(f.Cases), MaxProcessCases)), nil
	}
	select {
	case s.proving <- struct{}{}:
		defer func() { <-s.proving }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	start := time.Now()
	rep := proctest.Report{Files: []*proctest.File{f}}
	for i := range f.Cases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, f.RunCase(&f.Cases[i]))
	}
	rep.Duration = time.Since(start)
	var text strings.Builder
	rep.Write(&text)
	for _, name := range skipped {
		fmt.Fprintf(&text, "skip %s: backends: demo runs only with flowgate processes test\n", name)
	}
	out := TestProcessResult{Passed: rep.Passed(), Failed: rep.Failed(), Skipped: skipped, Cases: []CaseResult{}, Report: text.String()}
	for _, r := range rep.Results {
		out.Cases = append(out.Cases, CaseResult{Name: r.Case, Line: r.Line, Passed: r.Passed(), Problems: r.Problems, DurationMS: r.Duration.Milliseconds()})
	}
	return mcp.NewToolResultStructured(out, out.Report), nil
}

// refusedTests is test_process's answer when the definition or the test file is refused:
// a report of the problems, with no case run.
func refusedTests(err error) *mcp.CallToolResult {
	rep := proctest.Report{Errors: []error{err}}
	var text strings.Builder
	rep.Write(&text)
	out := TestProcessResult{Problems: problemLines(err), Cases: []CaseResult{}, Failed: rep.Failed(), Report: text.String()}
	return mcp.NewToolResultStructured(out, out.Report)
}
