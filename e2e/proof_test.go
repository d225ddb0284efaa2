package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// The proof suite (TestProof*) runs Flowgate as real processes and reports what it
// survives and what it costs. go test ./... runs the short fault proof; the load and
// scale proofs measure, so they run when asked: CI runs their short version once
// (.ci/run) with
//
//	FLOWGATE_PROOF=ci go test ./e2e -run 'TestProof(Load|Scale)' -v
//
// and the sizes the figures in BENCHMARKS.md come from run with
//
//	FLOWGATE_PROOF=full go test ./e2e -run TestProof -v -timeout 4h
//
// Every figure is printed on a line that starts with "PROOF".

// proofSize is ci normally and full when FLOWGATE_PROOF=full.
func proofSize(ci, full int) int {
	if os.Getenv("FLOWGATE_PROOF") == "full" {
		return full
	}
	return ci
}

// measuring skips a proof that measures (load, scale) unless FLOWGATE_PROOF asks for it.
func measuring(t *testing.T) {
	t.Helper()
	if os.Getenv("FLOWGATE_PROOF") == "" {
		t.Skip("a measurement, not a check: run it with FLOWGATE_PROOF=ci (the short size CI runs) or FLOWGATE_PROOF=full")
	}
}

func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("PROOF "+format, args...)
}

// errHang marks a call that got no answer before the client's deadline.
var errHang = errors.New("no answer before the deadline (hang)")

// agent is an MCP client that, like a real agent, opens a new session when the server
// it talked to went away.
type agent struct {
	url string
	mu  sync.Mutex
	cs  *mcp.ClientSession
}

func (a *agent) session(ctx context.Context) (*mcp.ClientSession, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cs != nil {
		return a.cs, nil
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "flowgate-proof", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.url, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return nil, err
	}
	a.cs = cs
	return cs, nil
}

func (a *agent) drop(cs *mcp.ClientSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cs == cs {
		a.cs = nil
		go cs.Close()
	}
}

func (a *agent) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cs != nil {
		a.cs.Close()
		a.cs = nil
	}
}

// call makes one tool call with a deadline. A tool error comes back as a result with
// IsError; err is a transport failure (the session is dropped so that the next call
// reconnects) or errHang.
func (a *agent) call(timeout time.Duration, name string, args map[string]any) (toolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cs, err := a.session(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return toolResult{}, errHang
		}
		return toolResult{}, fmt.Errorf("connect: %w", err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		a.drop(cs)
		if ctx.Err() != nil {
			return toolResult{}, errHang
		}
		return toolResult{}, err
	}
	out := toolResult{IsError: res.IsError}
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			out.Text += tc.Text
		}
	}
	if res.StructuredContent != nil {
		out.Structured, _ = json.Marshal(res.StructuredContent)
	}
	return out, nil
}

// tally counts call outcomes during a fault: answered, refused with a clear tool error,
// failed fast at the transport (connection refused or reset), or hung.
type tally struct {
	ok, toolErr, transport, hung atomic.Int64
	mu                           sync.Mutex
	samples                      []string
	slowest                      time.Duration
}

// add records one call's outcome and how long it took.
func (c *tally) add(r toolResult, err error, took time.Duration) {
	c.mu.Lock()
	c.slowest = max(c.slowest, took)
	c.mu.Unlock()
	switch {
	case errors.Is(err, errHang):
		c.hung.Add(1)
	case err != nil:
		c.transport.Add(1)
		c.sample("transport: " + err.Error())
	case r.IsError:
		c.toolErr.Add(1)
		c.sample("tool error: " + r.Text)
	default:
		c.ok.Add(1)
	}
}

func (c *tally) sample(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) < 3 {
		c.samples = append(c.samples, s)
	}
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("answered %d, clear tool error %d, transport error %d, hung %d, slowest %.1fs; e.g. %q",
		c.ok.Load(), c.toolErr.Load(), c.transport.Load(), c.hung.Load(), c.slowest.Seconds(), c.samples)
}

// parallel runs f for 0..n-1 on workers goroutines.
func parallel(n, workers int, f func(i int)) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// mixedStart is the i-th workflow of the fault test: onboarding, deployment and audit in turn.
func mixedStart(i int) map[string]any {
	var kind string
	var params map[string]any
	switch i % 3 {
	case 0:
		kind, params = "onboarding", map[string]any{"email": fmt.Sprintf("fault.%d@example.com", i), "name": fmt.Sprintf("Fault Hire %d", i), "role": "editor"}
	case 1:
		kind, params = "deployment", map[string]any{"service": []string{"orders", "users", "products"}[i%3], "version": fmt.Sprintf("7.%d.0", i), "environment": "production"}
	default:
		kind, params = "audit", map[string]any{"tables": []string{"users", "orders"}, "evidence": []string{"evidence/users.csv"}}
	}
	return map[string]any{"workflow_type": kind, "idempotency_key": fmt.Sprintf("fault-%d", i), "parameters": params}
}

// restartable is a flowgate process the test kills and starts again with the same arguments.
type restartable struct {
	t    *testing.T
	args []string
	p    *proc
}

func (r *restartable) start() { r.p = startProc(r.t, r.args...) }

func (r *restartable) kill() { r.p.kill() }

