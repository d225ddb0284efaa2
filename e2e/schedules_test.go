package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
)

// tickDefinition is a process with one gate and a schedule every 2s that lets runs
// overlap, so each run it starts waits at its gate beside the others.
const tickDefinition = `name: tick
title: Tick
version: 1
parameters:
  type: object
  additionalProperties: false
  properties:
    note: {type: string}
summary: "Tick {{params.note}}, requested by {{run.requested_by}}"
steps:
  - name: look
    approval: {scope: approve}
schedules:
  - name: often
    every: 2s
    params: {note: scheduled}
    as: ticker
    overlap: allow_all
`

// TestAScheduleStartsOrdinaryRunsAndAReloadDoesNotDuplicateIt: a schedule declared in a
// definition loaded by flowgate dev becomes one Temporal Schedule that starts a run
// every 2s, each an ordinary run requested by its "as" that waits at its gate; pausing it
// stops the runs, a trigger starts one, and an edit of the definition (a reload) updates
// that schedule rather than adding one, keeps the operator's pause, and the next run
// carries the edited definition.
func TestAScheduleStartsOrdinaryRunsAndAReloadDoesNotDuplicateIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	file := filepath.Join(procs, "tick.yaml")
	if err := os.WriteFile(file, []byte(tickDefinition), 0o644); err != nil {
		t.Fatal(err)
	}
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(dir, "data"))
	dev := startDev(t, append(args, "--processes", procs)...)
	dev.waitReady(t, mcpAddr)
	cs := connectHTTP(t, dev.mcpURL)

	const id = "flowgate-tick-often"
	schedules := func() []mcpserver.ScheduleView {
		var res mcpserver.ListSchedulesResult
		callTool(t, cs, "list_schedules", map[string]any{}).decode(t, &res)
		return res.Schedules
	}
	waiting := func() []string {
		var page mcpserver.ListResult
		callTool(t, cs, "list_workflows", map[string]any{"workflow_type": "tick", "status": "waiting_approval", "limit": 100}).decode(t, &page)
		var ids []string
		for _, it := range page.Items {
			if it.RequestedBy != "ticker" {
				t.Errorf("run %s requested by %q, want the schedule's as, ticker", it.WorkflowID, it.RequestedBy)
			}
			ids = append(ids, it.WorkflowID)
		}
		return ids
	}

	start := time.Now()
	testenv.WaitForEvery(t, 30*time.Second, 250*time.Millisecond, "three scheduled runs waiting at their gates", func() (bool, error) {
		return len(waiting()) >= 3, nil
	})
	t.Logf("three scheduled runs waiting %s after the server was ready", time.Since(start).Round(time.Millisecond))
	list := schedules()
	if len(list) != 1 || list[0].ScheduleID != id || list[0].Process != "tick" || list[0].RequestedBy != "ticker" || list[0].Origin != "definition" || list[0].Spec != "every 2s" {
		t.Fatalf("list_schedules = %+v", list)
	}
	v := statusOf(t, cs, waiting()[0])
	if v.Waiting == nil || v.Waiting.Step != "look" || v.RequestedBy != "ticker" || !strings.HasPrefix(v.WorkflowID, "tick-often-") {
		t.Errorf("a scheduled run: %+v", v)
	}

	// Pause: no run starts after it (give it three periods).
	var paused mcpserver.ScheduleView
	callTool(t, cs, "pause_schedule", map[string]any{"schedule_id": id, "reason": "quiet for the test"}).decode(t, &paused)
	if !paused.Paused || !strings.Contains(paused.Note, "quiet for the test") {
		t.Errorf("pause_schedule = %+v", paused)
	}
	before := len(waiting())
	time.Sleep(6 * time.Second) // three periods of the schedule: what must not happen takes time to not happen
	if n := len(waiting()); n != before {
		t.Errorf("%d runs after the pause, %d before: the paused schedule started runs", n, before)
	}

	// Trigger: one run now, though paused.
	var triggered mcpserver.ScheduleView
	callTool(t, cs, "trigger_schedule", map[string]any{"schedule_id": id, "reason": "one more"}).decode(t, &triggered)
	testenv.WaitFor(t, 20*time.Second, "the triggered run waiting", func() (bool, error) { return len(waiting()) == before+1, nil })

	// Reload: an edited definition updates the one schedule, which stays paused, and
	// the next run carries the new version.
	edited := strings.Replace(strings.Replace(tickDefinition, "version: 1", "version: 2", 1), "note: scheduled", "note: edited", 1)
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "describe_process shows version 2", func() (bool, error) {
		var d mcpserver.ProcessView
		callTool(t, cs, "describe_process", map[string]any{"name": "tick"}).decode(t, &d)
		return d.Version == 2, nil
	})
	testenv.WaitForEvery(t, 20*time.Second, 250*time.Millisecond, "the schedule's next run carrying version 2", func() (bool, error) {
		list := schedules()
		return len(list) == 1 && list[0].Definition != nil && list[0].Definition.Version == 2, nil
	})
	ids := waiting()
	// Temporal names a run by the second it was due: a trigger in the same second as the
	// last would collide with it.
	time.Sleep(time.Second)
	callTool(t, cs, "trigger_schedule", map[string]any{"schedule_id": id, "reason": "after the edit"}).decode(t, &triggered)
	var newest string
	testenv.WaitFor(t, 20*time.Second, "the run triggered after the edit", func() (bool, error) {
		for _, w := range waiting() {
			if !slices.Contains(ids, w) {
				newest = w
				return true, nil
			}
		}
		return false, nil
	})
	if next := statusOf(t, cs, newest); next.Process == nil || next.Process.Version != 2 {
		t.Errorf("the run triggered after the edit follows %+v, want version 2", next.Process)
	}
	list = schedules()
	if len(list) != 1 || list[0].ScheduleID != id || !list[0].Paused {
		t.Errorf("after the reload, list_schedules = %+v; want the one schedule, still paused", list)
	}

	// A declared schedule is the definition's: delete_schedule refuses it, naming why.
	r := callTool(t, cs, "delete_schedule", map[string]any{"schedule_id": id, "reason": "try"})
	if !r.IsError || !strings.Contains(r.Text, "declared in "+file) {
		t.Errorf("delete_schedule of a declared schedule: %+v", r)
	}
	if r := callTool(t, cs, "pause_schedule", map[string]any{"schedule_id": id, "reason": " "}); !r.IsError || !strings.Contains(r.Text, "reason:") {
		t.Errorf("an empty reason: %+v", r)
	}

	// Deleting the definition deletes its schedule.
	os.Remove(file)
	testenv.WaitForEvery(t, 30*time.Second, 500*time.Millisecond, "the schedule of the deleted definition gone", func() (bool, error) {
		return len(schedules()) == 0, nil
	})
}

