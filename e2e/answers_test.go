package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// glitches are signs of text that does not read well or leaks Temporal's internals.
var glitches = []string{"step ,", ", ,", `""`, " 1 rows", "(type:", "retryable", "  ", "..", "serviceerror", "rpc error"}

func checkText(t *testing.T, what, text string) {
	t.Helper()
	for _, g := range glitches {
		if strings.Contains(text, g) {
			t.Errorf("%s text has %q: %s", what, g, text)
		}
	}
}

// TestMCPAnswersTellWhatHappened: a reject answers with the run rejected and the steps it
// undoes (never the gate it left), an approve with the step it went on to; cancel of an
// ended run is refused with how and when it ended; every text reads cleanly.
func TestMCPAnswersTellWhatHappened(t *testing.T) {
	env := testenv.Shared(t)
	cs := connectHTTP(t, env.MCPURL)
	start := func(kind string, params map[string]any) string {
		var s mcpserver.StartResult
		r := callTool(t, cs, "start_workflow", map[string]any{"workflow_type": kind, "parameters": params})
		checkText(t, "start_workflow", r.Text)
		r.decode(t, &s)
		return s.WorkflowID
	}
	email := func() string { return "answers." + uuid.NewString()[:8] + "@example.com" }

	rejected := start("onboarding", map[string]any{"email": email(), "name": "Ann Swers", "role": "viewer"})
	approved := start("onboarding", map[string]any{"email": email(), "name": "Al Right", "role": "editor"})
	for _, id := range []string{rejected, approved} {
		testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
		checkText(t, "get_workflow_status", callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}).Text)
	}

	r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": rejected, "action": "reject", "step": "manager_approval", "comment": "not this one"})
	var v mcpserver.StatusResult
	r.decode(t, &v)
	if v.Status != workflows.StatusRejected || !strings.Contains(r.Text, "rejected, undoing 2 steps (provision_accounts, create_user_record)") ||
		strings.Contains(r.Text, "waiting_approval") || strings.Contains(r.Text, "manager_approval") {
		t.Errorf("answer to reject: status %s, text %q", v.Status, r.Text)
	}
	checkText(t, "advance_workflow reject", r.Text)

	r = callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": approved, "action": "approve", "step": "manager_approval"})
	r.decode(t, &v)
	if !strings.Contains(r.Text, "approved, now at step grant_access") || strings.Contains(r.Text, "manager_approval") {
		t.Errorf("answer to approve: %q", r.Text)
	}
	checkText(t, "advance_workflow approve", r.Text)

	testenv.WaitForStatus(t, env.Client, rejected, workflows.StatusRejected)
	testenv.WaitForStatus(t, env.Client, approved, workflows.StatusCompleted)
	for id, how := range map[string]string{rejected: "rejected", approved: "completed"} {
		r := callTool(t, cs, "cancel_workflow", map[string]any{"workflow_id": id, "reason": "changed my mind"})
		if !r.IsError || !strings.Contains(r.Text, "already ended "+how+" at 20") || !strings.Contains(r.Text, "nothing was changed") {
			t.Errorf("cancel of a %s run: error %t, %q", how, r.IsError, r.Text)
		}
		st := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id})
		checkText(t, "get_workflow_status of ended run", st.Text)
		var sv mcpserver.StatusResult
		st.decode(t, &sv)
		if string(sv.Status) != how || sv.ClosedAt == nil || sv.StartedAt.IsZero() {
			t.Errorf("status of %s run after refused cancel = %s, started %v closed %v", how, sv.Status, sv.StartedAt, sv.ClosedAt)
		}
	}
	l := callTool(t, cs, "list_workflows", map[string]any{"workflow_type": "onboarding", "limit": 5})
	checkText(t, "list_workflows", l.Text)

	running := start("deployment", map[string]any{"service": "orders", "version": "9.9.9", "environment": "staging"})
	testenv.WaitForStatus(t, env.Client, running, workflows.StatusWaitingApproval)
	c := callTool(t, cs, "cancel_workflow", map[string]any{"workflow_id": running, "reason": "not this week"})
	if c.IsError || strings.Count(strings.ToLower(c.Text), "requested") != 1 {
		t.Errorf("cancel of a running run: error %t, %q (say it once)", c.IsError, c.Text)
	}
	checkText(t, "cancel_workflow", c.Text)
	testenv.WaitForStatus(t, env.Client, running, workflows.StatusCancelled)

	q := callTool(t, cs, "execute_query", map[string]any{"query": "SELECT id FROM users ORDER BY id LIMIT 1"})
	if !strings.HasPrefix(q.Text, "1 row: ") {
		t.Errorf("one row reads %q", q.Text)
	}
	checkText(t, "execute_query", q.Text)

	// A deployment names the version it replaced, or says nothing was there: never previous version "".
	first := start("deployment", map[string]any{"service": "products", "version": "0.0.1-" + uuid.NewString()[:8], "environment": "dev"})
	testenv.WaitForStatus(t, env.Client, first, workflows.StatusCompleted)
	res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "workflow://" + first + "/details"})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Contents[0].Text; strings.Contains(text, `previous version \"`) ||
		!(strings.Contains(text, "nothing was deployed there before") || strings.Contains(text, "(previous version ")) {
		t.Errorf("first deployment's record: %s", text)
	}
}

