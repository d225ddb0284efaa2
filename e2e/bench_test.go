package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/devserver"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
	"github.com/flowgate/flowgate/workflows/legacy"
)

// Benchmarks report with b.ReportMetric; run them with
//
//	go test ./e2e -run '^$' -bench . -benchtime 1x
//
// Each drives the real embedded server in this process. Figures are in BENCHMARKS.md.

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func (l *latencies) mean() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range l.d {
		sum += d
	}
	return sum / time.Duration(len(l.d))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rssMiB reads the resident set size of a process from /proc.
func rssMiB(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// rawLifecycle runs one approval lifecycle through the raw SDK: start a staging
// deployment (the shipped definition, as every start does), poll the status query until it
// waits, approve with the advance update, and wait for the result.
func rawLifecycle(ctx context.Context, c client.Client, version string) error {
	return rawDeployment(ctx, c, version, false)
}

// rawDeployment is rawLifecycle; with pollEnd, it polls the status query for the end as
// an MCP client polls get_workflow_status, instead of waiting on the result.
func rawDeployment(ctx context.Context, c client.Client, version string, pollEnd bool) error {
	s, err := app.PrepareStart(workflows.KindDeployment,
		json.RawMessage(`{"service":"orders","version":"`+version+`","environment":"staging"}`), workflows.Request{RequestedBy: "bench"})
	if err != nil {
		return err
	}
	if pollEnd {
		return pollingLifecycle(ctx, c, s.Options, s.Input, string(workflows.KindDeployment))
	}
	return lifecycle(ctx, c, s.Options, s.Input, string(workflows.KindDeployment))
}

// goLifecycle is rawLifecycle on the deployment's Go code: a run started with typed
// parameters, as the release before the shipped definition started them.
func goLifecycle(ctx context.Context, c client.Client, version string) error {
	in := legacy.DeploymentInput{Request: workflows.Request{RequestedBy: "bench"},
		Params: workflows.DeploymentParams{Service: "orders", Version: version, Environment: "staging"}}
	return lifecycle(ctx, c, app.Prepared{Kind: workflows.KindDeployment, Input: workflows.ProcessInput{Request: in.Request}}.Options, in, string(workflows.KindDeployment))
}

// lifecycle starts input as workflowType (with the start options of its id), polls the status query until it waits, approves
// with the advance update and waits for the completed result.
func lifecycle(ctx context.Context, c client.Client, options func(id string) client.StartWorkflowOptions, input any, workflowType string) error {
	run, err := toApproved(ctx, c, options, input, workflowType)
	if err != nil {
		return err
	}
	var st workflows.State
	if err := run.Get(ctx, &st); err != nil {
		return err
	}
	if st.Status != workflows.StatusCompleted {
		return fmt.Errorf("status %s", st.Status)
	}
	return nil
}

// toApproved starts input as workflowType, polls the status query until it waits, and
// approves it with the advance update.
func toApproved(ctx context.Context, c client.Client, options func(id string) client.StartWorkflowOptions, input any, workflowType string) (client.WorkflowRun, error) {
	run, err := c.ExecuteWorkflow(ctx, options(workflowType+"-"+uuid.NewString()), workflowType, input)
	if err != nil {
		return nil, err
	}
	if err := pollStatus(ctx, c, run.GetID(), workflows.StatusWaitingApproval); err != nil {
		return nil, err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), RunID: run.GetRunID(), UpdateName: workflows.UpdateAdvance,
		Args: []any{workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Actor: "approver"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return nil, err
	}
	return run, h.Get(ctx, nil)
}

// pollingLifecycle is lifecycle polling the status query every 5 ms for the end too, as
// mcpLifecycle polls get_workflow_status, so the two do the same work.
func pollingLifecycle(ctx context.Context, c client.Client, options func(id string) client.StartWorkflowOptions, input any, workflowType string) error {
	run, err := toApproved(ctx, c, options, input, workflowType)
	if err != nil {
		return err
	}
	return pollStatus(ctx, c, run.GetID(), workflows.StatusCompleted)
}

// pollStatus queries id's status every 5 ms until it is want, or ctx ends.
func pollStatus(ctx context.Context, c client.Client, id string, want workflows.Status) error {
	for {
		v, err := testenv.Status(ctx, c, id)
		if err == nil && v.Status == want {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s did not reach %s: %w", id, want, ctx.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drive runs total lifecycles with the given concurrency and reports throughput and
// latency percentiles.
func drive(b *testing.B, clients, total int, one func(ctx context.Context, i int) error) (perSec float64, lat *latencies) {
	b.Helper()
	lat = &latencies{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	next := make(chan int, total)
	for i := range total {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var errs sync.Map
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				if err := one(ctx, i); err != nil {
					errs.Store(i, err)
					continue
				}
				lat.add(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	errs.Range(func(k, v any) bool { b.Errorf("lifecycle %v: %v", k, v); return false })
	return float64(total) / elapsed.Seconds(), lat
}

// BenchmarkDurability compares approval-lifecycle throughput of the embedded server's
// SQLite settings in one run: legacy (rollback journal, one connection, as temporal
// server start-dev) against Flowgate's default (WAL, synchronous=NORMAL, four connections).
func BenchmarkDurability(b *testing.B) {
	for _, d := range []devserver.Durability{devserver.DurabilityLegacy, devserver.DurabilityProcessCrash, devserver.DurabilityPowerLoss} {
		for _, clients := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/clients=%d", d, clients), func(b *testing.B) {
				env := testenv.StartT(b, testenv.Options{DatabaseFile: testenv.TempFile(b, "temporal.db"), Durability: d, NoMCP: true})
				env.Backends.Latency = 0
				total := max(16, clients*6)
				b.ResetTimer()
				for range b.N {
					perSec, lat := drive(b, clients, total, func(ctx context.Context, i int) error {
						return rawLifecycle(ctx, env.Client, fmt.Sprintf("1.0.%d", i))
					})
					b.ReportMetric(perSec, "lifecycles/s")
					b.ReportMetric(ms(lat.pct(0.5)), "p50-ms")
					b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
				}
			})
		}
	}
}

// BenchmarkDevStartup measures `flowgate dev` as a user runs it: the time from exec until
// both the MCP endpoint and the web UI answer, and the process's resident memory once idle.
func BenchmarkDevStartup(b *testing.B) {
	bin := flowgateBinary(b)
	for _, mode := range []string{"new-file", "existing-file", "memory"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			var ready, rss latencies
			var rssSum float64
			for i := 0; i < b.N; i++ {
				mcpPort, uiPort := freePort(b), freePort(b)
				args := []string{"dev", "--data-dir", dir, "--port", fmt.Sprint(freePort(b)), "--ui-port", fmt.Sprint(uiPort),
					"--mcp-addr", fmt.Sprintf("127.0.0.1:%d", mcpPort), "--demo-addr", "127.0.0.1:0", "--log-level", "error"}
				switch mode {
				case "memory":
					args = append(args, "--memory")
				case "new-file":
					os.RemoveAll(dir)
				}
				if mode == "existing-file" && i == 0 {
					runUntilReady(b, bin, args, mcpPort, uiPort) // create the file first
				}
				d, mib := runUntilReady(b, bin, args, mcpPort, uiPort)
				ready.add(d)
				rss.add(time.Duration(mib * float64(time.Millisecond)))
				rssSum += mib
			}
			b.ReportMetric(ms(ready.pct(0.5)), "p50-ms-to-ready")
			b.ReportMetric(ms(ready.pct(1)), "max-ms-to-ready")
			b.ReportMetric(rssSum/float64(b.N), "idle-RSS-MiB")
		})
	}
}

// runUntilReady starts the binary, waits until MCP and UI answer, samples RSS after a
// second of idling, and stops it with Ctrl-C.
func runUntilReady(b *testing.B, bin string, args []string, mcpPort, uiPort int) (time.Duration, float64) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	up := func(url string) bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	for !up(fmt.Sprintf("http://127.0.0.1:%d/healthz", mcpPort)) || !up(fmt.Sprintf("http://127.0.0.1:%d/", uiPort)) {
		if time.Since(start) > time.Minute {
			b.Fatal("flowgate dev not ready within a minute")
		}
		time.Sleep(2 * time.Millisecond)
	}
	ready := time.Since(start)
	time.Sleep(time.Second)
	return ready, rssMiB(cmd.Process.Pid)
}

// mcpLifecycle runs the approval lifecycle as an agent does through MCP tools.
func mcpLifecycle(b *testing.B, cs *mcp.ClientSession, version string) error {
	var s mcpserver.StartResult
	r := callTool(b, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": version, "environment": "staging"}})
	if r.IsError {
		return fmt.Errorf("start: %s", r.Text)
	}
	r.decode(b, &s)
	if err := mcpPoll(b, cs, s.WorkflowID, workflows.StatusWaitingApproval); err != nil {
		return err
	}
	if r := callTool(b, cs, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval"}); r.IsError {
		return fmt.Errorf("advance: %s", r.Text)
	}
	return mcpPoll(b, cs, s.WorkflowID, workflows.StatusCompleted)
}

func mcpPoll(b *testing.B, cs *mcp.ClientSession, id string, want workflows.Status) error {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var st mcpserver.StatusResult
		r := callTool(b, cs, "get_workflow_status", map[string]any{"workflow_id": id})
		if r.IsError {
			continue
		}
		r.decode(b, &st)
		if st.Status == want {
			return nil
		}
	}
	return fmt.Errorf("%s did not reach %s", id, want)
}

// rawPollLifecycle is rawLifecycle polling for completion as the MCP client must. (Before,
// it waited on the result, which Temporal pushes at once, while the MCP client polled
// every 5 ms: the single-client throughput ratio compared unlike work.)
func rawPollLifecycle(ctx context.Context, c client.Client, version string) error {
	return rawDeployment(ctx, c, version, true)
}

// BenchmarkMCPOverhead compares, on one embedded server in one run, the latency of each
// MCP tool over Streamable HTTP with the raw SDK call that does the same work, and the
// full-lifecycle throughput of MCP clients with raw SDK clients.
func BenchmarkMCPOverhead(b *testing.B) {
	env := testenv.StartT(b, testenv.Options{DatabaseFile: testenv.TempFile(b, "temporal.db")})
	env.Backends.Latency = 0
	c := env.Client
	ctx := context.Background()
	cs := connectHTTP(b, env.MCPURL)
	const n = 100
	params := func(i int) map[string]any {
		return map[string]any{"service": "orders", "version": fmt.Sprintf("1.%d.0", i), "environment": "staging"}
	}
	plain := newPlainMCP(b, env.MCPURL)
	var mcpStart, rawStart, mcpStatus, rawStatus, mcpAdv, rawAdv, plainStart, plainStatus, plainAdv latencies
	var plainIDs []string
	var mcpIDs, rawIDs []string
	for i := range n {
		// start_workflow vs ExecuteWorkflow, alternating so both see the same load.
		t0 := time.Now()
		var s mcpserver.StartResult
		callTool(b, cs, "start_workflow", map[string]any{"workflow_type": "deployment", "parameters": params(i)}).decode(b, &s)
		mcpStart.add(time.Since(t0))
		mcpIDs = append(mcpIDs, s.WorkflowID)

		raw, _ := json.Marshal(params(i))
		st, err := app.PrepareStart(workflows.KindDeployment, raw, workflows.Request{RequestedBy: "tester", AllowSelfApproval: true})
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		run, err := c.ExecuteWorkflow(ctx, st.Options("deployment-"+uuid.NewString()), "deployment", st.Input)
		if err != nil {
			b.Fatal(err)
		}
		rawStart.add(time.Since(t0))
		rawIDs = append(rawIDs, run.GetID())

		t0 = time.Now()
		out, err := plain.call("start_workflow", map[string]any{"workflow_type": "deployment", "parameters": params(i)})
		if err != nil {
			b.Fatal(err)
		}
		plainStart.add(time.Since(t0))
		var ps mcpserver.StartResult
		json.Unmarshal(out, &ps)
		plainIDs = append(plainIDs, ps.WorkflowID)
	}
	for i := range n {
		testenv.WaitForStatus(b, c, mcpIDs[i], workflows.StatusWaitingApproval)
		testenv.WaitForStatus(b, c, rawIDs[i], workflows.StatusWaitingApproval)
		t0 := time.Now()
		callTool(b, cs, "get_workflow_status", map[string]any{"workflow_id": mcpIDs[i]})
		mcpStatus.add(time.Since(t0))
		t0 = time.Now()
		if _, err := testenv.Status(ctx, c, rawIDs[i]); err != nil {
			b.Fatal(err)
		}
		rawStatus.add(time.Since(t0))
		testenv.WaitForStatus(b, c, plainIDs[i], workflows.StatusWaitingApproval)
		t0 = time.Now()
		if _, err := plain.call("get_workflow_status", map[string]any{"workflow_id": plainIDs[i]}); err != nil {
			b.Fatal(err)
		}
		plainStatus.add(time.Since(t0))
	}
	for i := range n {
		t0 := time.Now()
		if r := callTool(b, cs, "advance_workflow", map[string]any{"workflow_id": mcpIDs[i], "action": "approve", "step": "approval"}); r.IsError {
			b.Fatal(r.Text)
		}
		mcpAdv.add(time.Since(t0))
		t0 = time.Now()
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: rawIDs[i], UpdateName: workflows.UpdateAdvance,
			Args: []any{workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Step: "approval", Actor: "bob"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		rawAdv.add(time.Since(t0))
		t0 = time.Now()
		if _, err := plain.call("advance_workflow", map[string]any{"workflow_id": plainIDs[i], "action": "approve", "step": "approval"}); err != nil {
			b.Fatal(err)
		}
		plainAdv.add(time.Since(t0))
	}
	// "gosdk" is the official Go SDK client (it validates every result against the
	// tool's output schema); "plain" is one HTTP POST per call, what the server adds.
	for _, row := range []struct {
		name              string
		gosdk, plain, raw *latencies
	}{{"start", &mcpStart, &plainStart, &rawStart}, {"status", &mcpStatus, &plainStatus, &rawStatus}, {"advance", &mcpAdv, &plainAdv, &rawAdv}} {
		b.ReportMetric(ms(row.gosdk.pct(0.5)), row.name+"-gosdk-p50-ms")
		b.ReportMetric(ms(row.gosdk.pct(0.99)), row.name+"-gosdk-p99-ms")
		b.ReportMetric(ms(row.plain.pct(0.5)), row.name+"-plain-p50-ms")
		b.ReportMetric(ms(row.plain.pct(0.99)), row.name+"-plain-p99-ms")
		b.ReportMetric(ms(row.raw.pct(0.5)), row.name+"-raw-p50-ms")
		b.ReportMetric(ms(row.raw.pct(0.99)), row.name+"-raw-p99-ms")
		b.ReportMetric(float64(row.gosdk.pct(0.5))/float64(row.raw.pct(0.5)), row.name+"-gosdk/raw")
		b.ReportMetric(float64(row.plain.pct(0.5))/float64(row.raw.pct(0.5)), row.name+"-plain/raw")
	}
	b.ReportMetric(rssMiB(os.Getpid()), "idle-RSS-MiB")

	for _, clients := range []int{1, 8, 32} {
		total := max(12, clients*3)
		sessions := make([]*mcp.ClientSession, clients)
		for i := range sessions {
			sessions[i] = connectHTTP(b, env.MCPURL)
		}
		var mu sync.Mutex
		next := 0
		mcpRate, mcpLat := drive(b, clients, total, func(ctx context.Context, i int) error {
			mu.Lock()
			cs := sessions[next%clients]
			next++
			mu.Unlock()
			return mcpLifecycle(b, cs, fmt.Sprintf("2.%d.%d", clients, i))
		})
		rawRate, rawLat := drive(b, clients, total, func(ctx context.Context, i int) error {
			return rawPollLifecycle(ctx, c, fmt.Sprintf("3.%d.%d", clients, i))
		})
		b.ReportMetric(mcpRate, fmt.Sprintf("c%d-mcp-lifecycles/s", clients))
		b.ReportMetric(rawRate, fmt.Sprintf("c%d-raw-lifecycles/s", clients))
		b.ReportMetric(mcpRate/rawRate, fmt.Sprintf("c%d-throughput-ratio", clients))
		b.ReportMetric(ms(mcpLat.pct(0.5)), fmt.Sprintf("c%d-mcp-p50-ms", clients))
		b.ReportMetric(ms(rawLat.pct(0.5)), fmt.Sprintf("c%d-raw-p50-ms", clients))
	}
	many := make([]*mcp.ClientSession, 64)
	for i := range many {
		many[i] = connectHTTP(b, env.MCPURL)
		callTool(b, many[i], "list_workflows", map[string]any{"limit": 1})
	}
	b.ReportMetric(rssMiB(os.Getpid()), "RSS-64-sessions-MiB")
}

// BenchmarkInterpreter compares each shipped definition (interpreted) with the kind's Go
// code, on one server in the same run: each client alternates the two, lifecycle by
// lifecycle (start, gate, approve, complete), so both see the same machine at the same
// moment. At a fixed number of clients throughput is inversely proportional to the mean
// lifecycle time, so defined/go = mean(go) / mean(defined) is the share of throughput the
// interpreter keeps.
func BenchmarkInterpreter(b *testing.B) {
	env := testenv.StartT(b, testenv.Options{DatabaseFile: testenv.TempFile(b, "temporal.db"), NoMCP: true})
	env.Backends.Latency = 0
	kinds := []struct {
		kind              string
		goRun, definedRun func(ctx context.Context, c client.Client, tag string) error
	}{
		{"deployment", func(ctx context.Context, c client.Client, tag string) error { return goLifecycle(ctx, c, "4."+tag) },
			func(ctx context.Context, c client.Client, tag string) error { return rawLifecycle(ctx, c, "5."+tag) }},
		{"onboarding", goOnboardingLifecycle, definedOnboardingLifecycle},
	}
	for _, k := range kinds {
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/clients=%d", k.kind, clients), func(b *testing.B) {
				total := max(200, clients*40)
				for n := range b.N {
					var goLat, defLat latencies
					rate, _ := drive(b, clients, total, func(ctx context.Context, i int) error {
						tag := fmt.Sprintf("%d.%d", clients, n*100000+i)
						t0 := time.Now()
						if i%2 == 0 {
							err := k.goRun(ctx, env.Client, tag)
							goLat.add(time.Since(t0))
							return err
						}
						err := k.definedRun(ctx, env.Client, tag)
						defLat.add(time.Since(t0))
						return err
					})
					goMean, defMean := goLat.mean(), defLat.mean()
					b.ReportMetric(rate, "mixed-lifecycles/s")
					b.ReportMetric(rate*float64(defMean)/float64(goMean+defMean)*2, "go-lifecycles/s")
					b.ReportMetric(rate*float64(goMean)/float64(goMean+defMean)*2, "defined-lifecycles/s")
					b.ReportMetric(float64(goMean)/float64(defMean), "defined/go")
					b.ReportMetric(ms(goLat.pct(0.5)), "go-p50-ms")
					b.ReportMetric(ms(defLat.pct(0.5)), "defined-p50-ms")
					b.ReportMetric(ms(goLat.pct(0.99)), "go-p99-ms")
					b.ReportMetric(ms(defLat.pct(0.99)), "defined-p99-ms")
				}
			})
		}
	}
	b.ReportMetric(rssMiB(os.Getpid()), "RSS-MiB")
}

