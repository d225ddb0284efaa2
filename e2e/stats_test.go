package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestStatsCountThePileByKindAndGate: admin://system/stats says how many runs wait at each
// gate of each process and since when the longest-waiting one started.
func TestStatsCountThePileByKindAndGate(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{})
	cs := connectHTTP(t, env.MCPURL)
	before := time.Now().UTC().Add(-time.Second)
	var ids []string
	for i, start := range []map[string]any{
		{"workflow_type": "deployment", "parameters": map[string]any{"service": "orders", "version": "8.1.0", "environment": "production"}},
		{"workflow_type": "deployment", "parameters": map[string]any{"service": "users", "version": "8.1.1", "environment": "staging"}},
		{"workflow_type": "onboarding", "parameters": map[string]any{"email": "stats.hire@example.com", "name": "Stats Hire", "role": "viewer"}},
	} {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", start).decode(t, &s)
		ids = append(ids, s.WorkflowID)
		if i == 0 { // the others start in a later second than the first
			first := testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval).StartedAt.UTC().Truncate(time.Second)
			testenv.WaitFor(t, 5*time.Second, "the second after the first start", func() (bool, error) {
				return time.Now().UTC().Truncate(time.Second).After(first), nil
			})
		}
	}
	started := map[string]time.Time{}
	for _, id := range ids {
		started[id] = testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval).StartedAt
	}
	var st mcpserver.Stats
	testenv.WaitFor(t, 10*time.Second, "visibility to count the waiting runs", func() (bool, error) {
		var err error
		if st, err = readStats(cs); err != nil {
			return false, err
		}
		return st.WaitingApproval["deployment"]["approval"] == 2 && st.WaitingApproval["onboarding"]["manager_approval"] == 1, nil
	})
	if n, ok := st.WaitingApproval["audit"]["auditor_signoff"]; !ok || n != 0 {
		t.Errorf("audit waiting = %v (present %t), want 0", n, ok)
	}
	// To the second: the start lies in the second the stats name.
	if st.OldestWaitingStartedAt == nil || st.OldestWaitingStartedAt.Before(before.Truncate(time.Second)) || st.OldestWaitingStartedAt.After(time.Now()) || st.OldestWaitingFor == "" {
		t.Errorf("oldest waiting started at %v (%s), want between %v and now", st.OldestWaitingStartedAt, st.OldestWaitingFor, before)
	}
	inSecond := func(at *time.Time, of time.Time) bool { return at != nil && at.Equal(of.UTC().Truncate(time.Second)) }
	if !inSecond(st.OldestWaitingStartedAt, started[ids[0]]) {
		t.Errorf("oldest waiting started at %v, want the second of %v", st.OldestWaitingStartedAt, started[ids[0]])
	}
	// Looked at again, the same oldest (found from the last look's); once it has left, the
	// next one is the oldest.
	if again, err := readStats(cs); err != nil || !inSecond(again.OldestWaitingStartedAt, started[ids[0]]) {
		t.Errorf("second look: oldest %v (%v), want the second of %v", again.OldestWaitingStartedAt, err, started[ids[0]])
	}
	if r := callTool(t, cs, "cancel_workflow", map[string]any{"workflow_id": ids[0], "reason": "the stats test moves the oldest"}); r.IsError {
		t.Fatal(r.Text)
	}
	testenv.WaitFor(t, 10*time.Second, "the oldest to move to the next run", func() (bool, error) {
		st, err := readStats(cs)
		if err != nil {
			return false, err
		}
		next := min(started[ids[1]].UnixNano(), started[ids[2]].UnixNano())
		return inSecond(st.OldestWaitingStartedAt, time.Unix(0, next)), fmt.Errorf("oldest %v, first %v, next %v", st.OldestWaitingStartedAt, started[ids[0]], time.Unix(0, next).UTC())
	})
}

