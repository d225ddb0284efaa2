package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/workflows"
)

// evidenceVersions are the audit versions BenchmarkEvidenceSizes runs: 3 is the shipped
// definition (records, items and findings by reference, in sandbox work files), 2 the one
// before it (by value through Temporal's payloads), kept in workflows/testdata.
var evidenceVersions = flag.String("evidence-versions", "3", "audit versions BenchmarkEvidenceSizes measures, comma-separated: 3 (shipped), 2 (by value, workflows/testdata/audit_v2.yaml)")

// BenchmarkEvidenceSizes measures the largest audit evidence that completes: for evidence
// CSVs of growing size it runs the audit process on the embedded stack (collect records,
// parse evidence, analyze, sign-off, publish) and says whether each completes through
// sign-off, or where and with what message it stops. Run it with
//
//	go test ./e2e -run '^$' -bench EvidenceSizes -benchtime 1x -timeout 60m [-evidence-versions=2,3]
//
// Two data sets, each on its own stack:
//
//   - matched: every evidence row names a user of the users table (the benchmark inserts
//     them), as a clean audit's evidence does: few findings, and the collected records
//     grow with the evidence (50 000 rows: 50 020 records).
//   - unmatched: no evidence row names a record (the users table holds its 20 demo users):
//     every row is an evidence_without_record finding, the most findings per row.
//
// Evidence rows have the sample evidence/users.csv's columns and widths
// (email,verified_by,verified_on; about 52 bytes a row). Each size is a sub-benchmark
// reporting completed (1 or 0), the file's bytes, the findings and the seconds to the
// sign-off gate, from the approval to the end, and in all; a run that stops logs the step
// and the message. The threshold sub-benchmark bisects between the largest size that
// completed and the first that did not, and reports the largest rows and bytes that
// complete. The table sub-benchmark prints a table of every run.
func BenchmarkEvidenceSizes(b *testing.B) {
	var table []evidenceOutcome
	for _, version := range strings.Split(*evidenceVersions, ",") {
		src, schema := auditVersion(b, strings.TrimSpace(version))
		b.Run("v"+strings.TrimSpace(version), func(b *testing.B) {
			for _, matched := range []bool{true, false} {
				name := map[bool]string{true: "matched", false: "unmatched"}[matched]
				b.Run(name, func(b *testing.B) {
					env := testenv.StartT(b, testenv.Options{NoMCP: true})
					env.Backends.Latency = 0
					bench := &evidenceBench{env: env, matched: matched, src: src, schema: schema}
					_, appDB, sandbox := stack.DataPaths(env.DataDir)
					bench.sandbox = sandbox
					if matched {
						db, err := sql.Open("sqlite", "file:"+appDB+"?_pragma=busy_timeout(10000)")
						if err != nil {
							b.Fatal(err)
						}
						b.Cleanup(func() { db.Close() })
						bench.db = db
					}
					completed, stopped := 0, 0 // largest rows that completed, fewest that did not
					for _, rows := range []int{1_000, 5_000, 10_000, 15_000, 20_000, 30_000, 50_000, 100_000, 150_000, 200_000} {
						b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
							for range b.N {
								o := bench.run(b, rows)
								o.report(b)
								table = append(table, o)
								if o.completed {
									completed = max(completed, rows)
								} else if stopped == 0 || rows < stopped {
									stopped = rows
								}
							}
						})
					}
					b.Run("threshold", func(b *testing.B) {
						for range b.N {
							lo, hi := completed, stopped
							if hi == 0 {
								b.Logf("every size completed; the largest is %d rows", lo)
							}
							// Bisect to within 0.2% (at least 20 rows), at most 12 runs.
							for probes := 0; hi > 0 && hi-lo > max(20, lo/500) && probes < 12; probes++ {
								mid := (lo + hi) / 2
								o := bench.run(b, mid)
								b.Logf("probe rows=%d bytes=%d: %s", mid, o.bytes, o.summary())
								if o.completed {
									lo = mid
								} else {
									hi = mid
								}
							}
							b.ReportMetric(float64(lo), "largest-completed-rows")
							b.ReportMetric(float64(evidenceBytes(lo)), "largest-completed-bytes")
							if hi > 0 {
								b.ReportMetric(float64(hi), "first-stopped-rows")
								b.ReportMetric(float64(evidenceBytes(hi)), "first-stopped-bytes")
							}
						}
					})
				})
			}
		})
	}
	// A benchmark's own log is not shown when it has sub-benchmarks, and a benchmark's log
	// is cut at 10 lines: the table goes to the standard output.
	b.Run("table", func(b *testing.B) { printEvidenceTable(table) })
}

