package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// ciWaitProcess waits for CI's report, then deploys the commit it names.
const ciWaitProcess = `name: ci_wait
title: Wait for CI
version: 1
summary: "wait for CI on {{params.commit}}"
parameters:
  type: object
  required: [commit]
  properties:
    commit: {type: string}
steps:
  - name: wait_ci
    wait:
      event: ci_passed
      deadline: 1h
      schema:
        type: object
        required: [commit, url]
        properties:
          commit: {type: string, minLength: 7}
          url: {type: string, format: uri}
  - name: report
    call: {service: deploy, method: POST, endpoint: deployments, body: {service: ci, environment: dev, version: "{{steps.wait_ci.output.payload.commit}}"}}
`

func writeProcess(t *testing.T, name, src string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// sendEventRaw sends the event update through the raw SDK, as anyone who reaches
// Temporal could.
func sendEventRaw(t *testing.T, c client.Client, id string, e workflows.EventRequest) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateEvent, Args: []any{e}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		var v workflows.StatusView
		err = h.Get(ctx, &v)
	}
	return err
}

// TestSendEventNeedsTheWaitsScope: with authentication on, send_event is refused to a
// caller without the wait's scope and an unsigned event through the raw SDK is refused;
// a payload the schema refuses names its field; each changes nothing. The event from a
// holder of write:data is signed, taken, recorded with who sent it, and the run goes on.
func TestSendEventNeedsTheWaitsScope(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{Auth: &mcpserver.AuthConfig{ResourceURL: resourceURL, APIKeys: []mcpserver.APIKey{
		{Name: "ci-bot", SHA256: keyHash("ci-bot-key"), Scopes: []string{mcpserver.ScopeRead, mcpserver.ScopeWrite}},
		{Name: "rita", SHA256: keyHash("rita-key"), Scopes: []string{mcpserver.ScopeRead}},
	}}})
	id := startProcess(t, env.Client, writeProcess(t, "ci_wait", ciWaitProcess), `{"commit": "abcdef1"}`, workflows.Request{RequestedBy: "dave"})
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaiting)
	ci, rita := newPlainMCPWith(t, env.MCPURL, "ci-bot-key"), newPlainMCPWith(t, env.MCPURL, "rita-key")
	good := map[string]any{"workflow_id": id, "step": "wait_ci", "event": "ci_passed", "payload": map[string]any{"commit": "abcdef1", "url": "https://ci.example/runs/7"}}

	for _, tc := range []struct {
		who  *plainMCP
		args map[string]any
		want string
	}{
		{rita, good, "rita lacks the scope write:data, which sending an event to step wait_ci needs"},
		{ci, map[string]any{"workflow_id": id, "step": "report", "event": "ci_passed"}, "step report does not wait for an event; allowed: wait_ci"},
		{ci, map[string]any{"workflow_id": id, "step": "wait_ci", "event": "ci_passed", "payload": map[string]any{"commit": "abc", "url": "https://ci.example/runs/7"}}, "payload.commit"},
		{ci, map[string]any{"workflow_id": id, "step": "wait_ci", "event": "ci_passed", "payload": map[string]any{"commit": strings.Repeat("a", 70_000)}}, "payload: is 70013 bytes of JSON; allowed: at most 65536 bytes"},
	} {
		if _, err := tc.who.call("send_event", tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("send_event %v: %v, want an error containing %q", tc.args["payload"], err, tc.want)
		}
	}
	if err := sendEventRaw(t, env.Client, id, workflows.EventRequest{Step: "wait_ci", Event: "ci_passed", Actor: "ci-bot", AllScopes: true,
		Payload: map[string]any{"commit": "abcdef1", "url": "https://ci.example/runs/7"}}); err == nil || !strings.Contains(err.Error(), "an unsigned event is refused") {
		t.Errorf("an unsigned event through the raw SDK: %v", err)
	}
	if v := statusOf(t, connectAs(t, env.MCPURL, "rita-key"), id); v.Status != workflows.StatusWaiting || v.Waiting == nil || v.Waiting.Event != "ci_passed" {
		t.Fatalf("after the refused events: %s %+v", v.Status, v.Waiting)
	}
	if _, err := ci.call("send_event", good); err != nil {
		t.Fatal(err)
	}
	st, err := result(t, env.Client, id)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	if e := st.Events("event_received"); len(e) != 1 || e[0].Actor != "ci-bot" {
		t.Errorf("event_received = %+v", e)
	}
	saveHistory(t, env.Client, id, "event_wait_sent")
	if _, err := ci.call("send_event", good); err == nil || !strings.Contains(err.Error(), "has already ended") {
		t.Errorf("an event after the run ended: %v", err)
	}
}

