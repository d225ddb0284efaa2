package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

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
	if _, err := ci.call("send_event", good); err == nil || !strings.Contains(err.Error(), "has already ended") {
		t.Errorf("an event after the run ended: %v", err)
	}
}