// goOnboardingLifecycle onboards a new user on the onboarding's Go code (typed
// parameters, as the release before the shipped definition started them).
func goOnboardingLifecycle(ctx context.Context, c client.Client, tag string) error {
	in := legacy.OnboardingInput{Request: workflows.Request{RequestedBy: "bench"},
		Params: workflows.OnboardingParams{Email: "go-" + tag + "@example.com", Name: "Bench " + tag, Role: "viewer"}}
	return lifecycle(ctx, c, app.Prepared{Kind: workflows.KindOnboarding, Input: workflows.ProcessInput{Request: in.Request}}.Options, in, string(workflows.KindOnboarding))
}

// definedOnboardingLifecycle onboards a new user on the shipped definition.
func definedOnboardingLifecycle(ctx context.Context, c client.Client, tag string) error {
	s, err := app.PrepareStart(workflows.KindOnboarding,
		json.RawMessage(`{"email":"def-`+tag+`@example.com","name":"Bench `+tag+`","role":"viewer"}`), workflows.Request{RequestedBy: "bench"})
	if err != nil {
		return err
	}
	return lifecycle(ctx, c, s.Options, s.Input, string(workflows.KindOnboarding))
}

// timingSink records when each gate_opened delivery arrived, by workflow id.
type timingSink struct {
	mu      sync.Mutex
	arrived map[string]time.Time
}