// TestProofFaults keeps mixed workflows in flight while it SIGKILLs the Temporal server
// (flowgate dev) and restarts it on the same file, SIGKILLs the worker, and kills and
// restarts the MCP server in the middle of approvals; the demo backends fail 10% of
// requests on top. It counts workflows lost, side effects duplicated (from the backends'
// idempotency ledger) and calls that hung instead of answering or failing clearly.
func TestProofFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	if os.Getenv("FLOWGATE_PROOF") == "" {
		// As a check (no figures asked for) it runs beside the other process tests: most
		// of its time is spent waiting for the 30 s timeouts of the activities the killed
		// worker held.
		t.Parallel()
	}
	n := proofSize(18, 100)
	const callTimeout = 45 * time.Second // the MCP server gives up on Temporal after 30s
	dir := t.TempDir()
	port, demoPort := freePort(t), freePort(t)
	temporal := fmt.Sprintf("127.0.0.1:%d", port)
	demoURL := fmt.Sprintf("http://127.0.0.1:%d", demoPort)
	// Up to 400ms per request keeps POSTs in flight when the worker dies.
	startProc(t, "demo-backends", "--addr", fmt.Sprintf("127.0.0.1:%d", demoPort), "--failure-rate", "0.1", "--latency", "400ms")
	waitHTTP(t, demoURL+"/_ledger")

	temporalProc := &restartable{t: t, args: []string{"dev", "--data-dir", dir, "--port", fmt.Sprint(port), "--no-ui", "--no-worker", "--no-mcp",
		"--demo-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--log-level", "error"}}
	temporalUp := func() {
		temporalProc.start()
		testenv.WaitFor(t, 60*time.Second, "Temporal (flowgate dev) ready", func() (bool, error) {
			return strings.Contains(temporalProc.p.out.String(), "Flowgate is ready"), nil
		})
	}
	temporalUp()
	worker := &restartable{t: t, args: []string{"worker", "--temporal-address", temporal, "--data-dir", dir, "--gateway-url", demoURL, "--log-level", "error"}}
	worker.start()
	mcpServer := func(actor string) (*restartable, string) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		r := &restartable{t: t, args: []string{"mcp", "--transport", "http", "--addr", addr, "--temporal-address", temporal, "--actor", actor, "--log-level", "error"}}
		r.start()
		waitHTTP(t, "http://"+addr+"/healthz")
		return r, "http://" + addr + "/mcp"
	}
	_, requesterURL := mcpServer("requester")
	approverMCP, approverURL := mcpServer("approver")
	requester, approver := &agent{url: requesterURL}, &agent{url: approverURL}
	defer requester.close()
	defer approver.close()

	// 1. Start n workflows, 8 agents at a time; a third of the way in, SIGKILL Temporal
	// and bring it back on the same file. A start that failed is retried with its key.
	ids := make([]string, n)
	var starts tally
	var begun atomic.Int64
	killed := make(chan struct{})
	var outage time.Duration
	go func() {
		defer close(killed)
		for begun.Load() < int64(n/3) {
			time.Sleep(5 * time.Millisecond)
		}
		t0 := time.Now()
		temporalProc.kill()
		time.Sleep(3 * time.Second)
		temporalUp()
		outage = time.Since(t0)
	}()
	var startRetries atomic.Int64
	parallel(n, 8, func(i int) {
		begun.Add(1)
		for attempt := 0; ; attempt++ {
			t0 := time.Now()
			r, err := requester.call(callTimeout, "start_workflow", mixedStart(i))
			if attempt == 0 {
				starts.add(r, err, time.Since(t0))
			}
			if err == nil && !r.IsError {
				var s mcpserver.StartResult
				if json.Unmarshal(r.Structured, &s) == nil {
					ids[i] = s.WorkflowID
				}
				return
			}
			if attempt == 5 {
				t.Errorf("start %d: gave up: %v %s", i, err, r.Text)
				return
			}
			startRetries.Add(1)
			time.Sleep(2 * time.Second)
		}
	})
	<-killed
	report(t, "faults: %d workflows started (onboarding, deployment, audit); Temporal SIGKILLed after %d starts began and back on the same file %.1fs later", n, n/3, outage.Seconds())
	report(t, "faults: start calls, first attempt: %s; %d retried with the same idempotency key", &starts, startRetries.Load())
	if t.Failed() {
		t.FailNow()
	}

	status := func(id string) (mcpserver.StatusResult, error) {
		var st mcpserver.StatusResult
		r, err := approver.call(callTimeout, "get_workflow_status", map[string]any{"workflow_id": id})
		if err != nil {
			return st, err
		}
		if r.IsError {
			return st, errors.New(r.Text)
		}
		return st, json.Unmarshal(r.Structured, &st)
	}
	waitAll := func(want workflows.Status, within time.Duration) (reached int) {
		deadline := time.Now().Add(within)
		for _, id := range ids {
			for {
				st, err := status(id)
				if err == nil && st.Status == want {
					reached++
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: status %s (%v), want %s", id, st.Status, err, want)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		return reached
	}
	waitAll(workflows.StatusWaitingApproval, 3*time.Minute)
	if t.Failed() {
		t.FailNow()
	}

	approve := func(i int, c *tally) (retried, landedBefore bool) {
		for attempt := 0; ; attempt++ {
			t0 := time.Now()
			st, err := status(ids[i])
			if err == nil && st.Status != workflows.StatusWaitingApproval {
				return retried, attempt > 0 // an earlier call was applied before its answer was lost
			}
			approve := map[string]any{"workflow_id": ids[i], "action": "approve", "step": st.CurrentStep, "comment": "approved under fault injection"}
			if strings.HasPrefix(ids[i], "deployment-") {
				approve["inputs"] = changeTicket
			}
			r, err := approver.call(callTimeout, "advance_workflow", approve)
			if attempt == 0 {
				c.add(r, err, time.Since(t0))
			}
			if err == nil && !r.IsError {
				return retried, false
			}
			if attempt == 10 {
				t.Errorf("approve %s: gave up: %v %s", ids[i], err, r.Text)
				return retried, false
			}
			retried = true
			time.Sleep(time.Second)
		}
	}

	// 2. Approve the first half; once a third of those answered, SIGKILL the worker while
	// approved workflows run their deploy, grant and notify activities, and bring a new
	// worker 3s later. The activities it held are retried once their heartbeats stop for
	// their heartbeat timeout (a notification, which heartbeats its progress, after its 30s
	// start-to-close timeout), with the same idempotency keys.
	half := n / 2
	var workerFault tally
	var approved atomic.Int64
	workerKilled := make(chan struct{})
	go func() {
		defer close(workerKilled)
		for approved.Load() < int64(half/3) {
			time.Sleep(time.Millisecond)
		}
		worker.kill()
		time.Sleep(3 * time.Second)
		worker.start()
	}()
	parallel(half, 8, func(i int) {
		approve(i, &workerFault)
		approved.Add(1)
	})
	<-workerKilled
	report(t, "faults: worker SIGKILLed after %d of %d approvals, with activities in flight: %s", half/3, half, &workerFault)

	// 3. Approve the rest, SIGKILL the approver's MCP server after a few and restart it.
	var mcpFault tally
	var done, retriedN, landedN atomic.Int64
	mcpKilled := make(chan struct{})
	go func() {
		defer close(mcpKilled)
		for done.Load() < int64((n-half)/4) {
			time.Sleep(time.Millisecond)
		}
		approverMCP.kill()
		time.Sleep(time.Second)
		approverMCP.start()
	}()
	parallel(n-half, 8, func(j int) {
		retried, landed := approve(half+j, &mcpFault)
		done.Add(1)
		if retried {
			retriedN.Add(1)
		}
		if landed {
			landedN.Add(1)
		}
	})
	<-mcpKilled
	report(t, "faults: MCP server SIGKILLed and restarted during %d approvals: %s; %d retried on a new session, %d of those had been applied before the crash and were not applied again",
		n-half, &mcpFault, retriedN.Load(), landedN.Load())

	completed := waitAll(workflows.StatusCompleted, 4*time.Minute)

	// No start was duplicated: list_workflows sees exactly n runs.
	r, err := approver.call(callTimeout, "list_workflows", map[string]any{"limit": 1, "include_total": true})
	if err != nil || r.IsError {
		t.Fatalf("list_workflows: %v %s", err, r.Text)
	}
	var list mcpserver.ListResult
	if err := json.Unmarshal(r.Structured, &list); err != nil {
		t.Fatal(err)
	}
	// Side effects: one ledger key per workflow step, each applied once.
	resp, err := http.Get(demoURL + "/_ledger")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ledger map[string]demo.LedgerEntry
	if err := json.Unmarshal(raw, &ledger); err != nil {
		t.Fatalf("ledger: %v", err)
	}
	perEffect := map[string]int{}
	requests, applied := 0, 0
	for key, e := range ledger {
		wf := key[:max(strings.LastIndex(key, "/"), 0)]
		perEffect[wf+" "+e.Service+" "+e.Path] += e.Applied
		requests += e.Requests
		applied += e.Applied
	}
	duplicated := 0
	for effect, count := range perEffect {
		if count > 1 {
			duplicated += count - 1
			t.Errorf("side effect %q applied %d times", effect, count)
		}
	}
	lost := n - completed
	report(t, "faults: %d of %d workflows completed, %d lost; list_workflows total %d", completed, n, lost, total(list))
	report(t, "faults: %d side effects applied by the backends, %d repeated requests answered from the idempotency ledger without a second effect; %d duplicated",
		applied, requests-len(ledger), duplicated)
	if lost != 0 {
		t.Errorf("%d workflows lost", lost)
	}
	if total(list) != int64(n) {
		t.Errorf("list_workflows total = %d, want %d (a retried start made a second run?)", total(list), n)
	}
	for _, c := range []*tally{&starts, &workerFault, &mcpFault} {
		if c.hung.Load() != 0 {
			t.Errorf("calls hung: %s", c)
		}
	}
	// Every approved deployment reached the deploy backend once.
	for i, id := range ids {
		if e, runs := ledgerOf(ledger, id, workflows.StepDeploy); i%3 == 1 && (e.Applied != 1 || runs != 1) {
			t.Errorf("deploy of %s: %+v in %d runs, want applied once", id, e, runs)
		}
	}
}

// lifecycleLatencies holds per-operation latencies of the load test.
type lifecycleLatencies struct{ start, status, advance latencies }

func (l *lifecycleLatencies) line() string {
	return fmt.Sprintf("start p50 %.1f p99 %.1f ms, status p50 %.1f p99 %.1f ms, advance p50 %.1f p99 %.1f ms",
		ms(l.start.pct(0.5)), ms(l.start.pct(0.99)), ms(l.status.pct(0.5)), ms(l.status.pct(0.99)), ms(l.advance.pct(0.5)), ms(l.advance.pct(0.99)))
}

// TestProofLoad runs sessions concurrent MCP sessions over Streamable HTTP against one
// `flowgate dev` process, each running lifecycles full approval lifecycles (start, poll
// status every 250 ms until waiting, approve, poll until completed), then the same work through the
// raw Temporal SDK against the same server, and reports errors, latency percentiles per
// tool, throughput and the server's memory.
func TestProofLoad(t *testing.T) {
	measuring(t)
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	sessions, per := proofSize(8, 64), proofSize(3, 50)
	const poll = 250 * time.Millisecond // an agent checking four times a second
	port, mcpPort := freePort(t), freePort(t)
	dev := startDev(t, "--data-dir", t.TempDir(), "--port", fmt.Sprint(port), "--no-ui", "--ui-port", fmt.Sprint(freePort(t)),
		"--mcp-addr", fmt.Sprintf("127.0.0.1:%d", mcpPort), "--demo-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	dev.waitReady(t, fmt.Sprintf("127.0.0.1:%d", mcpPort))
	c := dialTemporal(t, fmt.Sprintf("127.0.0.1:%d", port))
	idleRSS := rssMiB(dev.cmd.Process.Pid)
	total := sessions * per
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	// Raw SDK first: the MCP run that follows sees the larger database.
	var raw lifecycleLatencies
	var rawErrs atomic.Int64
	t0 := time.Now()
	parallel(total, sessions, func(i int) {
		if err := rawMeasuredLifecycle(ctx, c, fmt.Sprintf("3.%d.0", i), poll, &raw); err != nil {
			rawErrs.Add(1)
			t.Logf("raw lifecycle %d: %v", i, err)
		}
	})
	rawElapsed := time.Since(t0)

	var viaMCP lifecycleLatencies
	var mcpErrs atomic.Int64
	agents := make([]*agent, sessions)
	for i := range agents {
		agents[i] = &agent{url: dev.mcpURL}
		defer agents[i].close()
	}
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(250 * time.Millisecond):
				if r := int64(rssMiB(dev.cmd.Process.Pid)); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	t0 = time.Now()
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range per {
				if err := mcpMeasuredLifecycle(agents[s], fmt.Sprintf("4.%d.%d", s, k), poll, &viaMCP); err != nil {
					mcpErrs.Add(1)
					t.Logf("MCP lifecycle %d/%d: %v", s, k, err)
				}
			}
		}()
	}
	wg.Wait()
	mcpElapsed := time.Since(t0)
	close(stopSampling)

	rawRate, mcpRate := float64(total)/rawElapsed.Seconds(), float64(total)/mcpElapsed.Seconds()
	report(t, "load: %d sessions x %d lifecycles = %d per side; errors: MCP %d, raw SDK %d", sessions, per, total, mcpErrs.Load(), rawErrs.Load())
	report(t, "load: MCP     %s; %.1f lifecycles/s", viaMCP.line(), mcpRate)
	report(t, "load: raw SDK %s; %.1f lifecycles/s", raw.line(), rawRate)
	report(t, "load: ratio MCP/raw p50 start %.2f status %.2f advance %.2f; p99 start %.2f status %.2f advance %.2f; throughput %.2f",
		ratio(viaMCP.start.pct(.5), raw.start.pct(.5)), ratio(viaMCP.status.pct(.5), raw.status.pct(.5)), ratio(viaMCP.advance.pct(.5), raw.advance.pct(.5)),
		ratio(viaMCP.start.pct(.99), raw.start.pct(.99)), ratio(viaMCP.status.pct(.99), raw.status.pct(.99)), ratio(viaMCP.advance.pct(.99), raw.advance.pct(.99)),
		mcpRate/rawRate)
	report(t, "load: flowgate dev RSS idle %.0f MiB, peak during the MCP run %d MiB, after %.0f MiB", idleRSS, peak.Load(), rssMiB(dev.cmd.Process.Pid))
	if mcpErrs.Load() != 0 || rawErrs.Load() != 0 {
		t.Errorf("lifecycles failed: MCP %d, raw %d", mcpErrs.Load(), rawErrs.Load())
	}
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// mcpMeasuredLifecycle is one approval lifecycle as an agent runs it over MCP.
func mcpMeasuredLifecycle(a *agent, version string, poll time.Duration, lat *lifecycleLatencies) error {
	const timeout = time.Minute
	t0 := time.Now()
	r, err := a.call(timeout, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": version, "environment": "staging"}})
	if err != nil || r.IsError {
		return fmt.Errorf("start: %v %s", err, r.Text)
	}
	lat.start.add(time.Since(t0))
	var s mcpserver.StartResult
	if err := json.Unmarshal(r.Structured, &s); err != nil {
		return err
	}
	waitFor := func(want workflows.Status) error {
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(poll) {
			t0 := time.Now()
			r, err := a.call(timeout, "get_workflow_status", map[string]any{"workflow_id": s.WorkflowID})
			if err != nil || r.IsError {
				return fmt.Errorf("status: %v %s", err, r.Text)
			}
			lat.status.add(time.Since(t0))
			var st mcpserver.StatusResult
			if err := json.Unmarshal(r.Structured, &st); err != nil {
				return err
			}
			if st.Status == want {
				return nil
			}
		}
		return fmt.Errorf("%s did not reach %s", s.WorkflowID, want)
	}
	if err := waitFor(workflows.StatusWaitingApproval); err != nil {
		return err
	}
	t0 = time.Now()
	r, err = a.call(timeout, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": workflows.StepDeployApproval})
	if err != nil || r.IsError {
		return fmt.Errorf("advance: %v %s", err, r.Text)
	}
	lat.advance.add(time.Since(t0))
	return waitFor(workflows.StatusCompleted)
}

// rawMeasuredLifecycle is mcpMeasuredLifecycle through the raw SDK: ExecuteWorkflow,
// the status query, the advance update.
func rawMeasuredLifecycle(ctx context.Context, c client.Client, version string, poll time.Duration, lat *lifecycleLatencies) error {
	s, err := app.PrepareStart(workflows.KindDeployment,
		json.RawMessage(`{"service":"orders","version":"`+version+`","environment":"staging"}`), workflows.Request{RequestedBy: "bench"})
	if err != nil {
		return err
	}
	t0 := time.Now()
	run, err := c.ExecuteWorkflow(ctx, s.Options("deployment-"+uuid.NewString()), string(workflows.KindDeployment), s.Input)
	if err != nil {
		return err
	}
	lat.start.add(time.Since(t0))
	waitFor := func(want workflows.Status) error {
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(poll) {
			t0 := time.Now()
			v, err := testenv.Status(ctx, c, run.GetID())
			for wait := 100 * time.Millisecond; isServerTimeout(err); wait = min(2*wait, time.Second) {
				time.Sleep(wait) // as the MCP server does: a query is safe to ask again
				v, err = testenv.Status(ctx, c, run.GetID())
			}
			if err != nil {
				return err
			}
			lat.status.add(time.Since(t0))
			if v.Status == want {
				return nil
			}
		}
		return fmt.Errorf("%s did not reach %s", run.GetID(), want)
	}
	if err := waitFor(workflows.StatusWaitingApproval); err != nil {
		return err
	}
	t0 = time.Now()
	if err := approveDeployment(ctx, c, run.GetID()); err != nil {
		return err
	}
	lat.advance.add(time.Since(t0))
	return waitFor(workflows.StatusCompleted)
}

// dialTemporal connects a raw SDK client to a Temporal frontend.
func dialTemporal(t testing.TB, address string) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Logger: sdklog.NewStructuredLogger(testenv.Logger())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestProofScale fills one `flowgate dev` process (Temporal on its SQLite file, the
// worker, the MCP server) with deployments waiting for approval, and at each level
// reports the server's memory, the database size, the latency of list_workflows (first
// page, a status filter, following pages) and get_workflow_status, and how long an
// approval takes to complete.
func TestProofScale(t *testing.T) {
	measuring(t)
	if testing.Short() {
		t.Skip("scale test skipped in -short mode")
	}
	levels := slopeLevels
	if os.Getenv("FLOWGATE_PROOF") == "full" {
		levels = []int{10000, 100000}
	}
	// FLOWGATE_PROOF_LEVELS sets the levels, such as 500,2000 or 10000,100000.
	if v := os.Getenv("FLOWGATE_PROOF_LEVELS"); v != "" {
		levels = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("FLOWGATE_PROOF_LEVELS=%q: %q is not a number of runs", v, f)
			}
			levels = append(levels, n)
		}
	}
	dir := t.TempDir()
	// FLOWGATE_PROOF_DATA_DIR keeps the filled data folder, to measure against it again.
	if keep := os.Getenv("FLOWGATE_PROOF_DATA_DIR"); keep != "" {
		dir = keep
		report(t, "scale: data folder %s is kept", dir)
	}
	port, mcpPort := freePort(t), freePort(t)
	args := []string{"--data-dir", dir, "--port", fmt.Sprint(port), "--no-ui", "--ui-port", fmt.Sprint(freePort(t)),
		"--mcp-addr", fmt.Sprintf("127.0.0.1:%d", mcpPort), "--demo-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	// FLOWGATE_PROOF_WORKFLOW_CACHE bounds the worker's workflow cache, to measure what a
	// waiting run costs with and without it, and an approval of an evicted run.
	if n := os.Getenv("FLOWGATE_PROOF_WORKFLOW_CACHE"); n != "" {
		args = append(args, "--workflow-cache", n)
		report(t, "scale: worker workflow cache %s runs", n)
	}
	// FLOWGATE_PROOF_HEAP=DIR saves a heap profile of flowgate dev at each level there.
	heapDir, debugAddr := os.Getenv("FLOWGATE_PROOF_HEAP"), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args = append(args, "--debug-addr", debugAddr)
	dev := startDev(t, args...)
	dev.waitReady(t, fmt.Sprintf("127.0.0.1:%d", mcpPort))
	c := dialTemporal(t, fmt.Sprintf("127.0.0.1:%d", port))
	a := &agent{url: dev.mcpURL}
	defer a.close()
	report(t, "scale: idle flowgate dev RSS %.0f MiB", rssMiB(dev.cmd.Process.Pid))
	ctx := context.Background()
	list := func(args map[string]any) (mcpserver.ListResult, error) {
		var l mcpserver.ListResult
		r, err := a.call(2*time.Minute, "list_workflows", args)
		if err != nil || r.IsError {
			return l, fmt.Errorf("list_workflows: %v %s", err, r.Text)
		}
		return l, json.Unmarshal(r.Structured, &l)
	}
	waiting := map[string]any{"status": "waiting_approval", "limit": 20}
	// The fill counts the waiting runs however long that takes.
	waitingCount := map[string]any{"status": "waiting_approval", "limit": 1, "include_total": true}
	// A kept data folder may hold waiting runs already (FLOWGATE_PROOF_DATA_DIR again):
	// they count towards the levels, oldest first, so a second run measures again
	// without filling again.
	ids, already := waitingIDs(t, c)
	if already > 0 {
		report(t, "scale: %d runs wait already in %s", already, dir)
	}
	// have is how many runs the levels have: those waiting already and those started here.
	preexisting := already - len(ids)
	have := func() int { return preexisting + len(ids) }
	var rssAt, heldAt []float64
	// FLOWGATE_PROOF_WAITS=half parks half of each level at a timer wait step (30 days)
	// instead of a gate, to show that a wait costs no more memory than a gate while it
	// waits; the levels count both.
	halfWaits := os.Getenv("FLOWGATE_PROOF_WAITS") == "half"
	if v := os.Getenv("FLOWGATE_PROOF_WAITS"); v != "" && !halfWaits {
		t.Fatalf("FLOWGATE_PROOF_WAITS=%q; allowed: half", v)
	}
	parked := 0
	if halfWaits {
		parked = countWaits(t, c)
		report(t, "scale: half of each level waits at a timer wait step (%d already)", parked)
	}
	for _, level := range levels {
		// gates is how many of the level wait at their gate; the rest wait at a wait step.
		gates := level
		if halfWaits {
			gates = level - level/2
			t0 := time.Now()
			if n := level/2 - parked; n > 0 {
				parkAtWaits(t, c, n)
			}
			testenv.WaitFor(t, max(30*time.Minute, time.Duration(level)*100*time.Millisecond), fmt.Sprintf("%d runs at a wait step", level/2), func() (bool, error) {
				parked = countWaits(t, c)
				return parked >= level/2, fmt.Errorf("%d at a wait step", parked)
			})
			report(t, "scale: %d runs at a wait step after %.1fs", parked, time.Since(t0).Seconds())
		}
		from := have()
		t0 := time.Now()
		// Starts are paced, 500 at a time, each batch once the runs before it but 100 are
		// at their gate: a flood of 100 000 starts puts their first workflow tasks in a
		// matching backlog that SQLite stores, and the fill crawled (8 runs a second).
		for progress := from + 10000; have() < gates; {
			ids = append(ids, topUp(t, c, min(500, gates-have()))...)
			for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if l, err := list(waitingCount); err == nil && total(l) >= int64(have()-100) {
					break
				}
			}
			if have() >= progress && gates-from > 10000 { // a progress line each 10 000, for long fills
				report(t, "scale: filling to %d: %d started after %.0fs (%.0f/s), RSS %.0f MiB",
					level, have(), time.Since(t0).Seconds(), float64(have()-from)/time.Since(t0).Seconds(), rssMiB(dev.cmd.Process.Pid))
				progress += 10000
			}
		}
		started := time.Since(t0)
		var filled time.Duration
		// However slow the store, at least 10 runs a second reach their gate.
		fill := max(30*time.Minute, time.Duration(gates-from)*100*time.Millisecond)
		testenv.WaitFor(t, fill, fmt.Sprintf("%d deployments waiting", gates), func() (bool, error) {
			l, err := list(waitingCount)
			filled = time.Since(t0)
			return err == nil && total(l) >= int64(gates), fmt.Errorf("%d waiting (%v)", total(l), err)
		})
		time.Sleep(5 * time.Second) // let the last tasks settle before sampling memory
		rss := rssMiB(dev.cmd.Process.Pid)
		// And once the runtime has collected its garbage and given free pages back: what
		// the process holds, whatever the collector's timing (the slope check uses it).
		if resp, err := http.Post("http://"+debugAddr+"/debug/free-os-memory", "text/plain", nil); err != nil {
			t.Fatal(err)
		} else {
			resp.Body.Close()
		}
		held := rssMiB(dev.cmd.Process.Pid)
		report(t, "scale: %d waiting: RSS %.0f MiB, %.0f MiB once free memory is returned", level, rss, held)
		heap := memStats(t, "http://"+debugAddr+"/debug/pprof/heap?debug=1&gc=1")
		report(t, "scale: %d waiting: live heap %.0f MiB, heap in use %.0f MiB, from the OS %.0f MiB, returned %.0f MiB, goroutines %d",
			level, heap["HeapAlloc"]/(1<<20), heap["HeapInuse"]/(1<<20), heap["Sys"]/(1<<20), heap["HeapReleased"]/(1<<20), goroutines(t, "http://"+debugAddr+"/debug/pprof/goroutine?debug=1"))
		if heapDir != "" {
			saveHeapProfile(t, "http://"+debugAddr+"/debug/pprof/heap?gc=1", filepath.Join(heapDir, fmt.Sprintf("heap-%d.pb.gz", level)))
		}
		var first, filtered, next, status, rawList, rawCount, withTotal latencies
		firstTotal := int64(-1)
		cursor := ""
		for i := range 20 {
			// The raw SDK doing list_workflows' work for its first page, side by side: a page
			// of the same query, and its count.
			t1 := time.Now()
			if _, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: app.ListQuery("", ""), PageSize: 20}); err != nil {
				t.Fatal(err)
			}
			rawList.add(time.Since(t1))
			t1 = time.Now()
			if _, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: app.ListQuery("", "")}); err != nil {
				t.Fatal(err)
			}
			rawCount.add(time.Since(t1))
			t1 = time.Now()
			l, err := list(map[string]any{"limit": 20})
			if err != nil {
				t.Fatal(err)
			}
			first.add(time.Since(t1))
			firstTotal = total(l)
			t1 = time.Now()
			if _, err := list(map[string]any{"limit": 20, "include_total": true}); err != nil {
				t.Fatal(err)
			}
			withTotal.add(time.Since(t1))
			t1 = time.Now()
			if _, err := list(waiting); err != nil {
				t.Fatal(err)
			}
			filtered.add(time.Since(t1))
			if cursor == "" { // walk the pages: each call goes on where the last stopped
				cursor = l.Pagination.NextCursor
			}
			t1 = time.Now()
			page, err := list(map[string]any{"limit": 20, "cursor": cursor})
			if err != nil {
				t.Fatal(err)
			}
			next.add(time.Since(t1))
			cursor = page.Pagination.NextCursor
			t1 = time.Now()
			if r, err := a.call(time.Minute, "get_workflow_status", map[string]any{"workflow_id": ids[len(ids)-1-i]}); err != nil || r.IsError {
				t.Fatalf("status: %v %s", err, r.Text)
			}
			status.add(time.Since(t1))
		}
		// Approvals of the oldest runs, long out of both caches: five through the raw SDK
		// and five through MCP, side by side, each to the run's completion.
		var rawApprove, mcpApprove latencies
		for i := range 10 {
			id := ids[0]
			ids = ids[1:]
			t1 := time.Now()
			if i%2 == 0 {
				if err := advanceAndWait(ctx, c, id); err != nil {
					t.Fatalf("approve at %d: %v", level, err)
				}
				rawApprove.add(time.Since(t1))
				continue
			}
			if r, err := a.call(time.Minute, "advance_workflow", map[string]any{"workflow_id": id, "action": "approve", "step": "approval", "comment": "scale"}); err != nil || r.IsError {
				t.Fatalf("advance_workflow at %d: %v %s", level, err, r.Text)
			}
			var st workflows.State
			if err := c.GetWorkflow(ctx, id, "").Get(ctx, &st); err != nil || st.Status != workflows.StatusCompleted {
				t.Fatalf("approved through MCP at %d: %s %v", level, st.Status, err)
			}
			mcpApprove.add(time.Since(t1))
		}
		db := fileMiB(dir + "/temporal.db")
		if gates <= from {
			report(t, "scale: %d waiting: none started here (the data folder had them); flowgate dev RSS %.0f MiB; temporal.db %.1f MiB (%.1f KiB per workflow)",
				level, rss, db, db*1024/float64(level))
		} else {
			report(t, "scale: %d waiting: started in %.1fs (%.0f/s), all waiting after %.1fs (%.0f/s to their gate); flowgate dev RSS %.0f MiB; temporal.db %.1f MiB (%.1f KiB per workflow)",
				level, started.Seconds(), float64(gates-from)/started.Seconds(), filled.Seconds(), float64(gates-from)/filled.Seconds(), rss, db, db*1024/float64(level))
		}
		report(t, "scale: %d waiting: list_workflows first page p50 %.1f p99 %.1f ms, status filter p50 %.1f p99 %.1f ms, next pages p50 %.1f p99 %.1f ms; get_workflow_status p50 %.1f p99 %.1f ms",
			level, ms(first.pct(.5)), ms(first.pct(.99)), ms(filtered.pct(.5)), ms(filtered.pct(.99)), ms(next.pct(.5)), ms(next.pct(.99)), ms(status.pct(.5)), ms(status.pct(.99)))
		report(t, "scale: %d waiting: raw SDK, same query: a page of 20 p50 %.1f p99 %.1f ms, its count p50 %.1f p99 %.1f ms; list_workflows with include_total p50 %.1f p99 %.1f ms (the first page without it gave total %d, -1 meaning not counted within %s)",
			level, ms(rawList.pct(.5)), ms(rawList.pct(.99)), ms(rawCount.pct(.5)), ms(rawCount.pct(.99)), ms(withTotal.pct(.5)), ms(withTotal.pct(.99)), firstTotal, mcpserver.DefaultListCountBudget)
		report(t, "scale: %d waiting: approve to completed, runs no longer cached: raw SDK p50 %.0f ms, MCP p50 %.0f ms (max %.0f / %.0f)",
			level, ms(rawApprove.pct(.5)), ms(mcpApprove.pct(.5)), ms(rawApprove.pct(1)), ms(mcpApprove.pct(1)))
		if len(rssAt) > 0 {
			prev := levels[len(rssAt)-1]
			report(t, "scale: from %d to %d waiting, RSS %.0f -> %.0f MiB: %.0f MiB per 10 000 waiting runs; once free memory is returned %.0f -> %.0f MiB: %.0f MiB per 10 000",
				prev, level, rssAt[len(rssAt)-1], rss, (rss-rssAt[len(rssAt)-1])*10000/float64(level-prev),
				heldAt[len(heldAt)-1], held, (held-heldAt[len(heldAt)-1])*10000/float64(level-prev))
		}
		rssAt, heldAt = append(rssAt, rss), append(heldAt, held)
		// Top the level up again, so the next one starts from a full count.
		ids = append(ids, topUp(t, c, 10)...)
	}
	// The short version's check (CI): waiting runs cost memory only while they have work.
	// It compares what the process holds once free memory is returned: RSS as it stands
	// also counts garbage the collector has not reached yet, which varies run to run.
	if slices.Equal(levels, slopeLevels) && heldAt[1] > 1.2*heldAt[0] {
		t.Errorf("flowgate dev holds %.0f MiB with %d runs waiting, more than 20%% above %.0f MiB with %d (RSS before returning free memory: %.0f and %.0f MiB)",
			heldAt[1], levels[1], heldAt[0], levels[0], rssAt[1], rssAt[0])
	}
	if os.Getenv("FLOWGATE_PROOF") == "full" && rssAt[len(rssAt)-1] >= 1024 {
		t.Errorf("flowgate dev RSS %.0f MiB with %d runs waiting, want under 1 GiB", rssAt[len(rssAt)-1], levels[len(levels)-1])
	}
}

