package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/devserver"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
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
// deployment, poll the status query until it waits, approve with the advance update,
// and wait for the result.
func rawLifecycle(ctx context.Context, c client.Client, version string) error {
	s, err := workflows.PrepareStart(workflows.KindDeployment,
		json.RawMessage(`{"service":"orders","version":"`+version+`","environment":"staging"}`), workflows.Request{RequestedBy: "bench"})
	if err != nil {
		return err
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "deployment-" + uuid.NewString(), TaskQueue: workflows.TaskQueue}, string(workflows.KindDeployment), s.Input)
	if err != nil {
		return err
	}
	for {
		v, err := testenv.Status(ctx, c, run.GetID())
		if err == nil && v.Status == workflows.StatusWaitingApproval {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), RunID: run.GetRunID(), UpdateName: workflows.UpdateAdvance,
		Args: []any{workflows.AdvanceRequest{Action: workflows.ActionApprove, Actor: "approver"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	if err := h.Get(ctx, nil); err != nil {
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
