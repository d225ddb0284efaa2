package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
)

// logRecorder keeps the notifications/message a client hears.
type logRecorder struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (r *logRecorder) handle(n mcpgo.JSONRPCNotification) {
	if n.Method != "notifications/message" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := map[string]any{}
	for k, v := range n.Params.AdditionalFields {
		msg[k] = v
	}
	r.msgs = append(r.msgs, msg)
}

// find returns the first message of logger whose data has every field of want.
func (r *logRecorder) find(level, logger string, want map[string]any) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		data, _ := m["data"].(map[string]any)
		if m["level"] != level || m["logger"] != logger || data == nil {
			continue
		}
		ok := true
		for k, v := range want {
			if fmt.Sprint(data[k]) != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (r *logRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// TestLoggingOverHTTPAndStdio: after logging/setLevel, a session hears the transitions of
// the runs it started (a gate as notice, the end as info) and its failed tool calls (as
// warning) as notifications/message; raising the level to error silences them; a level
// that does not exist is refused. Over HTTP and over stdio.
func TestLoggingOverHTTPAndStdio(t *testing.T) {
	env := testenv.Shared(t)
	connect := map[string]func() transport.Interface{
		"http": func() transport.Interface {
			tr, err := transport.NewStreamableHTTP(env.MCPURL, transport.WithContinuousListening())
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
		"stdio": func() transport.Interface {
			return transport.NewStdio(flowgateBinary(t), append(os.Environ(), "TEMPORAL_ADDRESS="+env.Server.FrontendAddress(), "TEMPORAL_NAMESPACE=default"),
				"mcp", "--transport", "stdio", "--log-level", "error", "--actor", "logger")
		},
	}
	for name, tr := range connect {
		t.Run(name, func(t *testing.T) {
			c := mcpclient.NewClient(tr())
			logs := &logRecorder{}
			c.OnNotification(logs.handle)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if res := initializeMCPGo(t, ctx, c, false); res.Capabilities.Logging == nil {
				t.Fatalf("initialize: no logging capability in %+v", res.Capabilities)
			}
			setLevel := func(level mcpgo.LoggingLevel) error {
				return c.SetLevel(ctx, mcpgo.SetLevelRequest{Params: mcpgo.SetLevelParams{Level: level}})
			}
			if err := setLevel("loud"); err == nil {
				t.Error("logging/setLevel accepted the level \"loud\"")
			}
			if err := setLevel(mcpgo.LoggingLevelInfo); err != nil {
				t.Fatal(err)
			}
			call := func(tool string, args map[string]any) *mcpgo.CallToolResult {
				out, err := c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: tool, Arguments: args}})
				if err != nil {
					t.Fatalf("%s: %v", tool, err)
				}
				return out
			}
			started := call("start_workflow", map[string]any{"workflow_type": "deployment",
				"parameters": map[string]any{"service": "orders", "version": "6.2.0", "environment": "staging"}})
			s, _ := started.StructuredContent.(map[string]any)
			id, _ := s["workflow_id"].(string)
			if id == "" {
				t.Fatalf("start_workflow = %+v", started)
			}
			testenv.WaitFor(t, 20*time.Second, "the gate as a notice", func() (bool, error) {
				return logs.find("notice", "flowgate.workflow", map[string]any{"workflow_id": id, "status": workflows.StatusWaitingApproval, "step": "approval"}), nil
			})
			if out := call("advance_workflow", map[string]any{"workflow_id": id, "action": "approve", "step": "approval"}); out.IsError {
				t.Fatalf("approve: %+v", out)
			}
			testenv.WaitFor(t, 20*time.Second, "the end as info", func() (bool, error) {
				return logs.find("info", "flowgate.workflow", map[string]any{"workflow_id": id, "status": workflows.StatusCompleted}), nil
			})
			if out := call("get_workflow_status", map[string]any{"workflow_id": "deployment-does-not-exist"}); !out.IsError {
				t.Fatalf("status of a run that does not exist: %+v", out)
			}
			testenv.WaitFor(t, 20*time.Second, "the failed call as a warning", func() (bool, error) {
				return logs.find("warning", "flowgate.tools", map[string]any{"tool": "get_workflow_status"}), nil
			})
			if err := setLevel(mcpgo.LoggingLevelError); err != nil {
				t.Fatal(err)
			}
			before := logs.count()
			call("get_workflow_status", map[string]any{"workflow_id": "deployment-still-not-there"})
			// What is tested is that nothing arrives: no event marks "nothing will", so the
			// test gives a warning a second to arrive (one arrives in milliseconds above).
			time.Sleep(time.Second)
			if logs.count() != before {
				t.Errorf("at level error the session still heard %d warnings", logs.count()-before)
			}
		})
	}
}