// waitingIDs counts the deployments waiting at their gate and lists the newest 2 000 of
// them, oldest first, through the raw SDK. After a restart none is in a cache, and these
// are enough to approve and to look at (pages after the first cost SQLite visibility more
// per run: at 100 000 a page of 1 000 did not answer within the server's 10 s).
func waitingIDs(t *testing.T, c client.Client) ([]string, int) {
	t.Helper()
	query := app.ListQuery(string(workflows.KindDeployment), string(workflows.StatusWaitingApproval))
	n, err := c.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var token []byte
	for len(ids) < min(2000, int(n.GetCount())) {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 200, NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.Reverse(ids)
	return ids, int(n.GetCount())
}

// total is a listing's pagination.total, -1 when it was not counted.
func total(l mcpserver.ListResult) int64 {
	if l.Pagination.Total == nil {
		return -1
	}
	return *l.Pagination.Total
}

// slopeLevels are the short scale test's levels: memory at the second is at most 20%
// above memory at the first.
var slopeLevels = []int{500, 2000}

// scaleWait is the process half of the scale test's runs wait in
// (FLOWGATE_PROOF_WAITS=half): a timer wait step of 30 days, like vendor_access's
// access period, then a guard that never holds.
const scaleWait = `name: scale_wait
title: Scale wait
version: 1
summary: "hold {{params.n}}"
parameters:
  type: object
  properties:
    n: {type: integer}
steps:
  - name: access_period
    wait: {for: 30d}
  - name: done
    fail: {when: "false", reason: never}
`

// parkAtWaits starts n runs of scaleWait through the raw SDK, 16 at a time; each waits
// at its wait step.
func parkAtWaits(t *testing.T, c client.Client, n int) {
	t.Helper()
	d, err := workflows.ParseDefinition("scale_wait.yaml", []byte(scaleWait), workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	params, err := workflows.CompileParams(d)
	if err != nil {
		t.Fatal(err)
	}
	src := workflows.NewProcessSource(d, []byte(scaleWait))
	var errs atomic.Int64
	base := countWaits(t, c)
	for start := 0; start < n; start += 500 {
		parallel(min(500, n-start), 16, func(k int) {
			s, err := app.PrepareProcess(src, params, json.RawMessage(fmt.Sprintf(`{"n": %d}`, start+k)), workflows.Request{RequestedBy: "scale"})
			if err == nil {
				_, err = c.ExecuteWorkflow(context.Background(), s.Options("scale_wait-"+uuid.NewString()), d.Name, s.Input)
			}
			if err != nil && errs.Add(1) == 1 {
				t.Errorf("start a wait: %v", err)
			}
		})
		// Paced as the gates are: each batch once all but 100 before it wait.
		end := start + min(500, n-start)
		for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline) && countWaits(t, c) < base+end-100; time.Sleep(200 * time.Millisecond) {
		}
	}
	if errs.Load() != 0 {
		t.Fatalf("%d of %d starts of a wait failed", errs.Load(), n)
	}
}

// countWaits counts the runs of scaleWait waiting at their wait step.
func countWaits(t *testing.T, c client.Client) int {
	t.Helper()
	n, err := c.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Query: app.ListQuery("scale_wait", string(workflows.StatusWaiting))})
	if err != nil {
		t.Fatal(err)
	}
	return int(n.GetCount())
}

