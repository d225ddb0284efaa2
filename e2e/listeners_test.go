package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"

	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// rpcCounter counts the calls an MCP server makes to Temporal: by method, queries by
// type, and the history long polls open now.
type rpcCounter struct {
	mu      sync.Mutex
	calls   map[string]int
	queries map[string]int
	polling atomic.Int32
}

func (c *rpcCounter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	name := path.Base(method)
	c.mu.Lock()
	c.calls[name]++
	if q, ok := req.(*workflowservice.QueryWorkflowRequest); ok {
		c.queries[q.GetQuery().GetQueryType()]++
	}
	c.mu.Unlock()
	if name == "GetWorkflowExecutionHistory" {
		c.polling.Add(1)
		defer c.polling.Add(-1)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// take returns the counts so far and starts again from zero.
func (c *rpcCounter) take() (calls, queries map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, queries = c.calls, c.queries
	c.calls, c.queries = map[string]int{}, map[string]int{}
	return calls, queries
}

// listenerSession is an MCP session that records what it is told of one run.
type listenerSession struct {
	*mcpclient.Client
	mu    sync.Mutex
	heard []string // tasks:<status>, log:<status>, updated
	next  atomic.Int64
}

func (l *listenerSession) has(what string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.heard, what)
}

func (l *listenerSession) raw(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := l.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcpgo.NewRequestId(1000 + l.next.Add(1)), Method: method, Params: params})
	if err != nil || resp.Error != nil {
		t.Fatalf("%s: %v %+v", method, err, resp)
	}
	return resp.Result
}

func connectListener(t *testing.T, url string) *listenerSession {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url, transport.WithContinuousListening())
	if err != nil {
		t.Fatal(err)
	}
	l := &listenerSession{Client: mcpclient.NewClient(tr)}
	l.OnNotification(func(n mcpgo.JSONRPCNotification) {
		p := n.Params.AdditionalFields
		var what string
		switch n.Method {
		case string(mcpgo.MethodNotificationTasksStatus):
			what = fmt.Sprint("tasks:", p["status"])
		case string(mcpgo.MethodNotificationResourceUpdated):
			what = "updated"
		case "notifications/message":
			data, _ := p["data"].(map[string]any)
			what = fmt.Sprint("log:", data["status"])
		default:
			return
		}
		l.mu.Lock()
		l.heard = append(l.heard, what)
		l.mu.Unlock()
	})
	// The standalone stream lives as long as the context Start is given.
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Cleanup(func() { l.Close() })
	initializeMCPGo(t, ctx, l.Client, false)
	if err := l.SetLevel(ctx, mcpgo.SetLevelRequest{Params: mcpgo.SetLevelParams{Level: mcpgo.LoggingLevelInfo}}); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOneHistoryPollServesEveryListenerOfARun: three sessions follow one run every way
// there is (the starter's log follower, a task follower and a subscription each, one
// session waiting in tasks/result): the MCP server holds one long poll of the run's
// history for all of them, and after the approval asks the run no status query, only its
// feed. Every session hears the gate and the end. The counts are logged.
func TestOneHistoryPollServesEveryListenerOfARun(t *testing.T) {
	env := testenv.Shared(t)
	counter := &rpcCounter{calls: map[string]int{}, queries: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: env.Server.FrontendAddress(), Namespace: env.Server.Namespace(),
		Logger:            sdklog.NewStructuredLogger(testenv.Logger()),
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(counter.unary)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv, err := stack.NewMCP(c, env.Server.Namespace(), stack.MCPConfig{Actor: "tester", ToolsNamespace: stack.DefaultToolsNamespace}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	h, err := srv.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = h.Shutdown(sctx)
	})

	sessions := []*listenerSession{connectListener(t, h.URL()), connectListener(t, h.URL()), connectListener(t, h.URL())}
	var started struct {
		StructuredContent mcpserver.StartResult `json:"structuredContent"`
	}
	if err := json.Unmarshal(sessions[0].raw(t, "tools/call", map[string]any{"name": "start_workflow",
		"arguments": map[string]any{"workflow_type": "deployment", "parameters": map[string]any{"service": "orders", "version": "7.1.0", "environment": "staging"}}}), &started); err != nil {
		t.Fatal(err)
	}
	id := started.StructuredContent.WorkflowID
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
	for _, s := range sessions {
		s.raw(t, "tasks/get", map[string]any{"taskId": id})
		s.raw(t, "resources/subscribe", map[string]any{"uri": "workflow://" + id + "/details"})
	}
	result := make(chan error, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
		defer rcancel()
		res, err := sessions[2].TaskResult(rctx, mcpgo.TaskResultRequest{Params: mcpgo.TaskResultParams{TaskId: id}})
		if err == nil && res.IsError {
			err = fmt.Errorf("tasks/result: %+v", res)
		}
		result <- err
	}()
	testenv.WaitFor(t, 20*time.Second, "the starter told of the gate", func() (bool, error) {
		return sessions[0].has("log:" + string(workflows.StatusWaitingApproval)), nil
	})
	testenv.WaitFor(t, 10*time.Second, "one history long poll open for the run", func() (bool, error) {
		n := counter.polling.Load()
		return n == 1, fmt.Errorf("%d history long polls open", n)
	})
	// Each tasks/get and subscription looked once, tasks/result twice (its ownership is
	// checked as the request comes in, then by the call it becomes).
	testenv.WaitFor(t, 10*time.Second, "every look at the run made", func() (bool, error) {
		counter.mu.Lock()
		defer counter.mu.Unlock()
		n := counter.queries[workflows.QueryStatus]
		return n >= 2*len(sessions)+2, fmt.Errorf("%d status queries", n)
	})
	calls, queries := counter.take()
	t.Logf("to the gate: %d history polls, queries %v, %d describes; %d long polls open",
		calls["GetWorkflowExecutionHistory"], queries, calls["DescribeWorkflowExecution"], counter.polling.Load())

	approve := sessions[0].raw(t, "tools/call", map[string]any{"name": "advance_workflow",
		"arguments": map[string]any{"workflow_id": id, "action": "approve", "step": "approval"}})
	if !json.Valid(approve) {
		t.Fatalf("advance_workflow: %s", approve)
	}
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "every session told of the end", func() (bool, error) {
		// The session in tasks/result has the end from its answer: mcp-go v1.2.1 may lose
		// a notification its request's stream takes as that answer goes out.
		for i, s := range sessions {
			if (i < 2 && !s.has("tasks:completed")) || !s.has("tasks:working") || !s.has("updated") {
				return false, fmt.Errorf("session %d heard %v", i, s.heard)
			}
		}
		return sessions[0].has("log:" + string(workflows.StatusCompleted)), fmt.Errorf("the starter heard %v", sessions[0].heard)
	})
	calls, queries = counter.take()
	t.Logf("gate to end: %d history polls, queries %v, %d describes", calls["GetWorkflowExecutionHistory"], queries, calls["DescribeWorkflowExecution"])
	if queries[workflows.QueryStatus] != 0 {
		t.Errorf("after the approval the followers asked %d status queries, want none: the feed says it", queries[workflows.QueryStatus])
	}
	testenv.WaitFor(t, 10*time.Second, "the run's hub stopped", func() (bool, error) {
		st := srv.FeedStats()
		return st.Hubs == 0, fmt.Errorf("%+v", st)
	})
}