// TestDevWithoutMCPStillKeepsTheSchedules: `flowgate dev --no-mcp --processes DIR` serves
// no MCP endpoint, yet it loads the definitions, so it keeps their schedules in Temporal
// as the server would: the schedule flowgate-tick-often appears, and its runs start,
// requested by the schedule's "as".
func TestDevWithoutMCPStillKeepsTheSchedules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	procs := filepath.Join(dir, "processes")
	os.Mkdir(procs, 0o755)
	if err := os.WriteFile(filepath.Join(procs, "tick.yaml"), []byte(tickDefinition), 0o644); err != nil {
		t.Fatal(err)
	}
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(dir, "data"))
	dev := startDev(t, append(args, "--no-mcp", "--processes", procs)...)
	testenv.WaitFor(t, 60*time.Second, "flowgate dev ready", func() (bool, error) {
		if ended, err := dev.ended(); ended {
			t.Fatalf("flowgate dev exited (%v): %s", err, dev.out)
		}
		return strings.Contains(dev.out.String(), "Flowgate is ready"), nil
	})
	if resp, err := http.Get("http://" + mcpAddr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("--no-mcp, yet %s answers %s", mcpAddr, resp.Status)
	}
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + args[slices.Index(args, "--port")+1], Logger: sdklog.NewStructuredLogger(testenv.Logger())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var desc *client.ScheduleDescription
	testenv.WaitFor(t, 30*time.Second, "the schedule flowgate-tick-often", func() (bool, error) {
		desc, err = c.ScheduleClient().GetHandle(t.Context(), "flowgate-tick-often").Describe(t.Context())
		return err == nil, err
	})
	if a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || a.Workflow != "tick" {
		t.Errorf("the schedule's action is %+v, want a start of tick", desc.Schedule.Action)
	}
	testenv.WaitFor(t, 30*time.Second, "a scheduled run of tick requested by ticker", func() (bool, error) {
		resp, err := c.CountWorkflow(t.Context(), countRequest("WorkflowType = 'tick' AND FlowgateRequestedBy = 'ticker'"))
		return err == nil && resp.GetCount() > 0, err
	})
}