// topUp starts n deployments to staging through the raw SDK, 16 at a time; each runs its
// first steps and waits at its approval gate.
func topUp(t *testing.T, c client.Client, n int) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	var errs atomic.Int64
	var first error
	parallel(n, 16, func(k int) {
		s, err := app.PrepareStart(workflows.KindDeployment,
			json.RawMessage(fmt.Sprintf(`{"service":"orders","version":"5.%d.0","environment":"staging"}`, k)), workflows.Request{RequestedBy: "scale"})
		if err == nil {
			var run client.WorkflowRun
			run, err = c.ExecuteWorkflow(context.Background(), s.Options("deployment-"+uuid.NewString()), string(workflows.KindDeployment), s.Input)
			if err == nil {
				mu.Lock()
				ids = append(ids, run.GetID())
				mu.Unlock()
			}
		}
		if err != nil {
			if errs.Add(1) == 1 {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		}
	})
	if errs.Load() != 0 {
		t.Fatalf("%d of %d starts failed, the first with: %v", errs.Load(), n, first)
	}
	return ids
}

// advanceAndWait approves a waiting deployment through the raw SDK and waits for its end.
func advanceAndWait(ctx context.Context, c client.Client, id string) error {
	if err := approveDeployment(ctx, c, id); err != nil {
		return err
	}
	var st workflows.State
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &st); err != nil {
		return err
	}
	if st.Status != workflows.StatusCompleted {
		return fmt.Errorf("%s ended %s", id, st.Status)
	}
	return nil
}

