package mcpserver

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// callTool calls a tool of s in process as the identity id (nil: no authentication, every
// scope) and returns its result.
func callTool(t *testing.T, s *Server, id *Identity, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx := context.Background()
	if id != nil {
		ctx = WithIdentity(ctx, *id)
	}
	st := s.mcp.GetTool(tool)
	if st == nil {
		t.Fatalf("no tool %s", tool)
	}
	var req mcp.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := st.Handler(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return res
}

func structured[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	var out T
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func refundFiles(t *testing.T) (string, string) {
	t.Helper()
	def, err := os.ReadFile("../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("../examples/processes/refund_approval.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(def), string(tests)
}

var admin = &Identity{Subject: "ops", Scopes: []string{ScopeAdmin}}

// TestValidateProcessNamesLinesOrDescribes: a good definition is ok with a summary of its
// gates; a bad one gets each problem with its line; nothing is loaded either way.
func TestValidateProcessNamesLinesOrDescribes(t *testing.T) {
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := refundFiles(t)
	res := callTool(t, s, admin, "validate_process", map[string]any{"definition": def})
	got := structured[ValidateProcessResult](t, res)
	if res.IsError || !got.OK || got.Process == nil || got.Process.Name != "refund_approval" ||
		!strings.Contains(resultText(res), "ok: refund_approval (Refund approval) v3: 7 steps, approval gates finance_approval, approval.") {
		t.Errorf("good definition: %+v %q", got, resultText(res))
	}
	bad := strings.Replace(def, "statement: find_order\n", "statement: find_ordr\n", 1)
	res = callTool(t, s, admin, "validate_process", map[string]any{"definition": bad})
	got = structured[ValidateProcessResult](t, res)
	if got.OK || len(got.Problems) == 0 || !strings.HasPrefix(got.Problems[0], "definition.yaml:48:") || !strings.Contains(resultText(res), "find_ordr") {
		t.Errorf("bad definition: %+v %q", got, resultText(res))
	}
	if _, loaded := s.app.Describe(s.caller(context.Background()), "refund_approval"); loaded == nil {
		t.Error("validate_process loaded the definition")
	}
}

// TestTestProcessAnswersTheCLIReport: test_process runs the refund example's cases and
// answers the report of `flowgate processes test`; a wrong expectation fails with its
// diff, and a test file naming an unknown step is refused with its line.
func TestTestProcessAnswersTheCLIReport(t *testing.T) {
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	def, tests := refundFiles(t)
	res := callTool(t, s, admin, "test_process", map[string]any{"definition": def, "tests": tests})
	got := structured[TestProcessResult](t, res)
	if res.IsError || got.Failed != 0 || got.Passed != len(got.Cases) || got.Passed < 7 || !strings.Contains(resultText(res), "ok   definition.test.yaml: a small refund needs one approver") ||
		len(got.Skipped) != 2 || !strings.Contains(resultText(res), "skip "+got.Skipped[0]+": backends: demo runs only with flowgate processes test") {
		t.Fatalf("%+v\n%s", got, resultText(res))
	}
	wrong := `cases:
  - name: wrong expectation
    params: {order_id: ORD-01001, amount_cents: 100, reason: twice}
    mocks:
      find_order: [{output: {rows_returned: 1, row: {status: refunded}}}]
    expect: {status: completed}
`
	res = callTool(t, s, admin, "test_process", map[string]any{"definition": def, "tests": wrong})
	got = structured[TestProcessResult](t, res)
	want := "FAIL definition.test.yaml:2: wrong expectation"
	if got.Passed != 0 || got.Failed != 1 || len(got.Cases) != 1 || got.Cases[0].Line != 2 ||
		!strings.Contains(got.Report, want) || !strings.Contains(got.Report, "     status: (- expected, + actual)\n         - completed\n         + failed\n") ||
		!strings.Contains(got.Report, "0 passed, 1 failed") {
		t.Errorf("%+v\n%s", got, got.Report)
	}
	unknown := strings.Replace(wrong, "find_order:", "find_ordr:", 1)
	res = callTool(t, s, admin, "test_process", map[string]any{"definition": def, "tests": unknown})
	got = structured[TestProcessResult](t, res)
	if len(got.Problems) != 1 || !strings.HasPrefix(got.Problems[0], `definition.test.yaml:5: no step of refund_approval has the key "find_ordr"`) || len(got.Cases) != 0 {
		t.Errorf("%+v", got)
	}
}

// TestProcessProofToolsNeedAdmin: without the admin scope both tools refuse and run
// nothing, over every transport (the handler checks too) and at the HTTP layer; an
// oversized text is refused before it is parsed.
func TestProcessProofToolsNeedAdmin(t *testing.T) {
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	def, tests := refundFiles(t)
	reader := &Identity{Subject: "rita", Scopes: []string{ScopeRead, ScopeWrite, ScopeApprove}}
	for tool, args := range map[string]map[string]any{
		"validate_process": {"definition": def},
		"test_process":     {"definition": def, "tests": tests},
	} {
		res := callTool(t, s, reader, tool, args)
		if !res.IsError || !strings.Contains(resultText(res), tool+" needs the admin scope, which rita does not hold") {
			t.Errorf("%s as rita: %q", tool, resultText(res))
		}
		if toolScope(tool) != ScopeAdmin {
			t.Errorf("%s needs %q at the HTTP layer", tool, toolScope(tool))
		}
		ann := s.mcp.GetTool(tool).Tool.Annotations
		if !*ann.ReadOnlyHint || *ann.DestructiveHint || !*ann.IdempotentHint || *ann.OpenWorldHint {
			t.Errorf("%s annotations %+v", tool, ann)
		}
	}
	big := strings.Repeat("#", MaxProcessText+1)
	if res := callTool(t, s, admin, "validate_process", map[string]any{"definition": big}); !res.IsError || !strings.Contains(resultText(res), "at most 262144 are allowed") {
		t.Errorf("oversized: %q", resultText(res))
	}
}
