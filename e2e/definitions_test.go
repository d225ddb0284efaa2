package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// keyTransport authenticates every request with an API key.
type keyTransport struct{ key string }

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-API-Key", k.key)
	return http.DefaultTransport.RoundTrip(r)
}

// connectAs connects the official Go SDK client with an API key.
func connectAs(t testing.TB, url, key string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "flowgate-e2e", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true,
		HTTPClient: &http.Client{Transport: keyTransport{key}}}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// writeKeys writes an API keys file: name → scopes; each key is "<name>-key".
func writeKeys(t *testing.T, dir string, keys map[string][]string) string {
	t.Helper()
	var list []mcpserver.APIKey
	for name, scopes := range keys {
		list = append(list, mcpserver.APIKey{Name: name, SHA256: keyHash(name + "-key"), Scopes: scopes})
	}
	raw, _ := json.Marshal(list)
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func statusOf(t *testing.T, cs *mcp.ClientSession, id string) workflows.StatusView {
	t.Helper()
	var v workflows.StatusView
	callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}).decode(t, &v)
	return v
}

func waitStatus(t *testing.T, cs *mcp.ClientSession, id string, want workflows.Status) workflows.StatusView {
	t.Helper()
	var v workflows.StatusView
	testenv.WaitFor(t, 60*time.Second, id+" "+string(want), func() (bool, error) {
		v = statusOf(t, cs, id)
		return v.Status == want, nil
	})
	return v
}

