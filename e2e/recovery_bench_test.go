package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
)

// recoveryRounds is how many times BenchmarkRecoveryAfterWorkerKill kills a worker.
const recoveryRounds = 10

// BenchmarkRecoveryAfterWorkerKill measures how soon runs that were in flight on a worker
// that died finish on the other one. Real processes, as TestSeparateProcesses runs them:
// Temporal (`flowgate dev --no-worker --no-mcp`), demo backends that take up to 1.5 s a
// request (so gateway calls are in flight when the worker dies), and two `flowgate
// worker`. Each round brings 8 production deployments to their approval gate, approves
// half of them, SIGKILLs one worker at once (their deploy calls in flight on it), approves
// the other half (their workflow tasks due on its sticky queue), and takes the time from
// the kill to the last run's completion; then a new worker takes the dead one's place.
// It reports that time's p50, p99 and max over the rounds, the same for each run, the
// side effects applied twice by the backends (their idempotency ledger), which must be
// none, and what the kill cost the runs: activities retried (their first attempt died
// with the worker), deploy POSTs the backends answered again from their ledger, and
// workflow tasks that timed out. The slowest run of all is logged event by event, with
// times from its kill.
//
//	go test ./e2e -run '^$' -bench RecoveryAfterWorkerKill -benchtime 1x
func BenchmarkRecoveryAfterWorkerKill(b *testing.B) {
	dir := b.TempDir()
	port, demoPort := freePort(b), freePort(b)
	temporal := fmt.Sprintf("127.0.0.1:%d", port)
	demoURL := fmt.Sprintf("http://127.0.0.1:%d", demoPort)
	startProc(b, "demo-backends", "--addr", fmt.Sprintf("127.0.0.1:%d", demoPort), "--latency", "1500ms")
	waitHTTP(b, demoURL+"/_ledger")
	dev := startProc(b, "dev", "--data-dir", dir, "--port", fmt.Sprint(port), "--no-ui", "--no-worker", "--no-mcp",
		"--demo-addr", fmt.Sprintf("127.0.0.1:%d", freePort(b)), "--log-level", "error")
	testenv.WaitFor(b, 60*time.Second, "flowgate dev ready", func() (bool, error) {
		return strings.Contains(dev.out.String(), "Flowgate is ready"), nil
	})
	c := dialTemporal(b, temporal)
	startWorker := func() *proc {
		w := startProc(b, "worker", "--temporal-address", temporal, "--data-dir", dir, "--gateway-url", demoURL,
			"--stop-timeout", "2s", "--log-level", "info")
		testenv.WaitFor(b, 60*time.Second, "worker running", func() (bool, error) {
			return strings.Contains(w.out.String(), "worker running"), nil
		})
		return w
	}
	workers := []*proc{startWorker(), startWorker()}

	const runs = 8
	var perRound, perRun latencies
	duplicated, retried, activityRetries, stickyTimeouts := 0, 0, 0, 0
	var rounds []string
	var slowestLast time.Duration
	var slowestRun string
	for range b.N {
		for round := range recoveryRounds {
			ids := make([]string, runs)
			for i := range ids {
				ids[i] = startRecoveryRun(b, c, fmt.Sprintf("7.%d.%d", round, i))
			}
			for _, id := range ids {
				testenv.WaitForStatus(b, c, id, workflows.StatusWaitingApproval)
			}
			approve := func(ids []string) {
				var wg sync.WaitGroup
				for _, id := range ids {
					wg.Go(func() {
						// A worker that died after taking the update's workflow task leaves
						// the caller without an answer: ask again, as an agent would.
						for attempt := 0; ; attempt++ {
							ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
							_, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateAdvance,
								Args:         []any{workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Step: "approval", Actor: "bob", Inputs: changeTicket}},
								WaitForStage: client.WorkflowUpdateStageCompleted})
							cancel()
							if err == nil || attempt == 5 {
								if err != nil {
									b.Errorf("approve %s: %v", id, err)
								}
								return
							}
						}
					})
				}
				wg.Wait()
			}
			approve(ids[:runs/2])
			victim := workers[round%2]
			killedAt := time.Now()
			victim.kill()
			approve(ids[runs/2:])

			done := make([]time.Duration, runs)
			var wg sync.WaitGroup
			for i, id := range ids {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					if err := c.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
						b.Errorf("%s: %v", id, err)
					}
					done[i] = time.Since(killedAt)
				})
			}
			wg.Wait()
			slowest, last := 0, time.Duration(0)
			for i, d := range done {
				perRun.add(d)
				if d > last {
					slowest, last = i, d
				}
			}
			perRound.add(last)
			for _, id := range ids {
				retries, timeouts := recoveryWaits(history(b, c, id))
				activityRetries += retries
				stickyTimeouts += timeouts
			}
			ledger := demoLedger(b, demoURL)
			for _, id := range ids {
				e, n := ledgerOf(ledger, id, workflows.StepDeploy)
				if e.Applied != 1 || n != 1 {
					duplicated++
					b.Errorf("deploy of %s reached the backend with %+v in %d runs, want applied once", id, e, n)
				}
				retried += e.Requests - 1
			}
			rounds = append(rounds, fmt.Sprintf("%.1f", last.Seconds()))
			if last > slowestLast {
				slowestLast, slowestRun = last, ids[slowest]+": "+timeline(history(b, c, ids[slowest]), killedAt)
			}
			workers[round%2] = startWorker()
		}
		b.Logf("kill to last completion by round: %s s", strings.Join(rounds, ", "))
		b.Logf("slowest run: %s", slowestRun)
		b.ReportMetric(perRound.pct(0.5).Seconds(), "kill-to-last-p50-s")
		b.ReportMetric(perRound.pct(0.99).Seconds(), "kill-to-last-p99-s")
		b.ReportMetric(perRound.pct(1).Seconds(), "kill-to-last-max-s")
		b.ReportMetric(perRun.pct(0.5).Seconds(), "kill-to-run-p50-s")
		b.ReportMetric(perRun.pct(0.99).Seconds(), "kill-to-run-p99-s")
		b.ReportMetric(float64(duplicated), "effects-twice")
		b.ReportMetric(float64(retried), "repeated-posts")
		b.ReportMetric(float64(activityRetries), "activities-retried")
		b.ReportMetric(float64(stickyTimeouts), "workflow-task-timeouts")
	}
}