// auditVersion is the definition of an audit version: nil for the shipped one (3), which
// PrepareStart picks, and the source kept in workflows/testdata for an earlier one.
func auditVersion(b *testing.B, version string) (*workflows.ProcessSource, *workflows.ParamSchema) {
	b.Helper()
	shipped, _, err := workflows.ShippedProcess(workflows.KindAudit)
	if err != nil {
		b.Fatal(err)
	}
	if version == strconv.Itoa(shipped.Version) {
		return nil, nil
	}
	file := filepath.Join("..", "workflows", "testdata", "audit_v"+version+".yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatalf("audit version %s: %v (the shipped one is %d)", version, err, shipped.Version)
	}
	d, err := workflows.ParseDefinition(file, data, workflows.DefinitionRules{})
	if err != nil {
		b.Fatal(err)
	}
	schema, err := workflows.CompileParams(d)
	if err != nil {
		b.Fatal(err)
	}
	src := workflows.NewProcessSource(d, data)
	return &src, schema
}

// printEvidenceTable prints one line per run: version, data set, rows, bytes, findings,
// the outcome and its times.
func printEvidenceTable(table []evidenceOutcome) {
	if len(table) == 0 {
		return
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%-3s %-9s %8s %10s %8s %8s %8s %8s  %s\n", "v", "set", "rows", "bytes", "findings", "to gate", "after", "total", "outcome")
	for _, o := range table {
		gate, after := "-", "-"
		if o.gateReached {
			gate = fmt.Sprintf("%.1fs", o.toGate.Seconds())
		}
		if o.completed {
			after = fmt.Sprintf("%.1fs", (o.total - o.toGate).Seconds())
		}
		outcome := "completed"
		if !o.completed {
			outcome = fmt.Sprintf("stopped at %s (%s): %s", o.step, o.how, o.message)
			if len(outcome) > 240 {
				outcome = outcome[:240] + "…"
			}
		}
		fmt.Fprintf(&out, "%-3d %-9s %8d %10d %8s %8s %8s %7.1fs  %s\n", o.version, o.set, o.rows, o.bytes, o.findings, gate, after, o.total.Seconds(), outcome)
	}
	fmt.Print(out.String())
}

// evidenceBench runs audits of one data set on one stack.
type evidenceBench struct {
	env     *testenv.Env
	matched bool
	sandbox string
	db      *sql.DB // the app database, for the matched set's users
	// src and schema are the audit version to start; nil: the shipped one.
	src    *workflows.ProcessSource
	schema *workflows.ParamSchema
}

// evidenceOutcome is how one audit of one evidence size ended.
type evidenceOutcome struct {
	version     int
	set         string
	rows, bytes int
	completed   bool
	// step and message say where and why a run that did not complete stopped; how is
	// "waiting for input" (Flowgate's clear failure), "terminated by the server",
	// "workflow task failing" (stuck), "failed" or "timed out".
	step, how, message string
	findings           string
	toGate, total      time.Duration
	gateReached        bool
}

func (o evidenceOutcome) summary() string {
	if o.completed {
		return fmt.Sprintf("completed (%s findings) in %.1fs, %.1fs to the sign-off", o.findings, o.total.Seconds(), o.toGate.Seconds())
	}
	return fmt.Sprintf("stopped at step %s (%s) after %.1fs: %s", o.step, o.how, o.total.Seconds(), o.message)
}

func (o evidenceOutcome) report(b *testing.B) {
	b.Logf("rows=%d bytes=%d: %s", o.rows, o.bytes, o.summary())
	b.ReportMetric(map[bool]float64{true: 1, false: 0}[o.completed], "completed")
	b.ReportMetric(float64(o.bytes), "evidence-bytes")
	if f, err := strconv.Atoi(o.findings); err == nil {
		b.ReportMetric(float64(f), "findings")
	}
	if o.gateReached {
		b.ReportMetric(o.toGate.Seconds(), "s-to-signoff")
	}
	if o.completed {
		b.ReportMetric((o.total - o.toGate).Seconds(), "s-after-signoff")
	}
	b.ReportMetric(o.total.Seconds(), "s-total")
}

// evidenceRow is row i of an evidence file: an email as the users table holds them, who
// verified it and when, as in the sample evidence/users.csv.
func evidenceRow(i int) string {
	first := []string{"ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "guido", "radia"}
	last := []string{"lovelace", "hopper", "torvalds", "hamilton", "thompson", "liskov", "ritchie", "allen", "rossum", "perlman"}
	by := []string{"hr-system", "manual", "okta-sync"}
	return fmt.Sprintf("%s,%s,2026-%02d-%02d\n", evidenceEmail(i, first, last), by[i%len(by)], 1+i%12, 1+i%28)
}

func evidenceEmail(i int, first, last []string) string {
	return fmt.Sprintf("%s.%s.%05d@example.com", first[i%len(first)], last[(i/len(first))%len(last)], i)
}

const evidenceHeader = "email,verified_by,verified_on\n"

// evidenceBytes is the size of the evidence file of the given rows.
func evidenceBytes(rows int) int {
	n := len(evidenceHeader)
	for i := range rows {
		n += len(evidenceRow(i))
	}
	return n
}

// writeEvidence writes evidence/bench-ROWS.csv into the sandbox and returns its path in
// the sandbox and its size.
func (e *evidenceBench) writeEvidence(b *testing.B, rows int) (string, int) {
	b.Helper()
	rel := fmt.Sprintf("evidence/bench-%d.csv", rows)
	p := filepath.Join(e.sandbox, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(evidenceHeader)
	for i := range rows {
		w.WriteString(evidenceRow(i))
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return rel, int(fi.Size())
}

// setUsers makes the users table hold exactly the first rows benchmark users (those the
// evidence of that many rows names), besides the demo users.
func (e *evidenceBench) setUsers(b *testing.B, rows int) {
	b.Helper()
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE request_id LIKE 'bench-%' AND request_id >= ?`, fmt.Sprintf("bench-%06d", rows)); err != nil {
		b.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO users (email, name, role, team, status, created_at, request_id)
		VALUES (?, ?, 'viewer', 'audit', 'active', ?, ?) ON CONFLICT (request_id) DO NOTHING`)
	if err != nil {
		b.Fatal(err)
	}
	defer ins.Close()
	first := []string{"ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "guido", "radia"}
	last := []string{"lovelace", "hopper", "torvalds", "hamilton", "thompson", "liskov", "ritchie", "allen", "rossum", "perlman"}
	for i := range rows {
		if _, err := ins.ExecContext(ctx, evidenceEmail(i, first, last), fmt.Sprintf("Bench User %d", i), "2026-01-05T09:00:00Z", fmt.Sprintf("bench-%06d", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// run audits the users table against evidence of the given rows: start, wait for the
// sign-off gate, approve it, wait for the end. A run that did not complete is ended.
func (e *evidenceBench) run(b *testing.B, rows int) (o evidenceOutcome) {
	b.Helper()
	b.StopTimer()
	rel, size := e.writeEvidence(b, rows)
	if e.matched {
		e.setUsers(b, rows)
	}
	o.rows, o.bytes = rows, size
	o.set = map[bool]string{true: "matched", false: "unmatched"}[e.matched]
	c := e.env.Client
	params, _ := json.Marshal(map[string]any{"tables": []string{"users"}, "evidence": []string{rel}})
	req := workflows.Request{RequestedBy: "bench"}
	var s app.Prepared
	var err error
	if e.src != nil {
		o.version = e.src.Version
		s, err = app.PrepareProcess(*e.src, e.schema, params, req)
	} else {
		src, _, _ := workflows.ShippedProcess(workflows.KindAudit)
		o.version = src.Version
		s, err = app.PrepareStart(workflows.KindAudit, params, req)
	}
	if err != nil {
		b.Fatal(err)
	}
	id := "audit-" + uuid.NewString()
	b.StartTimer()
	start := time.Now()
	defer func() {
		o.total = time.Since(start)
		b.StopTimer()
		if !o.completed {
			// End what is left so it does not keep failing workflow tasks in the background.
			_ = c.TerminateWorkflow(context.Background(), id, "", "evidence benchmark: run did not complete")
		}
	}()
	if _, err := c.ExecuteWorkflow(context.Background(), s.Options(id), string(workflows.KindAudit), s.Input); err != nil {
		o.step, o.how, o.message = "start", "refused", err.Error()
		return o
	}
	v, stop := awaitAudit(c, id, func(v workflows.StatusView) bool { return v.Status == workflows.StatusWaitingApproval })
	if stop != nil {
		o.step, o.how, o.message = stop.step, stop.how, stop.message
		return o
	}
	o.toGate, o.gateReached = time.Since(start), true
	o.findings = findingsOf(c, id)
	gate := workflows.StepAuditorSignoff
	if v.Waiting != nil {
		gate = v.Waiting.Step
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateAdvance,
		Args:         []any{workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Step: gate, Actor: "auditor"}},
		WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		// Say what the run does after the refused approval: whether it ends or is stuck.
		o.step, o.how, o.message = workflows.StepAuditorSignoff, "approval refused", err.Error()
		after, stop := awaitAudit(c, id, func(v workflows.StatusView) bool {
			return v.Status == workflows.StatusWaitingApproval || v.Status.Terminal() && v.ClosedAt != nil
		})
		if stop != nil {
			o.how += ", then " + stop.how
			o.message += "; then " + stop.message
		} else {
			o.how += ", then " + string(after.Status) + " at " + after.CurrentStep
			o.message += "; the run's workflow task failed with " + historyFailure(c, id)
		}
		return o
	}
	_, stop = awaitAudit(c, id, func(v workflows.StatusView) bool { return v.Status.Terminal() && v.ClosedAt != nil })
	if stop != nil {
		o.step, o.how, o.message = stop.step, stop.how, stop.message
		return o
	}
	st, err := result(b, c, id)
	if err != nil || st.Status != workflows.StatusCompleted {
		o.step, o.how, o.message = st.CurrentStep, "failed", fmt.Sprintf("status %s: %v %s", st.Status, err, st.Error)
		return o
	}
	o.completed = true
	return o
}

// findingsOf reads the findings output of a run at its gate.
func findingsOf(c client.Client, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryDetails)
	if err != nil {
		return "?"
	}
	var st workflows.State
	if resp.Get(&st) != nil {
		return "?"
	}
	return st.Outputs["findings"]
}

// auditStop says where and why a run stopped before what awaitAudit waited for.
type auditStop struct{ step, how, message string }

// awaitAudit polls a run until its status query satisfies want, or it stops: it waits for
// input after a failed step, fails, is closed by the server, or its workflow task has
// failed four times in a row (it would be retried forever).
func awaitAudit(c client.Client, id string, want func(workflows.StatusView) bool) (workflows.StatusView, *auditStop) {
	var last workflows.StatusView
	deadline := time.Now().Add(5 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		cancel()
		if err != nil {
			continue
		}
		info := d.GetWorkflowExecutionInfo()
		if st := info.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return last, &auditStop{step: last.CurrentStep, how: strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_")),
				message: historyFailure(c, id)}
		}
		// A workflow task that fails with an update in it is retried without the update
		// (which is refused) from the third attempt: past that, nothing will change.
		if wft := d.GetPendingWorkflowTask(); wft != nil && wft.GetAttempt() >= 5 {
			return last, &auditStop{step: last.CurrentStep, how: fmt.Sprintf("workflow task failing, attempt %d", wft.GetAttempt()),
				message: historyFailure(c, id)}
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		v, err := testenv.Status(ctx, c, id)
		cancel()
		if err != nil {
			continue
		}
		last = v
		if want(v) {
			return v, nil
		}
		switch {
		case v.Status == workflows.StatusWaitingInput:
			step := v.CurrentStep
			if v.Waiting != nil {
				step = v.Waiting.Step
			}
			return v, &auditStop{step: step, how: "waiting for input", message: stepError(c, id, step)}
		case v.Status.Terminal() && v.Status != workflows.StatusCompleted:
			return v, &auditStop{step: v.CurrentStep, how: string(v.Status), message: v.Error}
		}
	}
	return last, &auditStop{step: last.CurrentStep, how: "timed out", message: "no progress within 5 minutes; " + historyFailure(c, id)}
}

// stepError is the error a step of a run recorded.
func stepError(c client.Client, id, step string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryDetails)
	if err != nil {
		return "details query: " + err.Error()
	}
	var st workflows.State
	if err := resp.Get(&st); err != nil {
		return "details query: " + err.Error()
	}
	for _, s := range st.Steps {
		if s.Name == step {
			return s.Error
		}
	}
	return st.Error
}

// historyFailure is the last failure a run's history records: a failed workflow task, a
// termination, a failed activity or the run's own failure.
func historyFailure(c client.Client, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iter := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	msg := "(no failure in the history)"
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return msg + "; history: " + err.Error()
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			a := e.GetWorkflowTaskFailedEventAttributes()
			msg = fmt.Sprintf("workflow task failed (%s): %s", a.GetCause(), a.GetFailure().GetMessage())
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			msg = "workflow task timed out"
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			a := e.GetWorkflowExecutionTerminatedEventAttributes()
			msg = fmt.Sprintf("terminated by %q: %s", a.GetIdentity(), a.GetReason())
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			msg = "activity failed: " + e.GetActivityTaskFailedEventAttributes().GetFailure().GetMessage()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			msg = "run failed: " + e.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage()
		}
	}
	return msg
}