// TestAProcessDefinedInAFileRunsThroughMCP is the worked example of the README: a refund
// approval that exists only as a YAML file is loaded by `flowgate dev --processes DIR`,
// discovered, started, followed and approved through MCP by the official Go SDK client,
// with two distinct approvers from the finance group and the requester's own approval
// refused; the second approves a smaller amount (approved_cents; more than was asked is
// refused by the gate's rule), which is the refund issued. An edit of the file is picked up while the server runs (tools/list_changed and
// resources/list_changed),
// and the run started before the edit finishes on the definition it started with.
func TestAProcessDefinedInAFileRunsThroughMCP(t *testing.T) {
	// Its own flowgate dev process, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	copyFile(t, "../examples/processes/refund_approval.yaml", filepath.Join(procs, "refund_approval.yaml"))
	finance := []string{mcpserver.ScopeRead, mcpserver.ScopeApprove, "group:finance"}
	keys := writeKeys(t, dir, map[string][]string{
		"rita":    append([]string{mcpserver.ScopeWrite}, finance...), // a requester who is also in finance
		"fin-ann": finance,
		"fin-bob": finance,
		"mallory": {mcpserver.ScopeRead, mcpserver.ScopeApprove},
	})
	args, mcpAddr, demoPort := devOnFreePorts(t, filepath.Join(dir, "data"))
	dev := startDev(t, append(args, "--processes", procs, "--api-keys", keys)...)
	dev.waitReady(t, mcpAddr)
	if !strings.Contains(dev.out.String(), "refund_approval (from "+procs) {
		t.Errorf("the banner does not name the loaded process:\n%s", dev.out)
	}
	rita, ann, bob, mallory := connectAs(t, dev.mcpURL, "rita-key"), connectAs(t, dev.mcpURL, "fin-ann-key"),
		connectAs(t, dev.mcpURL, "fin-bob-key"), connectAs(t, dev.mcpURL, "mallory-key")

	// Discover: start_workflow lists it, describe_process and process:// describe it.
	ctx := context.Background()
	tools, err := rita.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var startTool *mcp.Tool
	for _, tool := range tools.Tools {
		if tool.Name == "start_workflow" {
			startTool = tool
		}
	}
	if startTool == nil || !strings.Contains(fmt.Sprint(startTool.InputSchema), "refund_approval") || !strings.Contains(startTool.Description, "refund_approval (Refund approval, v3)") {
		t.Fatalf("start_workflow does not offer refund_approval: %+v", startTool)
	}
	var desc mcpserver.ProcessView
	callTool(t, rita, "describe_process", map[string]any{"name": "refund_approval"}).decode(t, &desc)
	if desc.Version != 3 || len(desc.Hash) != 64 || len(desc.Steps) != 7 || desc.Steps[2].Gate == nil || desc.Steps[2].Gate.Quorum != 2 || desc.Steps[2].Gate.Scope != "group:finance" ||
		desc.Steps[1].Kind != "fail" || !strings.Contains(desc.Steps[1].Does, "is already refunded") {
		t.Errorf("describe_process = %+v", desc)
	}
	// Both gates let finance send a refund back for its amount or reason, three times at most.
	for _, i := range []int{2, 3} {
		if g := desc.Steps[i].Gate; g == nil || g.Changes == nil || fmt.Sprint(g.Changes.Revisable) != "[amount_cents reason]" || g.Changes.MaxRounds != 3 {
			t.Errorf("describe_process step %s gate %+v, want changes of amount_cents and reason, 3 rounds", desc.Steps[i].Name, g)
		}
	}
	res, err := rita.ReadResource(ctx, &mcp.ReadResourceParams{URI: "process://refund_approval"})
	if err != nil || len(res.Contents) != 1 || !strings.Contains(res.Contents[0].Text, `"quorum": 2`) {
		t.Errorf("process://refund_approval = %+v %v", res, err)
	}

	// Parameters that fail the schema are refused before anything starts, by field.
	bad := callTool(t, rita, "start_workflow", map[string]any{"workflow_type": "refund_approval",
		"parameters": map[string]any{"order_id": "ORD-01007", "amount_cents": 0, "reason": "x"}})
	if !bad.IsError || !strings.Contains(bad.Text, "parameters.amount_cents: minimum: got 0, want 1") || !strings.Contains(bad.Text, "parameters.reason") {
		t.Errorf("bad parameters: %+v", bad)
	}

	var started mcpserver.StartResult
	callTool(t, rita, "start_workflow", map[string]any{"workflow_type": "refund_approval", "idempotency_key": "refund-7",
		"parameters": map[string]any{"order_id": "ORD-01007", "amount_cents": 90000, "reason": "monitor arrived broken"}}).decode(t, &started)
	v := waitStatus(t, rita, started.WorkflowID, workflows.StatusWaitingApproval)
	if v.Waiting == nil || v.Waiting.Step != "finance_approval" || v.Waiting.Quorum != 2 || v.Process == nil || v.Process.Hash != desc.Hash {
		t.Fatalf("waiting = %+v, process %+v", v.Waiting, v.Process)
	}
	// An approve may say the smaller amount finance approves, no more than was asked.
	if v.Waiting.Inputs == nil || !slices.Equal(v.Waiting.Rules, []string{"finance cannot approve more than was asked"}) {
		t.Errorf("waiting.inputs %v, rules %v, want approved_cents and its rule", v.Waiting.Inputs, v.Waiting.Rules)
	}

	// Edit the file while the run waits: the server reloads it and tells clients.
	notified := listChangedNotifications(t, dev.mcpURL, "rita-key")
	src, _ := os.ReadFile(filepath.Join(procs, "refund_approval.yaml"))
	os.WriteFile(filepath.Join(procs, "refund_approval.yaml"), []byte(strings.Replace(string(src), "version: 3", "version: 4", 1)), 0o644)
	select {
	case <-notified:
	case <-time.After(20 * time.Second):
		t.Error("no notifications/tools/list_changed and notifications/resources/list_changed within 20s of editing a definition")
	}
	testenv.WaitFor(t, 20*time.Second, "describe_process shows version 4", func() (bool, error) {
		var d mcpserver.ProcessView
		callTool(t, rita, "describe_process", map[string]any{"name": "refund_approval"}).decode(t, &d)
		return d.Version == 4, nil
	})

	decideWith := func(cs *mcp.ClientSession, inputs map[string]any) toolResult {
		args := map[string]any{"workflow_id": started.WorkflowID, "action": "approve", "step": "finance_approval", "comment": "receipt checked"}
		if inputs != nil {
			args["inputs"] = inputs
		}
		return callTool(t, cs, "advance_workflow", args)
	}
	decide := func(cs *mcp.ClientSession) toolResult { return decideWith(cs, nil) }
	if r := decide(rita); !r.IsError || !strings.Contains(r.Text, "separation of duties") {
		t.Errorf("the requester's own approval: %+v", r)
	}
	if r := decide(mallory); !r.IsError || !strings.Contains(r.Text, "mallory may not decide at step finance_approval") {
		t.Errorf("an approver outside the group: %+v", r)
	}
	var after workflows.StatusView
	decide(ann).decode(t, &after)
	if after.Status != workflows.StatusWaitingApproval || after.Waiting == nil || !slices.Equal(after.Waiting.Approvals, []string{"fin-ann"}) {
		t.Errorf("after one approval: %+v", after)
	}
	if r := decide(ann); !r.IsError || !strings.Contains(r.Text, "fin-ann already approved") {
		t.Errorf("a second approval by the same person: %+v", r)
	}
	// fin-bob completes the quorum approving 40000 of the 90000 asked: the last approval's
	// inputs are the gate's, and the refund issued.
	if r := decideWith(bob, map[string]any{"approved_cents": 90001}); !r.IsError || !strings.Contains(r.Text, "finance cannot approve more than was asked") {
		t.Errorf("an approve of more than was asked: %+v", r)
	}
	if r := decideWith(bob, map[string]any{"approved_cents": 40000}); r.IsError {
		t.Fatalf("fin-bob's approve of 40000: %s", r.Text)
	}
	done := waitStatus(t, rita, started.WorkflowID, workflows.StatusCompleted)
	if done.Process == nil || done.Process.Version != 3 || done.Process.Hash != desc.Hash {
		t.Errorf("the run finished on %+v, want the version it started with", done.Process)
	}

	// The demo backends issued the refund once.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/orders/refunds", demoPort))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Count(string(raw), `"order_id":"ORD-01007"`) != 1 || !strings.Contains(string(raw), `"amount_cents":40000`) {
		t.Errorf("refunds = %s, want ORD-01007's once, of the 40000 approved", raw)
	}
	res, err = rita.ReadResource(ctx, &mcp.ReadResourceParams{URI: "workflow://" + started.WorkflowID + "/details"})
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
		t.Fatal(err)
	}
	if s := stepOf(st, "finance_approval"); s.Output != "approved by fin-ann, fin-bob with approved_cents=40000" {
		t.Errorf("finance_approval = %+v, want the amount approved in the record", s)
	}
	// Asked again for the same order, the guard stops the run before anyone is asked,
	// with its reason, and nothing more is refunded.
	var again mcpserver.StartResult
	callTool(t, rita, "start_workflow", map[string]any{"workflow_type": "refund_approval",
		"parameters": map[string]any{"order_id": "ORD-01007", "amount_cents": 90000, "reason": "monitor arrived broken"}}).decode(t, &again)
	if v := waitStatus(t, rita, again.WorkflowID, workflows.StatusFailed); !strings.Contains(v.Error, "ORD-01007 is already refunded") {
		t.Errorf("a second refund of ORD-01007 failed with %q, want the guard's reason", v.Error)
	}
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/orders/refunds", demoPort))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := strings.Count(string(raw), `"order_id":"ORD-01007"`); n != 1 {
		t.Errorf("ORD-01007 refunded %d times after the guard, want once: %s", n, raw)
	}
	// A new start runs version 4.
	var second mcpserver.StartResult
	callTool(t, rita, "start_workflow", map[string]any{"workflow_type": "refund_approval",
		"parameters": map[string]any{"order_id": "ORD-01008", "amount_cents": 500, "reason": "late"}}).decode(t, &second)
	if v := waitStatus(t, rita, second.WorkflowID, workflows.StatusWaitingApproval); v.Process == nil || v.Process.Version != 4 || v.Waiting.Step != "approval" {
		t.Errorf("second run: %+v waiting %+v", v.Process, v.Waiting)
	}
}