// TestDevShowsItsCachesAndThePile: flowgate dev with a workflow cache of one run. Three
// deployments wait at their gate, so two fell out of the cache; approving the first is
// rebuilt by replay, and admin://system/stats counts that miss beside the caches' bounds,
// while /metrics reports the pile by process and gate, the cache's own counters and the
// embedded server's history caches.
func TestDevShowsItsCachesAndThePile(t *testing.T) {
	// Its own flowgate dev process, ports and data folder: it runs beside the others.
	t.Parallel()
	args, mcpAddr, _ := devOnFreePorts(t, t.TempDir())
	dev := startDev(t, append(args, "--workflow-cache", "2", "--history-cache", "64")...)
	dev.waitReady(t, mcpAddr)
	cs := connectHTTP(t, dev.mcpURL)
	var ids []string
	for i := range 3 {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
			"parameters": map[string]any{"service": "orders", "version": fmt.Sprintf("9.%d.0", i), "environment": "staging"}}).decode(t, &s)
		waitForMCPStatus(t, cs, s.WorkflowID, workflows.StatusWaitingApproval)
		ids = append(ids, s.WorkflowID)
	}
	metricsText := func() string { return string(httpBody(t, "http://"+mcpAddr+"/metrics")) }
	testenv.WaitFor(t, 30*time.Second, "the pile on /metrics", func() (bool, error) {
		m := metricsText()
		return strings.Contains(m, `flowgate_waiting_approval_runs{gate="approval",process="deployment"} 3`) &&
			strings.Contains(m, `flowgate_waiting_approval_runs{gate="manager_approval",process="onboarding"} 0`), fmt.Errorf("%.2000s", grepLines(m, "flowgate_waiting"))
	})
	if m := metricsText(); !strings.Contains(m, "flowgate_oldest_waiting_approval_age_seconds") || !strings.Contains(m, "temporal_sticky_cache_hit") {
		t.Errorf("/metrics lacks the oldest waiting age or the worker cache's counters:\n%s", grepLines(m, "flowgate_|sticky"))
	}
	r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": ids[0], "action": "approve", "step": "approval", "comment": "from the stats test", "inputs": changeTicket})
	if r.IsError {
		t.Fatalf("approve: %s", r.Text)
	}
	waitForMCPStatus(t, cs, ids[0], workflows.StatusCompleted)
	// The SDK's counters reach /metrics at its next report (every second).
	var st mcpserver.Stats
	testenv.WaitFor(t, 20*time.Second, "the workflow cache's figures in admin://system/stats", func() (bool, error) {
		var err error
		if st, err = readStats(cs); err != nil {
			return false, err
		}
		return st.Caches != nil && st.Caches.Hits > 0 && st.Caches.Misses > 0, fmt.Errorf("caches %+v; /metrics:\n%s", st.Caches, grepLines(metricsText(), "sticky_cache"))
	})
	c := st.Caches
	if c.WorkflowCacheLimit != 2 || c.HistoryCacheLimit != 64 {
		t.Errorf("cache limits %d / %d, want the flags' 2 / 64", c.WorkflowCacheLimit, c.HistoryCacheLimit)
	}
	// The SDK keeps one run fewer than its size; the approved run was evicted while two
	// others came to their gate, so its approval replayed it.
	if c.Runs > 2 || c.HitRate <= 0 || c.HitRate >= 1 {
		t.Errorf("workflow cache %+v: want at most 2 runs and a hit rate between 0 and 1", c.WorkerCache)
	}
	// The embedded server's history caches: every workflow task looked its run up in the
	// mutable-state cache, and most found it there.
	if sc := c.Server; sc == nil || sc.MutableState.Requests == 0 || sc.MutableState.HitRate <= 0 || sc.MutableState.HitRate > 1 || sc.Events.Requests == 0 {
		t.Errorf("server caches %+v: want lookups of both caches and a mutable-state hit rate above 0", c.Server)
	}
	if m := metricsText(); !regexp.MustCompile(`flowgate_server_cache_requests_total\{cache="mutable_state"\} [1-9]`).MatchString(m) ||
		!strings.Contains(m, `flowgate_server_cache_misses_total{cache="events"}`) {
		t.Errorf("/metrics lacks the server caches' counters:\n%s", grepLines(m, "flowgate_server_cache"))
	}
	if st.WaitingApproval["deployment"]["approval"] != 2 {
		t.Errorf("after one approval %v wait, want 2", st.WaitingApproval)
	}
}

// readStats reads admin://system/stats.
func readStats(cs *mcp.ClientSession) (mcpserver.Stats, error) {
	var st mcpserver.Stats
	res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "admin://system/stats"})
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(res.Contents[0].Text), &st)
}

// waitForMCPStatus waits until get_workflow_status says the run has status want.
func waitForMCPStatus(t *testing.T, cs *mcp.ClientSession, id string, want workflows.Status) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, fmt.Sprintf("%s %s", id, want), func() (bool, error) {
		var v workflows.StatusView
		callTool(t, cs, "get_workflow_status", map[string]any{"workflow_id": id}).decode(t, &v)
		return v.Status == want, fmt.Errorf("status %s", v.Status)
	})
}

// grepLines keeps the lines of text that match pattern.
func grepLines(text, pattern string) string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