// fileMiB is the size of a SQLite file with its write-ahead log, in MiB.
func fileMiB(path string) float64 {
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return float64(total) / (1 << 20)
}

// isServerTimeout reports whether Temporal abandoned a call on its side.
func isServerTimeout(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return errors.As(err, &deadline) || errors.As(err, &canceled)
}

// approveDeployment approves a deployment waiting at its gate with the advance update,
// as the raw SDK does it, and waits for the update's answer.
func approveDeployment(ctx context.Context, c client.Client, id string) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateAdvance,
		Args:         []any{workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Step: workflows.StepDeployApproval, Actor: "approver", Inputs: changeTicket}},
		WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

// memStats reads the runtime.MemStats figures ("# HeapAlloc = 123") at the end of a
// text heap profile.
func memStats(t *testing.T, url string) map[string]float64 {
	t.Helper()
	stats := map[string]float64{}
	for _, line := range strings.Split(string(httpBody(t, url)), "\n") {
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); ok && err == nil {
			stats[name] = f
		}
	}
	return stats
}

// goroutines reads the count at the head of a text goroutine profile.
func goroutines(t *testing.T, url string) int {
	t.Helper()
	var n int
	fmt.Sscanf(string(httpBody(t, url)), "goroutine profile: total %d", &n)
	return n
}

func httpBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return raw
}

// saveHeapProfile fetches a heap profile (after a collection) and writes it to path.
func saveHeapProfile(t *testing.T, url, path string) {
	t.Helper()
	if err := os.WriteFile(path, httpBody(t, url), 0o644); err != nil {
		t.Fatal(err)
	}
	report(t, "scale: heap profile %s", path)
}