// TestCreateScheduleChecksEachField: create_schedule makes an ad hoc schedule of a loaded
// process with the caller as its requester and the reason as its note, and list_schedules
// lists it; a call that names no loaded process, a cron Temporal would not take, both
// cron and every, parameters the process's schema refuses, no reason, or a name already
// taken is refused with a sentence naming the field and what is allowed, and leaves
// nothing behind.
func TestCreateScheduleChecksEachField(t *testing.T) {
	t.Parallel()
	env := testenv.StartT(t, testenv.Options{NoWorker: true})
	cs := connectHTTP(t, env.MCPURL)
	schedules := func() []mcpserver.ScheduleView {
		var res mcpserver.ListSchedulesResult
		callTool(t, cs, "list_schedules", map[string]any{}).decode(t, &res)
		return res.Schedules
	}
	good := func(edits ...func(map[string]any)) map[string]any {
		args := map[string]any{"process": "audit", "name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Paris",
			"parameters": map[string]any{"tables": []string{"users"}}, "paused": true, "reason": "the auditors asked for a nightly run"}
		for _, e := range edits {
			e(args)
		}
		return args
	}
	for _, c := range []struct {
		name string
		args map[string]any
		says []string
	}{
		{"an unknown process", good(func(a map[string]any) { a["process"] = "payroll" }), []string{`process: "payroll" is not a loaded process definition; allowed: `, "audit"}},
		{"a bad cron", good(func(a map[string]any) { a["cron"] = "61 * * * *" }), []string{"cron: ", `"61 * * * *"`, "allowed: five fields"}},
		{"cron and every", good(func(a map[string]any) { a["every"] = "1h" }), []string{"every: the schedule says both cron and every; allowed: cron or every, not both"}},
		{"bad parameters", good(func(a map[string]any) { a["parameters"] = map[string]any{"tables": []string{"payroll"}} }), []string{"params: parameters.tables[0]: value must be one of 'users', 'products', 'orders'"}},
		{"no reason", good(func(a map[string]any) { delete(a, "reason") }), []string{"reason: is empty or too long; allowed: 1 to"}},
		{"a blank reason", good(func(a map[string]any) { a["reason"] = "  " }), []string{"reason: is empty or too long; allowed: 1 to"}},
	} {
		r := callTool(t, cs, "create_schedule", c.args)
		for _, want := range c.says {
			if !r.IsError || !strings.Contains(r.Text, want) {
				t.Errorf("%s: %+v; want a refusal saying %q", c.name, r, want)
			}
		}
	}
	if list := schedules(); len(list) != 0 {
		t.Fatalf("refused calls left schedules: %+v", list)
	}

	var made mcpserver.ScheduleView
	callTool(t, cs, "create_schedule", good()).decode(t, &made)
	if made.ScheduleID != "flowgate-audit-nightly" || made.Process != "audit" || made.Origin != "create_schedule" || made.RequestedBy != "tester" ||
		!made.Paused || !strings.Contains(made.Note, "created by tester: the auditors asked for a nightly run") || made.Spec != "cron 30 2 * * * (Europe/Paris)" {
		t.Errorf("create_schedule = %+v", made)
	}
	if list := schedules(); len(list) != 1 || list[0].ScheduleID != made.ScheduleID || list[0].RequestedBy != "tester" || !list[0].Paused {
		t.Errorf("list_schedules = %+v, want the one made", list)
	}
	if r := callTool(t, cs, "create_schedule", good()); !r.IsError || !strings.Contains(r.Text, "schedule flowgate-audit-nightly exists already; nothing was created") {
		t.Errorf("the same name again: %+v", r)
	}
}
