package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The MCP tests drive Flowgate with the official Go SDK's client, not with mcp-go, so
// they prove interoperability rather than self-consistency.

func connectHTTP(t testing.TB, url string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "flowgate-e2e", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func connectStdio(t testing.TB, temporalAddr string, extraEnv ...string) *mcp.ClientSession {
	t.Helper()
	cmd := exec.Command(flowgateBinary(t), "mcp", "--transport", "stdio", "--log-level", "error", "--actor", "tester")
	cmd.Env = append(os.Environ(), append([]string{"TEMPORAL_ADDRESS=" + temporalAddr, "TEMPORAL_NAMESPACE=default"}, extraEnv...)...)
	cmd.Stderr = os.Stderr
	c := mcp.NewClient(&mcp.Implementation{Name: "flowgate-e2e", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect over stdio: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// toolResult is a tool call's outcome as an agent sees it.
type toolResult struct {
	Structured json.RawMessage
	Text       string
	IsError    bool
}

func (r toolResult) decode(t testing.TB, v any) {
	t.Helper()
	if r.IsError {
		t.Fatalf("tool error: %s", r.Text)
	}
	if err := json.Unmarshal(r.Structured, v); err != nil {
		t.Fatalf("structured content %s: %v", r.Structured, err)
	}
}

func callTool(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: protocol error %v", name, err)
	}
	out := toolResult{IsError: res.IsError}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	out.Text = strings.Join(texts, "\n")
	if res.StructuredContent != nil {
		out.Structured, _ = json.Marshal(res.StructuredContent)
	}
	if !out.IsError && out.Structured == nil {
		t.Fatalf("%s returned no structured content: %s", name, out.Text)
	}
	if out.Text == "" {
		t.Fatalf("%s returned no text rendering", name)
	}
	return out
}