// postCallback posts body to a callback URL and returns the status and the answer.
func postCallback(t *testing.T, method, url, body string) (int, mcpserver.CallbackAnswer) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a mcpserver.CallbackAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("%s %s: the answer is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, a
}

// TestADeploymentWaitsForACallbackFiredByCI runs the ci_deployment example on a real
// server: its first step hands CI (the notifications service stands for it) a signed
// callback URL; a test HTTP client, as CI, fires it. A GET, a body that is not JSON, a
// payload its schema refuses, one over the size limit and an altered URL are each refused
// with their status and a JSON error, and change nothing; the report is taken (202), the
// run deploys the version CI names, and the URL fired again is refused as used, then as
// gone once the run ended.
func TestADeploymentWaitsForACallbackFiredByCI(t *testing.T) {
	env := testenv.Shared(t)
	id := startProcess(t, env.Client, "../examples/processes/ci_deployment.yaml", `{"service": "users", "version": "4.5.6"}`, workflows.Request{RequestedBy: "vera"})
	v := testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaiting)
	if w := v.Waiting; w == nil || w.For != "event" || w.Step != "wait_ci" || w.Event != "ci_passed" || time.Until(w.Deadline) < time.Hour {
		t.Fatalf("waiting = %+v", w)
	}
	var url string
	for _, m := range env.Backends.Messages() {
		if strings.Contains(m["template"], mcpserver.CallbackPath) {
			if _, c, err := decodeCallback(m["template"]); err == nil && c == id {
				url = m["template"]
			}
		}
	}
	if url == "" {
		t.Fatalf("CI got no callback URL for %s: %v", id, env.Backends.Messages())
	}
	if strings.Contains(fmt.Sprint(statusOf(t, connectHTTP(t, env.MCPURL), id)), url) {
		t.Error("the status shows the callback URL, a secret")
	}
	altered := url[:len(url)-3] + map[bool]string{true: "AAA", false: "BBB"}[!strings.HasSuffix(url, "AAA")]
	good := `{"commit": "9fceb02", "version": "4.5.6", "report_url": "https://ci.example/runs/77"}`
	for _, tc := range []struct {
		method, url, body string
		code              int
		want              string
	}{
		{http.MethodGet, url, "", http.StatusMethodNotAllowed, "a callback URL takes POST"},
		{http.MethodPost, url, "green!", http.StatusBadRequest, "the body is not a JSON object"},
		{http.MethodPost, url, `{"commit": "XYZ", "version": "4.5.6"}`, http.StatusBadRequest, "the payload of the event ci_passed at step wait_ci: payload.commit"},
		{http.MethodPost, url, `{"commit": "` + strings.Repeat("a", 70_000) + `"}`, http.StatusRequestEntityTooLarge, "the body is more than 65536 bytes"},
		{http.MethodPost, altered, good, http.StatusNotFound, "this is not a callback URL this Flowgate server made"},
	} {
		code, a := postCallback(t, tc.method, tc.url, tc.body)
		if code != tc.code || a.Accepted || !strings.Contains(a.Error, tc.want) || !strings.HasSuffix(a.Error, "nothing changed") ||
			strings.Contains(a.Error, "Temporal") || strings.Contains(a.Error, "EventInvalid") {
			t.Errorf("%s %.40s…: %d %+v, want %d with %q", tc.method, tc.body, code, a, tc.code, tc.want)
		}
	}
	if v := testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaiting); v.CurrentStep != "wait_ci" {
		t.Fatalf("after the refused callbacks the run is at %s", v.CurrentStep)
	}
	code, a := postCallback(t, http.MethodPost, url, good)
	if code != http.StatusAccepted || !a.Accepted || a.WorkflowID != id || a.Step != "wait_ci" {
		t.Fatalf("the report: %d %+v", code, a)
	}
	if code, a := postCallback(t, http.MethodPost, url, good); code != http.StatusConflict || !strings.Contains(a.Error, "already delivered once") {
		t.Errorf("the report again: %d %+v", code, a)
	}
	st, err := result(t, env.Client, id)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	if got := env.Backends.Deployed("users", "staging"); got != "4.5.6" {
		t.Errorf("deployed %q, want the version CI reported", got)
	}
	if e := st.Events("event_received"); len(e) != 1 || e[0].Actor != "callback" {
		t.Errorf("event_received = %+v", e)
	}
	saveHistory(t, env.Client, id, "ci_deployment_called_back")
	if code, a := postCallback(t, http.MethodPost, url, good); code != http.StatusGone || !strings.Contains(a.Error, "has already ended") {
		t.Errorf("the report after the run ended: %d %+v", code, a)
	}
}