// startRecoveryRun starts a production deployment through the raw SDK.
func startRecoveryRun(b *testing.B, c client.Client, version string) string {
	b.Helper()
	s, err := app.PrepareStart(workflows.KindDeployment,
		json.RawMessage(fmt.Sprintf(`{"service":"orders","version":%q,"environment":"production"}`, version)), workflows.Request{RequestedBy: "alice"})
	if err != nil {
		b.Fatal(err)
	}
	id := "deployment-" + uuid.NewString()
	if _, err := c.ExecuteWorkflow(context.Background(), s.Options(id), string(workflows.KindDeployment), s.Input); err != nil {
		b.Fatal(err)
	}
	return id
}

// demoLedger reads the demo backends' idempotency ledger.
func demoLedger(t testing.TB, demoURL string) map[string]demo.LedgerEntry {
	t.Helper()
	resp, err := http.Get(demoURL + "/_ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ledger map[string]demo.LedgerEntry
	if err := json.NewDecoder(resp.Body).Decode(&ledger); err != nil {
		t.Fatal(err)
	}
	return ledger
}

// history reads a run's history.
func history(t testing.TB, c client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	return events
}

// recoveryWaits counts what a worker's death cost a run: activity attempts after the
// first (the first was lost with the worker), and workflow tasks that timed out (on the
// dead worker's sticky queue, or started there).
func recoveryWaits(events []*historypb.HistoryEvent) (activityRetries, workflowTaskTimeouts int) {
	for _, e := range events {
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			activityRetries++
		}
		if e.GetWorkflowTaskTimedOutEventAttributes() != nil {
			workflowTaskTimeouts++
		}
	}
	return activityRetries, workflowTaskTimeouts
}

// timeline renders the task events of a history from a second before since on, with
// their times from since: what the run waited for after a worker died.
func timeline(events []*historypb.HistoryEvent, since time.Time) string {
	activities := map[int64]string{}
	var out []string
	for _, e := range events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			activities[e.GetEventId()] = a.GetActivityType().GetName()
		}
		at := e.GetEventTime().AsTime()
		if at.Before(since.Add(-time.Second)) {
			continue
		}
		if s := describeEvent(e, activities); s != "" {
			out = append(out, fmt.Sprintf("%+.1fs %s", at.Sub(since).Seconds(), s))
		}
	}
	return strings.Join(out, "; ")
}

// describeEvent names a task event with what explains a wait: the task queue's kind, the
// attempt, the timeout, the worker.
func describeEvent(e *historypb.HistoryEvent, activities map[int64]string) string {
	name := strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
	switch {
	case e.GetWorkflowTaskScheduledEventAttributes() != nil:
		a := e.GetWorkflowTaskScheduledEventAttributes()
		return fmt.Sprintf("%s(%s attempt %d)", name, strings.TrimPrefix(a.GetTaskQueue().GetKind().String(), "TASK_QUEUE_KIND_"), a.GetAttempt())
	case e.GetWorkflowTaskStartedEventAttributes() != nil:
		return fmt.Sprintf("%s(%s)", name, e.GetWorkflowTaskStartedEventAttributes().GetIdentity())
	case e.GetWorkflowTaskTimedOutEventAttributes() != nil:
		return fmt.Sprintf("%s(%s)", name, strings.TrimPrefix(e.GetWorkflowTaskTimedOutEventAttributes().GetTimeoutType().String(), "TIMEOUT_TYPE_"))
	case e.GetWorkflowTaskFailedEventAttributes() != nil:
		return fmt.Sprintf("%s(%s)", name, e.GetWorkflowTaskFailedEventAttributes().GetCause())
	case e.GetActivityTaskScheduledEventAttributes() != nil:
		return fmt.Sprintf("%s(%s)", name, e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName())
	case e.GetActivityTaskStartedEventAttributes() != nil:
		a := e.GetActivityTaskStartedEventAttributes()
		s := fmt.Sprintf("%s(%s attempt %d, %s", name, activities[a.GetScheduledEventId()], a.GetAttempt(), a.GetIdentity())
		if f := a.GetLastFailure(); f != nil {
			s += ", after: " + f.GetMessage()
		}
		return s + ")"
	case e.GetActivityTaskCompletedEventAttributes() != nil:
		return fmt.Sprintf("%s(%s)", name, activities[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()])
	case e.GetActivityTaskTimedOutEventAttributes() != nil:
		a := e.GetActivityTaskTimedOutEventAttributes()
		return fmt.Sprintf("%s(%s: %s)", name, activities[a.GetScheduledEventId()], a.GetFailure().GetMessage())
	case e.GetWorkflowExecutionUpdateAcceptedEventAttributes() != nil, e.GetWorkflowExecutionCompletedEventAttributes() != nil,
		e.GetWorkflowTaskCompletedEventAttributes() != nil:
		return name
	}
	return ""
}