// TestDefinitionsReloadOnSIGHUP: with --processes-reload 0, flowgate dev checks its
// definition files only when it gets SIGHUP: its banner says so, and after the signal the
// new version is what describe_process shows and clients hear that the tools and
// resources changed. That an edit stays unseen without the signal, however long, is
// TestProcessFilesAreCheckedOnlyAsConfigured's (internal/stack, in fake time).
func TestDefinitionsReloadOnSIGHUP(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	file := filepath.Join(procs, "refund_approval.yaml")
	copyFile(t, "../examples/processes/refund_approval.yaml", file)
	keys := writeKeys(t, dir, map[string][]string{"rita": {mcpserver.ScopeRead, mcpserver.ScopeWrite}})
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(dir, "data"))
	dev := startDev(t, append(args, "--processes", procs, "--processes-reload", "0", "--api-keys", keys)...)
	dev.waitReady(t, mcpAddr)
	if !strings.Contains(dev.out.String(), "refund_approval (from "+procs+", reloaded on SIGHUP;") {
		t.Errorf("the banner does not say the files are reloaded on SIGHUP only:\n%s", dev.out)
	}
	rita := connectAs(t, dev.mcpURL, "rita-key")
	version := func() int {
		var d mcpserver.ProcessView
		callTool(t, rita, "describe_process", map[string]any{"name": "refund_approval"}).decode(t, &d)
		return d.Version
	}
	notified := listChangedNotifications(t, dev.mcpURL, "rita-key")
	src, _ := os.ReadFile(file)
	os.WriteFile(file, []byte(strings.Replace(string(src), "version: 3", "version: 4", 1)), 0o644)
	if v := version(); v != 3 {
		t.Fatalf("describe_process shows version %d before any SIGHUP, want 3 (no periodic reload with --processes-reload 0)", v)
	}
	if err := dev.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-time.After(20 * time.Second):
		t.Error("no notifications/tools/list_changed and notifications/resources/list_changed within 20s of SIGHUP")
	}
	testenv.WaitFor(t, 20*time.Second, "describe_process shows version 4 after SIGHUP", func() (bool, error) {
		return version() == 4, nil
	})
}