// decodeCallback reads the claims of a callback URL (without checking them).
func decodeCallback(url string) (string, string, error) {
	_, token, _ := strings.Cut(url, mcpserver.CallbackPath)
	p, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return "", "", err
	}
	var c struct {
		W string `json:"w"`
		S string `json:"s"`
	}
	err = json.Unmarshal(raw, &c)
	return c.S, c.W, err
}

// TestAnEventWaitThatTimesOutGoesOn: a wait for an event whose deadline passes with no
// event, and whose on_timeout is continue, completes with output.timed_out true, and the
// run goes on to the steps after it (its history is recorded for the replay tests).
func TestAnEventWaitThatTimesOutGoesOn(t *testing.T) {
	env := testenv.Shared(t)
	src := strings.NewReplacer("deadline: 1h", "deadline: 2s\n      on_timeout: continue",
		`version: "{{steps.wait_ci.output.payload.commit}}"`, `version: "timed-out-{{steps.wait_ci.output.timed_out}}"`).Replace(ciWaitProcess)
	id := startProcess(t, env.Client, writeProcess(t, "ci_wait", src), `{"commit": "abcdef1"}`, workflows.Request{RequestedBy: "dave"})
	st, err := result(t, env.Client, id)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	if w := stepOf(st, "wait_ci"); w.Status != workflows.StepCompleted || !strings.Contains(w.Output, "no event ci_passed within 2s") {
		t.Errorf("wait_ci = %+v", w)
	}
	if got := env.Backends.Deployed("ci", "dev"); got != "timed-out-true" {
		t.Errorf("the step after the wait deployed %q, want steps.wait_ci.output.timed_out (true)", got)
	}
	saveHistory(t, env.Client, id, "event_wait_timed_out")
}

// gateOrCIProcess is "approve, or CI green, whichever comes first".
const gateOrCIProcess = `name: gate_or_ci
title: Approve or CI
version: 1
summary: "release {{params.commit}}"
parameters:
  type: object
  required: [commit]
  properties:
    commit: {type: string}
steps:
  - name: go_ahead
    approval:
      approvers: [bob]
      deadline: 1h
      or_event:
        event: ci_passed
        schema: {type: object, required: [commit], properties: {commit: {type: string, minLength: 7}}}
  - name: report
    call: {service: deploy, method: POST, endpoint: deployments, body: {service: "{{params.commit}}", environment: dev, version: "won-by-{{steps.go_ahead.output.won}}"}}
`

// orEndsGoAhead is what every surface says of gate_or_ci's gate (workflows.Waiting.OrEnds).
const orEndsGoAhead = "Or the gate ends when the event ci_passed arrives, whichever comes first (send_event at step go_ahead, with the scope write:data)."