// TestMCPListCursors: a cursor that this tool did not make, or made for other filters, is
// refused at once naming the field; paging ends with has_more false on the last page,
// with no empty page after it, also when the last page is exactly full.
func TestMCPListCursors(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{})
	cs := connectHTTP(t, env.MCPURL)
	for _, bad := range []string{"garbage", "Z2FyYmFnZQ", "eyJ2IjoxfQ", "%%%"} {
		began := time.Now()
		r := callTool(t, cs, "list_workflows", map[string]any{"cursor": bad})
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("cursor %q took %s", bad, took)
		}
		if !r.IsError || !strings.HasPrefix(r.Text, "cursor: is not a cursor this tool returned") || strings.Contains(r.Text, "unavailable") {
			t.Errorf("cursor %q: error %t, %q", bad, r.IsError, r.Text)
		}
	}
	startVisibleAudits(t, env.Client, cs, 4)
	var pages []int
	cursor := ""
	for range 5 {
		args := map[string]any{"workflow_type": "audit", "limit": 2}
		if cursor != "" {
			args["cursor"] = cursor
		}
		var l mcpserver.ListResult
		callTool(t, cs, "list_workflows", args).decode(t, &l)
		pages = append(pages, len(l.Items))
		if !l.Pagination.HasMore {
			if l.Pagination.NextCursor != "" {
				t.Errorf("last page has a cursor")
			}
			break
		}
		cursor = l.Pagination.NextCursor
		// The cursor belongs to its filters: reused with another, it is refused.
		if r := callTool(t, cs, "list_workflows", map[string]any{"workflow_type": "deployment", "cursor": cursor}); !r.IsError {
			t.Errorf("cursor of the audit listing accepted for deployments")
		}
	}
	if fmt.Sprint(pages) != "[2 2]" {
		t.Errorf("pages of 4 audits by 2 = %v, want [2 2] and has_more false on the second", pages)
	}
}