// listChangedNotifications opens a session with the standalone SSE stream and signals once
// it has received both notifications/tools/list_changed and notifications/resources/list_changed.
func listChangedNotifications(t *testing.T, url, key string) <-chan struct{} {
	t.Helper()
	p := newPlainMCPWith(t, url, key)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Mcp-Session-Id", p.session)
	req.Header.Set("MCP-Protocol-Version", p.version)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET stream: %v %v", resp, err)
	}
	got := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		tools, resources := false, false
		for sc.Scan() {
			tools = tools || strings.Contains(sc.Text(), "notifications/tools/list_changed")
			resources = resources || strings.Contains(sc.Text(), "notifications/resources/list_changed")
			if tools && resources {
				close(got)
				return
			}
		}
	}()
	return got
}

// startProcess starts a run of a definition file with the raw client, as the MCP server
// would.
func startProcess(t *testing.T, c client.Client, file, params string, req workflows.Request) string {
	t.Helper()
	cat, err := processes.NewCatalog([]string{file}, workflows.DefinitionRules{}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	name := cat.FileNames()[0]
	p, _ := cat.Get(name)
	s, err := app.PrepareProcess(p.Source, p.Params, json.RawMessage(params), req)
	if err != nil {
		t.Fatal(err)
	}
	id := p.Definition.Name + "-" + uuid.NewString()
	if _, err := c.ExecuteWorkflow(context.Background(), s.Options(id), p.Definition.Name, s.Input); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestProcessLifecyclesOnTheEmbeddedServer runs the refund definition to its ends on a
// real server (and records the histories the replay tests keep): approved by a quorum;
// undone in reverse order after a later step failed; sent back, revised to a smaller
// amount and approved, which is the amount refunded; sent back and withdrawn; approved for
// less than asked (approved_cents), which is the amount refunded.
func TestProcessLifecyclesOnTheEmbeddedServer(t *testing.T) {
	env := testenv.Shared(t)
	c := env.Client
	file := "../examples/processes/refund_approval.yaml"
	rita := workflows.Request{RequestedBy: "rita"}
	finance := func(actor string, action workflows.Action, step string) workflows.AdvanceRequest {
		return workflows.AdvanceRequest{Action: action, Step: step, Actor: actor, Scopes: []string{"group:finance"}, Comment: "checked"}
	}

	approved := startProcess(t, c, file, `{"order_id": "ORD-01011", "amount_cents": 70000, "reason": "wrong size"}`, rita)
	testenv.WaitForStatus(t, c, approved, workflows.StatusWaitingApproval)
	for _, who := range []string{"fin-ann", "fin-bob"} {
		if _, err := advance(t, c, approved, finance(who, workflows.ActionApprove, "finance_approval")); err != nil {
			t.Fatal(err)
		}
	}
	st, err := result(t, c, approved)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("approved run: %s %v", st.Status, err)
	}
	saveHistory(t, c, approved, "refund_approval_approved")

	// A notification to an address the service refuses fails the last step; rejecting it
	// undoes the order's status and then the refund.
	dir := t.TempDir()
	src, _ := os.ReadFile(file)
	broken := filepath.Join(dir, "refund_approval.yaml")
	os.WriteFile(broken, []byte(strings.Replace(string(src), `to: "{{steps.find_order.output.row.email}}"`, `to: "nobody"`, 1)), 0o644)
	undone := startProcess(t, c, broken, `{"order_id": "ORD-01012", "amount_cents": 1200, "reason": "duplicate"}`, rita)
	testenv.WaitForStatus(t, c, undone, workflows.StatusWaitingApproval)
	if _, err := advance(t, c, undone, finance("fin-ann", workflows.ActionApprove, "approval")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitForStatus(t, c, undone, workflows.StatusWaitingInput)
	if _, err := advance(t, c, undone, finance("fin-ann", workflows.ActionReject, "notify_customer")); err != nil {
		t.Fatal(err)
	}
	st, err = result(t, c, undone)
	var order []string
	for _, e := range st.Events("compensated") {
		order = append(order, e.Step)
	}
	if st.Status != workflows.StatusFailed || !slices.Equal(order, []string{"mark_order", "issue_refund"}) {
		t.Fatalf("undone run: %s %v, compensated %v", st.Status, err, order)
	}
	saveHistory(t, c, undone, "refund_approval_undone")

	// Finance sends a refund back for a smaller amount; rita revises it and a new round is
	// approved: the refund issued is the revised one.
	requester := func(action workflows.Action, params map[string]any) workflows.AdvanceRequest {
		return workflows.AdvanceRequest{Action: action, Step: "approval", Actor: "rita", Parameters: params, Comment: "as asked"}
	}
	askChanges := func(id string) {
		t.Helper()
		ask := finance("fin-ann", workflows.ActionRequestChanges, "approval")
		ask.Comment = "we refund 1500 for a partial loss"
		if _, err := advance(t, c, id, ask); err != nil {
			t.Fatal(err)
		}
		testenv.WaitForStatus(t, c, id, workflows.StatusChangesRequested)
	}
	revised := startProcess(t, c, file, `{"order_id": "ORD-01013", "amount_cents": 2500, "reason": "damaged in transit"}`, rita)
	testenv.WaitForStatus(t, c, revised, workflows.StatusWaitingApproval)
	askChanges(revised)
	if _, err := advance(t, c, revised, requester(workflows.ActionRevise, map[string]any{"amount_cents": 1500})); err != nil {
		t.Fatal(err)
	}
	testenv.WaitForStatus(t, c, revised, workflows.StatusWaitingApproval)
	if _, err := advance(t, c, revised, finance("fin-bob", workflows.ActionApprove, "approval")); err != nil {
		t.Fatal(err)
	}
	st, err = result(t, c, revised)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("revised run: %s %v", st.Status, err)
	}
	if r := st.Events("revised"); len(r) != 1 || !strings.Contains(r[0].Detail, "amount_cents: 2500 → 1500") {
		t.Errorf("revised events %+v, want amount_cents: 2500 → 1500", r)
	}
	if out := st.Outputs["issue_refund"]; !strings.Contains(out, `"amount_cents":1500`) {
		t.Errorf("issue_refund output %s, want the revised 1500 refunded", out)
	}
	saveHistory(t, c, revised, "refund_approval_revised")

	// Sent back, rita withdraws it instead: the run ends withdrawn, nothing refunded.
	withdrawn := startProcess(t, c, file, `{"order_id": "ORD-01014", "amount_cents": 1800, "reason": "wrong colour"}`, rita)
	testenv.WaitForStatus(t, c, withdrawn, workflows.StatusWaitingApproval)
	askChanges(withdrawn)
	if _, err := advance(t, c, withdrawn, requester(workflows.ActionWithdraw, nil)); err != nil {
		t.Fatal(err)
	}
	st, err = result(t, c, withdrawn)
	if st.Status != workflows.StatusWithdrawn || err == nil || !strings.Contains(err.Error(), "withdrawn at step approval by rita") {
		t.Fatalf("withdrawn run: %s %v", st.Status, err)
	}
	if s := stepOf(st, "issue_refund"); s.Status != workflows.StepPending {
		t.Errorf("issue_refund %+v after a withdraw, want it never run", s)
	}
	saveHistory(t, c, withdrawn, "refund_approval_withdrawn")

	// Finance approves less than was asked: the approve's inputs are recorded and the
	// refund issued is the amount approved.
	smaller := startProcess(t, c, file, `{"order_id": "ORD-01015", "amount_cents": 45000, "reason": "one of two chairs broken"}`, rita)
	testenv.WaitForStatus(t, c, smaller, workflows.StatusWaitingApproval)
	approveLess := finance("fin-ann", workflows.ActionApprove, "approval")
	approveLess.Inputs = map[string]any{"approved_cents": 40000}
	if _, err := advance(t, c, smaller, approveLess); err != nil {
		t.Fatal(err)
	}
	st, err = result(t, c, smaller)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("run approved for less: %s %v", st.Status, err)
	}
	if s := stepOf(st, "approval"); s.Output != "approved with approved_cents=40000" {
		t.Errorf("approval %+v, want the amount approved in the record", s)
	}
	if out := st.Outputs["issue_refund"]; !strings.Contains(out, `"amount_cents":40000`) {
		t.Errorf("issue_refund output %s, want the 40000 approved refunded", out)
	}
	saveHistory(t, c, smaller, "refund_approval_approved_less")
}