// TestAGateOrAnEventWhicheverComesFirstOnTheEmbeddedServer: get_workflow_status says
// both ways out; CI's event sent with send_event ends the gate and the next step reads
// output.won (its history is recorded); then, on a second run, an approve and the event
// sent at once: exactly one is taken, the other refused, and the output names the winner.
func TestAGateOrAnEventWhicheverComesFirstOnTheEmbeddedServer(t *testing.T) {
	env := testenv.Shared(t)
	c := env.Client
	file := writeProcess(t, "gate_or_ci", gateOrCIProcess)
	cs := connectHTTP(t, env.MCPURL)

	id := startProcess(t, c, file, `{"commit": "c1-`+id8()+`"}`, workflows.Request{RequestedBy: "dave"})
	testenv.WaitForStatus(t, c, id, workflows.StatusWaitingApproval)
	if text := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}).Text; !strings.Contains(text, orEndsGoAhead) {
		t.Errorf("get_workflow_status: %s", text)
	}
	if r := callTool(t, cs, "send_event", map[string]any{"workflow_id": id, "step": "go_ahead", "event": "ci_passed", "payload": map[string]any{"commit": "abcdef1"}}); r.IsError {
		t.Fatalf("send_event: %s", r.Text)
	}
	st, err := result(t, c, id)
	if err != nil || st.Status != workflows.StatusCompleted || !strings.Contains(st.Outputs["go_ahead"], `"won":"event"`) {
		t.Fatalf("ended %s (%v), go_ahead output %s", st.Status, err, st.Outputs["go_ahead"])
	}
	if e := st.Events("first_of"); len(e) != 1 {
		t.Errorf("first_of = %+v", e)
	}
	saveHistory(t, c, id, "gate_or_event_won_by_event")

	id = startProcess(t, c, file, `{"commit": "c2-`+id8()+`"}`, workflows.Request{RequestedBy: "dave"})
	testenv.WaitForStatus(t, c, id, workflows.StatusWaitingApproval)
	errs := make(chan error, 2)
	go func() {
		_, err := advance(t, c, id, workflows.AdvanceRequest{Action: workflows.ActionApprove, Step: "go_ahead", Actor: "bob", Scopes: approverScopes})
		errs <- err
	}()
	go func() {
		errs <- sendEventRaw(t, c, id, workflows.EventRequest{Step: "go_ahead", Event: "ci_passed", Actor: "ci-bot", AllScopes: true, Payload: map[string]any{"commit": "abcdef2"}})
	}()
	var refused []error
	for range 2 {
		if err := <-errs; err != nil {
			refused = append(refused, err)
		}
	}
	st, err = result(t, c, id)
	if err != nil || st.Status != workflows.StatusCompleted || len(refused) != 1 || len(st.Events("first_of")) != 1 {
		t.Fatalf("ended %s (%v); refused %v; record %+v", st.Status, err, refused, st.History)
	}
	won := "approval"
	if strings.Contains(st.Outputs["go_ahead"], `"won":"event"`) {
		won = "event"
	}
	t.Logf("sent at once: the %s won; the other was refused with: %v", won, refused[0])
	saveHistory(t, c, id, "gate_or_event_at_once")
}

// TestAGatesEventEndsItWhileChangesAreRequestedOnTheEmbeddedServer: bob sends a run of
// gate_or_ci back to its requester, dave; while it waits for dave's revision,
// get_workflow_status still says the event ends the gate, and CI's event does (its
// history is recorded): the run completes with the event as the winner, and dave's
// revise after it is refused as at an ended gate.
func TestAGatesEventEndsItWhileChangesAreRequestedOnTheEmbeddedServer(t *testing.T) {
	env := testenv.Shared(t)
	c := env.Client
	file := writeProcess(t, "gate_or_ci_changes", strings.NewReplacer("name: gate_or_ci\n", "name: gate_or_ci_changes\n",
		"      deadline: 1h\n", "      deadline: 1h\n      changes: {revisable: [commit], max_rounds: 2}\n").Replace(gateOrCIProcess))
	cs := connectHTTP(t, env.MCPURL)

	id := startProcess(t, c, file, `{"commit": "c3-`+id8()+`"}`, workflows.Request{RequestedBy: "dave"})
	testenv.WaitForStatus(t, c, id, workflows.StatusWaitingApproval)
	if _, err := advance(t, c, id, workflows.AdvanceRequest{Action: workflows.ActionRequestChanges, Step: "go_ahead", Actor: "bob", Scopes: approverScopes,
		Comment: "build the tagged commit"}); err != nil {
		t.Fatalf("request changes: %v", err)
	}
	var v mcpserver.StatusResult
	r := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id})
	r.decode(t, &v)
	if v.Status != workflows.StatusChangesRequested || v.Waiting == nil || v.Waiting.Event != "ci_passed" || !strings.Contains(r.Text, orEndsGoAhead) {
		t.Fatalf("while dave must revise: %s %+v\n%s", v.Status, v.Waiting, r.Text)
	}
	if r := callTool(t, cs, "send_event", map[string]any{"workflow_id": id, "step": "go_ahead", "event": "ci_passed", "payload": map[string]any{"commit": "abcdef3"}}); r.IsError {
		t.Fatalf("send_event while changes are requested: %s", r.Text)
	}
	st, err := result(t, c, id)
	if err != nil || st.Status != workflows.StatusCompleted || !strings.Contains(st.Outputs["go_ahead"], `"won":"event"`) {
		t.Fatalf("ended %s (%v), go_ahead output %s", st.Status, err, st.Outputs["go_ahead"])
	}
	if e := st.Events("first_of"); len(e) != 1 || !strings.Contains(e[0].Detail, "while changes were asked of dave") {
		t.Errorf("first_of = %+v", e)
	}
	if _, err := advance(t, c, id, workflows.AdvanceRequest{Action: workflows.ActionRevise, Step: "go_ahead", Actor: "dave",
		Parameters: map[string]any{"commit": "c4"}}); err == nil {
		t.Errorf("dave's revise after the event won was taken")
	}
	saveHistory(t, c, id, "gate_or_event_during_changes")
}