// TestMCPListsWithoutCountingWhenACountIsSlow: a server whose count budget is spent before
// any count can answer (as with many thousands of runs) still pages exactly: has_more is
// true while a page follows and false on the last one, even when that one is exactly full;
// total is given on the last page (it holds the rest) and whenever include_total asks.
func TestMCPListsWithoutCountingWhenACountIsSlow(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{NoMCP: true})
	m, err := mcpserver.New(mcpserver.Config{Client: env.Client, ListCountBudget: time.Nanosecond, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	cs := connectHTTP(t, h.URL())
	startVisibleAudits(t, env.Client, cs, 5)
	list := func(args map[string]any) mcpserver.ListResult {
		var l mcpserver.ListResult
		r := callTool(t, cs, "list_workflows", args)
		r.decode(t, &l)
		if l.Pagination.Total == nil && !strings.Contains(r.Text, "More than") {
			t.Errorf("an uncounted page does not say so: %s", r.Text)
		}
		return l
	}
	var pages []string
	cursor := ""
	for range 5 {
		args := map[string]any{"workflow_type": "audit", "limit": 2}
		if cursor != "" {
			args["cursor"] = cursor
		}
		l := list(args)
		pages = append(pages, fmt.Sprintf("%d/%s/%t", len(l.Items), totalText(l), l.Pagination.HasMore))
		if !l.Pagination.HasMore {
			break
		}
		cursor = l.Pagination.NextCursor
	}
	if got := strings.Join(pages, " "); got != "2/-/true 2/-/true 1/5/false" {
		t.Errorf("pages (items/total/has_more) = %s, want 2/-/true 2/-/true 1/5/false", got)
	}
	// A full page with nothing after it: Temporal hands out a token, the look ahead finds
	// nothing, so has_more is false and the total is known.
	if l := list(map[string]any{"workflow_type": "audit", "limit": 5}); l.Pagination.HasMore || totalText(l) != "5" || l.Pagination.NextCursor != "" {
		t.Errorf("an exactly full last page: has_more %t, total %s, cursor %q", l.Pagination.HasMore, totalText(l), l.Pagination.NextCursor)
	}
	first := list(map[string]any{"workflow_type": "audit", "limit": 2, "include_total": true})
	if totalText(first) != "5" || !first.Pagination.HasMore {
		t.Fatalf("include_total: total %s, has_more %t; want 5 and true", totalText(first), first.Pagination.HasMore)
	}
	// The count travels with the cursor to the next page.
	if next := list(map[string]any{"workflow_type": "audit", "limit": 2, "cursor": first.Pagination.NextCursor}); totalText(next) != "5" {
		t.Errorf("the page after a counted one: total %s, want 5", totalText(next))
	}
}

// totalText is a listing's pagination.total, "-" when it was not counted.
func totalText(l mcpserver.ListResult) string {
	if l.Pagination.Total == nil {
		return "-"
	}
	return fmt.Sprint(*l.Pagination.Total)
}

// TestMCPStartRefusesWhatItCannotKeep: a deployment of a service the gateway does not know
// is refused before anything starts, and an idempotency key reused with other parameters
// is refused naming the key and its run, instead of answering with the old run.
func TestMCPStartRefusesWhatItCannotKeep(t *testing.T) {
	env := testenv.Shared(t)
	cs := connectHTTP(t, env.MCPURL)
	r := callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "billing", "version": "1.0.0", "environment": "staging"}})
	if !r.IsError || !strings.HasPrefix(r.Text, `parameters.service: "billing" is not a service the gateway is configured for; allowed: `) || !strings.Contains(r.Text, "orders") {
		t.Errorf("unknown service: error %t, %q", r.IsError, r.Text)
	}
	key := "reuse-" + uuid.NewString()
	args := func(version string) map[string]any {
		return map[string]any{"workflow_type": "deployment", "idempotency_key": key,
			"parameters": map[string]any{"service": "orders", "version": version, "environment": "staging"}}
	}
	var first mcpserver.StartResult
	callTool(t, cs, "start_workflow", args("4.0.0")).decode(t, &first)
	r = callTool(t, cs, "start_workflow", args("4.0.1"))
	if !r.IsError || !strings.Contains(r.Text, `idempotency_key "`+key+`" was already used for workflow `+first.WorkflowID+" with other parameters") {
		t.Errorf("key reused with other parameters: error %t, %q", r.IsError, r.Text)
	}
	var again mcpserver.StartResult
	callTool(t, cs, "start_workflow", args("4.0.0")).decode(t, &again)
	if !again.Existing || again.WorkflowID != first.WorkflowID {
		t.Errorf("same key, same parameters = %+v", again)
	}
}
