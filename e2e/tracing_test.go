package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
)

// TestTraceFollowsARunFromRequestToBackend is issue 27's proof of traces: with tracing
// on, a deployment started, stopped at its gate, approved and completed is one trace
// that continues the client's traceparent (the HTTP header for the start, _meta for the
// approval under 2026-07-28), with the MCP request as the root of the Temporal start, the
// workflow under the start, each activity under the workflow, and each gateway call under
// its activity, its traceparent received by the backend. The run's memo and
// get_workflow_status carry the trace id.
func TestTraceFollowsARunFromRequestToBackend(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	env := testenv.StartT(t, testenv.Options{Tracing: tp, NoWorker: true})

	// The backends, behind a door that notes the traceparent of each call.
	var mu sync.Mutex
	received := map[string]string{} // "METHOD path" -> traceparent
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.Method+" "+r.URL.Path] = r.Header.Get("traceparent")
		mu.Unlock()
		env.Backends.ServeHTTP(w, r)
	}))
	t.Cleanup(backend.Close)
	_, appDB, sandbox := stack.DataPaths(env.DataDir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := stack.StartWorker(ctx, env.Client, stack.WorkerConfig{AppDatabase: appDB, Sandbox: sandbox, GatewayBaseURL: backend.URL,
		StopTimeout: 2 * time.Second, Namespace: env.Server.Namespace(), ToolsNamespace: stack.DefaultToolsNamespace, Tracing: tp}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	clientStart, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	clientApprove, _ := trace.SpanIDFromHex("00f067aa0ba902b8")
	traceparent := func(span trace.SpanID) string { return fmt.Sprintf("00-%s-%s-01", traceID, span) }

	start := postModern(t, env.MCPURL, "tools/call", "start_workflow", map[string]any{"name": "start_workflow",
		"arguments": map[string]any{"workflow_type": "deployment", "parameters": map[string]any{"service": "orders", "version": "7.2.0",
			"environment": "production", "manifest": "manifests/orders.json"}},
		"_meta": modernMeta(map[string]any{})}, "traceparent", traceparent(clientStart))
	sc, _ := start.Result["structuredContent"].(map[string]any)
	id, _ := sc["workflow_id"].(string)
	if start.Error != nil || id == "" {
		t.Fatalf("start_workflow answered %+v %+v", start.Result, start.Error)
	}
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)

	meta := modernMeta(map[string]any{})
	meta["traceparent"] = traceparent(clientApprove)
	approve := postModern(t, env.MCPURL, "tools/call", "advance_workflow", map[string]any{"name": "advance_workflow",
		"arguments": map[string]any{"workflow_id": id, "action": "approve", "step": workflows.StepDeployApproval, "inputs": changeTicket},
		"_meta":     meta})
	if approve.Error != nil || approve.Result["isError"] == true {
		t.Fatalf("advance_workflow answered %+v %+v", approve.Result, approve.Error)
	}
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusCompleted)

	status := postModern(t, env.MCPURL, "tools/call", "get_workflow_status", map[string]any{"name": "get_workflow_status",
		"arguments": map[string]any{"workflow_id": id}, "_meta": modernMeta(map[string]any{})})
	sc, _ = status.Result["structuredContent"].(map[string]any)
	if got := sc["trace_id"]; got != traceID.String() {
		t.Errorf("get_workflow_status trace_id = %v, want %s", got, traceID)
	}
	desc, err := env.Client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := app.DecodeKeyword(desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[app.MemoTraceID]); got != traceID.String() {
		t.Errorf("memo %s = %q, want %s", app.MemoTraceID, got, traceID)
	}

	// The workflow's span ends when the run does, just after its last task.
	var tree map[trace.SpanID]tracetest.SpanStub
	testenv.WaitFor(t, 10*time.Second, "the RunWorkflow span", func() (bool, error) {
		tree = map[trace.SpanID]tracetest.SpanStub{}
		found := false
		for _, s := range spans.GetSpans() {
			if s.SpanContext.TraceID() == traceID {
				tree[s.SpanContext.SpanID()] = s
				found = found || s.Name == "RunWorkflow:deployment"
			}
		}
		return found, nil
	})
	if t.Failed() {
		return
	}
	// chain names a span and its ancestors up to the client's span.
	chain := func(s tracetest.SpanStub) string {
		names := []string{s.Name}
		for range len(tree) {
			p, ok := tree[s.Parent.SpanID()]
			if !ok {
				break
			}
			names, s = append(names, p.Name), p
		}
		switch s.Parent.SpanID() {
		case clientStart:
			names = append(names, "client start")
		case clientApprove:
			names = append(names, "client approve")
		default:
			names = append(names, "?")
		}
		return strings.Join(names, " <- ")
	}
	chains := map[string]bool{}
	for _, s := range tree {
		chains[chain(s)] = true
		if s.Name == "tools/call start_workflow" && s.SpanKind != trace.SpanKindServer {
			t.Errorf("the MCP span is of kind %s, want server", s.SpanKind)
		}
	}
	const run = "RunWorkflow:deployment <- StartWorkflow:deployment <- tools/call start_workflow <- client start"
	for _, want := range []string{
		run,
		"RunActivity:ParseFile <- StartActivity:ParseFile <- " + run,
		"HTTP GET <- RunActivity:CallService <- StartActivity:CallService <- " + run,
		"UpdateWorkflow:advance <- tools/call advance_workflow <- client approve",
		// After the approval: the deployment itself and its record.
		"HTTP POST <- RunActivity:CallService <- StartActivity:CallService <- " + run,
		"RunActivity:RunStatement <- StartActivity:RunStatement <- " + run,
	} {
		if !chains[want] {
			t.Errorf("no span %s", want)
		}
	}
	// Each backend call carried the trace, naming its HTTP span as the parent.
	mu.Lock()
	defer mu.Unlock()
	if len(received) == 0 {
		t.Fatal("the backends received no call")
	}
	for call, tp := range received {
		parts := strings.Split(tp, "-")
		if len(parts) != 4 || parts[1] != traceID.String() {
			t.Errorf("%s carried traceparent %q, want trace %s", call, tp, traceID)
			continue
		}
		span, _ := trace.SpanIDFromHex(parts[2])
		if s, ok := tree[span]; !ok || !strings.HasPrefix(s.Name, "HTTP ") || s.SpanKind != trace.SpanKindClient {
			t.Errorf("%s carried parent span %s, which is not a gateway HTTP span (%s)", call, parts[2], s.Name)
		}
	}
	if t.Failed() {
		var all []string
		for c := range chains {
			all = append(all, c)
		}
		t.Logf("spans of trace %s:\n%s", traceID, strings.Join(all, "\n"))
	}
}