func (s *timingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(activities.DeliveryHeader)
	io.Copy(io.Discard, r.Body)
	if run, ok := strings.CutSuffix(id, "/approval/gate_opened"); ok {
		s.mu.Lock()
		if _, seen := s.arrived[run]; !seen {
			s.arrived[run] = time.Now()
		}
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *timingSink) at(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrived[id]
	return t, ok
}

// webhookStack is an embedded stack on a SQLite file, its demo backends without latency,
// whose gates are told to one webhook receiver that notes when each run's notice arrives.
func webhookStack(b *testing.B) (*testenv.Env, *timingSink) {
	rec := &timingSink{arrived: map[string]time.Time{}}
	srv := httptest.NewServer(rec)
	b.Cleanup(srv.Close)
	n := &activities.Notifier{Client: http.DefaultClient, Secret: []byte("a webhook secret of the benchmark, long"), Approvers: []string{"bob"},
		Channels: []activities.Channel{{Kind: activities.ChannelWebhook, URL: srv.URL}}}
	env := testenv.StartT(b, testenv.Options{DatabaseFile: testenv.TempFile(b, "temporal.db"), Notify: n})
	env.Backends.Latency = 0
	return env, rec
}

// BenchmarkGateToNotification measures how long an approver waits to hear of a gate:
// from the moment a production deployment's start returns to the moment its signed
// webhook (with the approval link) arrives at a receiver, one run at a time and 8 at once.
func BenchmarkGateToNotification(b *testing.B) {
	env, rec := webhookStack(b)
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			for range b.N {
				var lat latencies
				rate, _ := drive(b, clients, clients*25, func(ctx context.Context, i int) error {
					s, err := app.PrepareStart(workflows.KindDeployment,
						json.RawMessage(fmt.Sprintf(`{"service":"orders","version":"6.%d.%d","environment":"production"}`, clients, i)), workflows.Request{RequestedBy: "bench"})
					if err != nil {
						return err
					}
					id := "deployment-" + uuid.NewString()
					if _, err := env.Client.ExecuteWorkflow(ctx, s.Options(id), string(workflows.KindDeployment), s.Input); err != nil {
						return err
					}
					t0 := time.Now()
					for {
						if at, ok := rec.at(id); ok {
							lat.add(at.Sub(t0))
							break
						}
						if ctx.Err() != nil {
							return ctx.Err()
						}
						time.Sleep(2 * time.Millisecond)
					}
					_, err = env.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateAdvance,
						Args: []any{workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Actor: "bob", Inputs: changeTicket}}, WaitForStage: client.WorkflowUpdateStageCompleted})
					return err
				})
				b.ReportMetric(rate, "gates/s")
				b.ReportMetric(ms(lat.pct(0.5)), "start-to-webhook-p50-ms")
				b.ReportMetric(ms(lat.pct(0.95)), "start-to-webhook-p95-ms")
				b.ReportMetric(ms(lat.pct(0.99)), "start-to-webhook-p99-ms")
			}
		})
	}
}

