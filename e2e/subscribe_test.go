package e2e

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// subscriber connects with the official Go SDK client, its standalone stream open, and
// counts the resources/updated notifications it hears for uri.
func subscriber(t *testing.T, url string, heard *atomic.Int32, uri string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "flowgate-e2e-subscriber", Version: "1"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			if req.Params.URI == uri {
				heard.Add(1)
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestSubscribersHearOfEachChangeFromOneWatcher: sessions subscribed to a run's details
// hear notifications/resources/updated within a second of an approval, all of them from
// one watcher of that run; unsubscribing and closing stop it; a URI that names no run
// or no resource is refused with the spec's error.
func TestSubscribersHearOfEachChangeFromOneWatcher(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{})
	cs := connectHTTP(t, env.MCPURL)
	var s mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "9.1.0", "environment": "production"}}).decode(t, &s)
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)
	uri := "workflow://" + s.WorkflowID + "/details"
	ctx := context.Background()

	const n = 20
	heard := make([]*atomic.Int32, n)
	sessions := make([]*mcp.ClientSession, n)
	for i := range sessions {
		heard[i] = &atomic.Int32{}
		sessions[i] = subscriber(t, env.MCPURL, heard[i], uri)
		if err := sessions[i].Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			t.Fatalf("subscribe %d: %v", i, err)
		}
	}
	if w := env.MCP.Watchers(); w != 1 {
		t.Errorf("%d subscribers cost %d watchers, want 1", n, w)
	}
	// A client of the 2025-11-25 revision subscribes with resources/subscribe: what the
	// server cannot keep is refused with the spec's codes; the run's own subscription
	// shares the watcher.
	legacy := newPlainMCP(t, env.MCPURL)
	for _, c := range []struct{ uri, want string }{
		{"workflow://deployment-does-not-exist/details", `"code":-32002,"message":"cannot subscribe to workflow://deployment-does-not-exist/details: no workflow with id`},
		{"db://users/1", `"code":-32602,"message":"uri \"db://users/1\" cannot be subscribed to; allowed: workflow://{workflow_id}/details"`},
		{uri, `"result":{}`},
	} {
		resp, err := legacy.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"uri":%q}}`, c.uri))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), c.want) {
			t.Errorf("resources/subscribe %s: %s, want %s", c.uri, body, c.want)
		}
	}
	if w := env.MCP.Watchers(); w != 1 {
		t.Errorf("with a legacy subscriber too, %d watchers, want 1", w)
	}
	// The last session leaves before the decision: it hears nothing more.
	if err := sessions[n-1].Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: uri}); err != nil {
		t.Fatal(err)
	}
	before := heard[n-1].Load()
	// The run's hub has read its history and long-polls for what comes next.
	testenv.WaitFor(t, 10*time.Second, "the run's history long-polled", func() (bool, error) {
		st := env.MCP.FeedStats()
		return st.Hubs == 1 && st.Polls >= 2, fmt.Errorf("%+v", st)
	})
	for _, h := range heard[:n-1] {
		h.Store(0)
	}
	approved := time.Now()
	if r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval", "inputs": changeTicket}); r.IsError {
		t.Fatal(r.Text)
	}
	testenv.WaitFor(t, 5*time.Second, "every subscriber told", func() (bool, error) {
		for _, h := range heard[:n-1] {
			if h.Load() == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if d := time.Since(approved); d > time.Second {
		t.Errorf("the subscribers heard of the approval %s after it, want within a second", d)
	}
	if _, err := result(t, env.Client, s.WorkflowID); err != nil {
		t.Fatal(err)
	}
	if heard[n-1].Load() != before {
		t.Error("an unsubscribed session was still told")
	}
	for _, cs := range sessions {
		cs.Close()
	}
	legacy.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":8,"method":"resources/unsubscribe","params":{"uri":%q}}`, uri))
	testenv.WaitFor(t, 10*time.Second, "the watcher stopped", func() (bool, error) { return env.MCP.Watchers() == 0, nil })
}