// TestADefinedRunOutlivesKill9AndItsFile: a run of a definition waits at its gate; the
// whole stack is killed with SIGKILL and its definition file deleted; after the restart
// the process can no longer be started, but the waiting run is approved and finishes on
// the definition it carries, its refund issued once.
func TestADefinedRunOutlivesKill9AndItsFile(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	copyFile(t, "../examples/processes/refund_approval.yaml", filepath.Join(procs, "refund_approval.yaml"))
	args, mcpAddr, demoPort := devOnFreePorts(t, filepath.Join(dir, "data"))
	args = append(args, "--processes", procs)
	first := startDev(t, args...)
	first.waitReady(t, mcpAddr)
	cs := connectHTTP(t, first.mcpURL)
	var started mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "refund_approval",
		"parameters": map[string]any{"order_id": "ORD-01020", "amount_cents": 4200, "reason": "scratched"}}).decode(t, &started)
	waitStatus(t, cs, started.WorkflowID, workflows.StatusWaitingApproval)
	waitIdle(t, args, started.WorkflowID)
	cs.Close()
	first.kill()
	os.Remove(filepath.Join(procs, "refund_approval.yaml"))

	second := startDev(t, args...)
	second.waitReady(t, mcpAddr)
	cs = connectHTTP(t, second.mcpURL)
	if r := callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "refund_approval", "parameters": map[string]any{}}); !r.IsError || !strings.Contains(r.Text, `workflow_type: "refund_approval" is not a workflow type`) {
		t.Errorf("start of a deleted definition: %+v", r)
	}
	if r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": started.WorkflowID, "action": "approve", "step": "approval"}); r.IsError {
		t.Fatalf("approve after the restart: %s", r.Text)
	}
	done := waitStatus(t, cs, started.WorkflowID, workflows.StatusCompleted)
	if done.Process == nil || done.Process.Name != "refund_approval" {
		t.Errorf("process %+v", done.Process)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/orders/refunds", demoPort))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Count(string(raw), `"order_id":"ORD-01020"`) != 1 {
		t.Errorf("refunds after the restart: %s", raw)
	}
}