// BenchmarkSubscribers: 200 sessions subscribed to one run's details cost one watcher.
// It reports the goroutines the subscriptions add, the process CPU spent while the run is
// approved and ends, and how long after the approval each subscriber heard of it.
func BenchmarkSubscribers(b *testing.B) {
	const subscribers = 200
	env := testenv.StartT(b, testenv.Options{DatabaseFile: testenv.TempFile(b, "temporal.db")})
	env.Backends.Latency = 0
	for range b.N {
		cs := connectHTTP(b, env.MCPURL)
		var s mcpserver.StartResult
		callTool(b, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
			"parameters": map[string]any{"service": "orders", "version": "9.9." + fmt.Sprint(time.Now().UnixNano()%1000), "environment": "production"}}).decode(b, &s)
		testenv.WaitForStatus(b, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)
		uri := "workflow://" + s.WorkflowID + "/details"
		before := runtime.NumGoroutine()
		var mu sync.Mutex
		var approved time.Time
		var lat latencies
		heard := map[int]bool{}
		var sessions []*mcp.ClientSession
		for i := range subscribers {
			c := mcp.NewClient(&mcp.Implementation{Name: "bench-subscriber", Version: "1"}, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
					mu.Lock()
					defer mu.Unlock()
					if !approved.IsZero() && !heard[i] {
						heard[i] = true
						lat.add(time.Since(approved))
					}
				},
			})
			ss, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: env.MCPURL}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := ss.Subscribe(context.Background(), &mcp.SubscribeParams{URI: uri}); err != nil {
				b.Fatal(err)
			}
			sessions = append(sessions, ss)
		}
		time.Sleep(500 * time.Millisecond)
		b.ReportMetric(float64(env.MCP.Watchers()), "watchers")
		b.ReportMetric(float64(runtime.NumGoroutine()-before)/subscribers, "goroutines/subscriber")
		cpu0 := cpuTime()
		mu.Lock()
		approved = time.Now()
		mu.Unlock()
		if r := callTool(b, cs, "advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "step": "approval", "inputs": changeTicket}); r.IsError {
			b.Fatal(r.Text)
		}
		testenv.WaitFor(b, 30*time.Second, "every subscriber told", func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return len(heard) == subscribers, nil
		})
		if _, err := result(b, env.Client, s.WorkflowID); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms(cpuTime()-cpu0), "cpu-ms-approve-to-end")
		b.ReportMetric(ms(lat.pct(0.5)), "heard-p50-ms")
		b.ReportMetric(ms(lat.pct(0.99)), "heard-p99-ms")
		for _, ss := range sessions {
			ss.Close()
		}
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