// TestAGatesEventOutlivesKill9: a run of gate_or_ci waits at its gate; flowgate dev is
// killed with SIGKILL and started again on the same folder; the status,
// approvals://pending and the inbox still say the event ends the gate, CI's event sent
// then ends it, and the run completes with the
// record saying the event won, once: one event_received, one first_of, one deployment,
// and the same event sent again is refused.
func TestAGatesEventOutlivesKill9(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	// The local identity starts the run and may decide its gate, so its inbox lists it.
	src := strings.Replace(gateOrCIProcess, "      approvers: [bob]\n", "      scope: approve\n      separation_of_duties: false\n", 1)
	if err := os.WriteFile(filepath.Join(procs, "gate_or_ci.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	args, mcpAddr, demoPort := devOnFreePorts(t, filepath.Join(dir, "data"))
	args = append(args, "--processes", procs)
	first := startDev(t, args...)
	first.waitReady(t, mcpAddr)
	cs := connectHTTP(t, first.mcpURL)
	commit := "k9-" + id8()
	var started mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "gate_or_ci", "parameters": map[string]any{"commit": commit}}).decode(t, &started)
	id := started.WorkflowID
	waitStatus(t, cs, id, workflows.StatusWaitingApproval)
	waitIdle(t, args, id)
	cs.Close()
	first.stop(t, syscall.SIGKILL)

	second := startDev(t, args...)
	second.waitReady(t, mcpAddr)
	cs = connectHTTP(t, second.mcpURL)
	if r := callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}); !strings.Contains(r.Text, orEndsGoAhead) {
		t.Fatalf("after kill -9: %s", r.Text)
	}
	pending, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.PendingURI})
	var inbox app.PendingResult
	if err != nil || json.Unmarshal([]byte(pending.Contents[0].Text), &inbox) != nil ||
		!slices.ContainsFunc(inbox.Items, func(p app.Pending) bool { return p.WorkflowID == id && p.OrEnds == orEndsGoAhead }) {
		t.Errorf("approvals://pending after kill -9 does not say the event ends the gate: %v %+v", err, inbox)
	}
	if page := read(t, http.DefaultClient, http.MethodGet, strings.TrimSuffix(second.mcpURL, mcpserver.EndpointPath)+mcpserver.InboxPath, nil); !strings.Contains(page, orEndsGoAhead) {
		t.Errorf("the inbox after kill -9 does not say the event ends the gate:\n%s", page)
	}
	event := map[string]any{"workflow_id": id, "step": "go_ahead", "event": "ci_passed", "payload": map[string]any{"commit": "abcdef9"}}
	if r := callTool(t, cs, "send_event", event); r.IsError {
		t.Fatalf("send_event after kill -9: %s", r.Text)
	}
	waitStatus(t, cs, id, workflows.StatusCompleted)
	if r := callTool(t, cs, "send_event", event); !r.IsError || !strings.Contains(r.Text, "ended") {
		t.Errorf("the event sent again after the run ended: %+v", r)
	}
	res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "workflow://" + id + "/details"})
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Outputs["go_ahead"], `"won":"event"`) || len(st.Events("event_received")) != 1 || len(st.Events("first_of")) != 1 ||
		!strings.Contains(st.Events("first_of")[0].Detail, "the event ci_passed came first") {
		t.Errorf("go_ahead output %s; record %+v", st.Outputs["go_ahead"], st.History)
	}
	// One deployment: a second would have found the first and named it previous_version.
	if out := st.Outputs["report"]; !strings.Contains(out, `"version":"won-by-event"`) || !strings.Contains(out, `"previous_version":""`) {
		t.Errorf("report's output %s, want one deployment of won-by-event", out)
	}
	var d map[string]string
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/deploy/deployments/%s/dev", demoPort, commit), &d)
	if d["version"] != "won-by-event" {
		t.Errorf("deployed %v", d)
	}
}

// id8 is a short unique suffix.
func id8() string { return fmt.Sprint(time.Now().UnixNano() % 1e8) }
