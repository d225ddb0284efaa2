package mcpserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flowgate/flowgate/workflows"
)

// scriptedRun is a run whose history and feed a test writes: each step records
// transitions and completes a workflow task, as a worker would; close ends the run.
type scriptedRun struct {
	id string
	mu sync.Mutex
	// events is the run's history; grew is closed (and replaced) when it grows.
	events []*historypb.HistoryEvent
	grew   chan struct{}
	kept   []workflows.Transition
	view   workflows.StatusView
	// legacy answers the feed query as a worker from before it: unknown.
	legacy bool
	// polls, feeds and statuses count what the hubs asked.
	polls, feeds, statuses int
}

func newScriptedRun(id string) *scriptedRun {
	r := &scriptedRun{id: id, grew: make(chan struct{}),
		view: workflows.StatusView{WorkflowID: id, Type: workflows.KindDeployment, RequestedBy: "tester", TotalSteps: 6,
			StartedAt: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}}
	r.event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
	return r
}

// at is the instant every transition of a scripted run happens: the same second, and
// two seconds behind the test's clock, as if the server's clock lagged.
var at = time.Now().Add(-2 * time.Second).UTC()

func (r *scriptedRun) event(t enumspb.EventType) {
	r.events = append(r.events, &historypb.HistoryEvent{EventId: int64(len(r.events) + 1), EventType: t, EventTime: timestamppb.New(at)})
	close(r.grew)
	r.grew = make(chan struct{})
}

// step records transitions to status@step (an approval count with +n) in one workflow task.
func (r *scriptedRun) step(to ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range to {
		status, step, _ := strings.Cut(s, "@")
		step, count, _ := strings.Cut(step, "+")
		approvals, _ := strconv.Atoi(count)
		r.view.Revision++
		r.view.Status, r.view.CurrentStep, r.view.UpdatedAt = workflows.Status(status), step, at
		r.view.Waiting = nil
		if r.view.Status == workflows.StatusWaitingApproval {
			r.view.Waiting = &workflows.Waiting{Step: step, For: "approval", Deadline: at.Add(time.Hour)}
		}
		if r.view.Status.Terminal() {
			closed := at
			r.view.ClosedAt = &closed
		}
		r.kept = append(r.kept, workflows.Transition{Revision: r.view.Revision, At: at, Status: r.view.Status, Step: step, Event: "step", Approvals: approvals})
		if len(r.kept) > workflows.MaxTransitions {
			r.kept = r.kept[1:]
		}
	}
	r.event(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
}

// close ends the run's history with a close event of type t.
func (r *scriptedRun) close(t enumspb.EventType) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.event(t)
}

func (r *scriptedRun) historyPage(ctx context.Context, id string, token []byte) ([]*historypb.HistoryEvent, []byte, error) {
	if id != r.id {
		return nil, nil, serviceerror.NewNotFound("no run " + id)
	}
	from, _ := strconv.Atoi(string(token))
	for {
		r.mu.Lock()
		r.polls++
		events, grew := r.events[from:], r.grew
		r.mu.Unlock()
		if len(events) > 0 {
			next := []byte(strconv.Itoa(from + len(events)))
			if endsRun(events) {
				next = nil
			}
			return events, next, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-grew:
			r.mu.Lock()
			r.polls-- // the same long poll goes on
			r.mu.Unlock()
		}
	}
}

func (r *scriptedRun) feed(_ context.Context, _ string, since int64) (workflows.Feed, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.feeds++
	if r.legacy {
		return workflows.Feed{}, serviceerror.NewQueryFailed("unknown queryType feed. KnownQueryTypes=[status details]")
	}
	f := workflows.Feed{Revision: r.view.Revision, Status: r.view, Transitions: []workflows.Transition{}}
	for _, t := range r.kept {
		if t.Revision > since {
			f.Transitions = append(f.Transitions, t)
		}
	}
	f.Truncated = !covers(f, since)
	return f, nil
}

func (r *scriptedRun) status(context.Context, string) (workflows.StatusView, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses++
	v := r.view
	if r.legacy {
		v.Revision = 0
	}
	return v, nil
}

// heard records what one listener was told, as status@step:revision, and the close.
type heard struct {
	mu   sync.Mutex
	told []string
	more chan struct{}
}

func newHeard() *heard { return &heard{more: make(chan struct{}, 1000)} }

func (h *heard) tell(u feedUpdate) {
	h.mu.Lock()
	for _, t := range u.transitions {
		h.told = append(h.told, fmt.Sprintf("%s@%s:%d", t.Status, t.Step, t.Revision))
	}
	if u.end != nil {
		h.told = append(h.told, "end:"+string(u.end.Status)+":"+u.end.Event)
	}
	if u.closed {
		h.told = append(h.told, "closed")
	}
	h.mu.Unlock()
	h.more <- struct{}{}
}

// wait waits until the listener was told want, and fails if it was told anything else.
func (h *heard) wait(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		h.mu.Lock()
		got := strings.Join(h.told, " ")
		h.mu.Unlock()
		if got == strings.Join(want, " ") {
			return
		}
		if !strings.HasPrefix(strings.Join(want, " "), got) {
			t.Fatalf("told %q, want %q", got, want)
		}
		select {
		case <-h.more:
		case <-deadline:
			t.Fatalf("told %q, want %q", got, want)
		}
	}
}

func testFeeds(r *scriptedRun) *feeds { return newFeeds(r, quiet(), 5*time.Second) }

// TestAListenerResumesFromItsRevision: listeners of one run share one hub; each is told
// exactly the transitions after the revision it joined with, in order, then the close;
// one that joins later from an earlier revision than the hub read is told from its own;
// the hub stops at the close.
func TestAListenerResumesFromItsRevision(t *testing.T) {
	run := newScriptedRun("deployment-1")
	run.step("pending@", "in_progress@validate", "in_progress@load_manifest")
	run.step("in_progress@pre_check", "waiting_approval@approval", "waiting_approval@approval+1")
	f := testFeeds(run)
	a, b, c := newHeard(), newHeard(), newHeard()
	la := f.listen(run.id, 3, a.tell)
	defer la.stop()
	a.wait(t, "in_progress@pre_check:4", "waiting_approval@approval:5", "waiting_approval@approval:6")
	lb := f.listen(run.id, 5, b.tell)
	defer lb.stop()
	b.wait(t, "waiting_approval@approval:6")
	lc := f.listen(run.id, 1, c.tell)
	defer lc.stop()
	c.wait(t, "in_progress@validate:2", "in_progress@load_manifest:3", "in_progress@pre_check:4", "waiting_approval@approval:5", "waiting_approval@approval:6")
	f.mu.Lock()
	hubs := len(f.hubs)
	f.mu.Unlock()
	if hubs != 1 {
		t.Fatalf("%d hubs for one run", hubs)
	}
	run.step("in_progress@approval", "in_progress@deploy", "completed@")
	run.close(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
	end := []string{"in_progress@approval:7", "in_progress@deploy:8", "completed@:9", "closed"}
	a.wait(t, append([]string{"in_progress@pre_check:4", "waiting_approval@approval:5", "waiting_approval@approval:6"}, end...)...)
	b.wait(t, append([]string{"waiting_approval@approval:6"}, end...)...)
	c.wait(t, append([]string{"in_progress@validate:2", "in_progress@load_manifest:3", "in_progress@pre_check:4", "waiting_approval@approval:5", "waiting_approval@approval:6"}, end...)...)
	f.mu.Lock()
	hubs = len(f.hubs)
	f.mu.Unlock()
	if hubs != 0 {
		t.Errorf("%d hubs after the run closed", hubs)
	}
	// One long poll of the history served the three listeners: the first, which read the
	// whole history, and the one the close ended.
	if run.polls > 2 {
		t.Errorf("%d history long polls for three listeners of one run", run.polls)
	}
}

// TestAGateDecidedBeforeAnyLookIsStillTold: a task follower that knew the run working at
// revision 2 is told input_required, then working, then completed, in revision order,
// though the gate opened and was decided within the same second before the hub first read
// the run (and two seconds behind this process's clock): nothing is taken as known by
// its time.
func TestAGateDecidedBeforeAnyLookIsStillTold(t *testing.T) {
	run := newScriptedRun("deployment-2")
	run.step("pending@", "in_progress@validate")
	run.step("in_progress@pre_check", "waiting_approval@approval")
	run.step("in_progress@deploy", "completed@")
	run.close(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
	s, sess := feedTestServer(t, run)
	s.follow.watchTask(sess.id, run.id, mcp.TaskStatusWorking, 2)
	sess.wait(t, "tasks:input_required", "tasks:working", "tasks:completed")
}

// TestWhatTheLookSawIsNotToldAgain: a task follower that knew the gate (input_required at
// its revision) is told only the rejection; a log follower of the run it started is told
// every transition after the start, in order, an approval counted included; a run that
// Temporal terminated at its gate is told as failed.
func TestWhatTheLookSawIsNotToldAgain(t *testing.T) {
	run := newScriptedRun("deployment-3")
	run.step("pending@", "in_progress@validate", "waiting_approval@approval")
	s, sess := feedTestServer(t, run)
	s.follow.watchTask(sess.id, run.id, mcp.TaskStatusInputRequired, 3)
	s.follow.follow(s.mcp.WithContext(context.Background(), sess), run.id)
	sess.wait(t, "log:in_progress@validate", "log:waiting_approval@approval")
	run.step("waiting_approval@approval+1")
	sess.wait(t, "log:in_progress@validate", "log:waiting_approval@approval", "log:waiting_approval@approval")
	run.step("rejected@approval")
	run.close(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED)
	sess.waitSet(t, "tasks:failed", "log:rejected@approval")

	run = newScriptedRun("deployment-4")
	run.step("pending@", "in_progress@validate", "waiting_approval@approval")
	s, sess = feedTestServer(t, run)
	s.follow.watchTask(sess.id, run.id, mcp.TaskStatusWorking, 2)
	sess.wait(t, "tasks:input_required")
	run.close(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED)
	sess.wait(t, "tasks:input_required", "tasks:failed")
}

// TestAWorkerWithoutTheFeedIsFollowedByItsStatus: a run whose worker predates the feed
// query (a rolling upgrade) is followed by its status query: its task follower still
// hears the gate, then the end.
func TestAWorkerWithoutTheFeedIsFollowedByItsStatus(t *testing.T) {
	run := newScriptedRun("deployment-5")
	run.legacy = true
	run.step("pending@", "in_progress@validate")
	s, sess := feedTestServer(t, run)
	s.follow.watchTask(sess.id, run.id, mcp.TaskStatusWorking, 0)
	run.step("waiting_approval@approval")
	sess.wait(t, "tasks:input_required")
	run.step("in_progress@deploy", "completed@")
	run.close(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
	sess.wait(t, "tasks:input_required", "tasks:completed")
}

// TestSubscribersOfARunShareItsHub: sessions subscribed to a run's details share its hub;
// each hears notifications/resources/updated after a transition later than the revision
// it subscribed at; the last to leave stops the hub.
func TestSubscribersOfARunShareItsHub(t *testing.T) {
	run := newScriptedRun("deployment-6")
	run.step("pending@", "in_progress@validate", "waiting_approval@approval")
	s, one := feedTestServer(t, run)
	two := registerFakeSession(t, s, "session-two")
	uri := "workflow://" + run.id + "/details"
	s.watch.add(one.id, uri, 3)
	s.watch.add(two.id, uri, 2) // it had not seen the gate: told at once
	two.wait(t, "updated:"+uri)
	if s.watch.Count() != 1 || s.FeedStats().Hubs != 1 {
		t.Fatalf("%d watched runs, %d hubs, want 1", s.watch.Count(), s.FeedStats().Hubs)
	}
	run.step("in_progress@deploy")
	one.wait(t, "updated:"+uri)
	two.wait(t, "updated:"+uri, "updated:"+uri)
	s.watch.drop(one.id)
	s.watch.remove(two.id, uri)
	if s.watch.Count() != 0 || s.FeedStats().Hubs != 0 {
		t.Errorf("after the last subscriber left: %d watched runs, %d hubs", s.watch.Count(), s.FeedStats().Hubs)
	}
}

// fakeSession is an MCP session that keeps what it is sent.
type fakeSession struct {
	id string
	ch chan mcp.JSONRPCNotification
	mu sync.Mutex
	// got is what it was told: tasks:<status>, log:<status>@<step>, updated:<uri>.
	got []string
}

func (f *fakeSession) Initialize()                                         {}
func (f *fakeSession) Initialized() bool                                   { return true }
func (f *fakeSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return f.ch }
func (f *fakeSession) SessionID() string                                   { return f.id }
func (f *fakeSession) SetLogLevel(mcp.LoggingLevel)                        {}
func (f *fakeSession) GetLogLevel() mcp.LoggingLevel                       { return mcp.LoggingLevelDebug }

// read takes what was sent so far.
func (f *fakeSession) read(wait <-chan time.Time) bool {
	select {
	case n := <-f.ch:
		f.mu.Lock()
		defer f.mu.Unlock()
		p := n.Params.AdditionalFields
		switch n.Method {
		case string(mcp.MethodNotificationTasksStatus):
			f.got = append(f.got, fmt.Sprint("tasks:", p["status"]))
		case string(mcp.MethodNotificationResourceUpdated):
			f.got = append(f.got, fmt.Sprint("updated:", p["uri"]))
		case "notifications/message":
			data, _ := p["data"].(map[string]any)
			f.got = append(f.got, fmt.Sprintf("log:%v@%v", data["status"], data["step"]))
		default:
			f.got = append(f.got, n.Method)
		}
		return true
	case <-wait:
		return false
	}
}

// wait waits until the session was told want, in order, and fails if it was told else.
func (f *fakeSession) wait(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		got := strings.Join(f.got, " ")
		f.mu.Unlock()
		if got == strings.Join(want, " ") {
			return
		}
		if !strings.HasPrefix(strings.Join(want, " "), got) || !f.read(deadline) {
			t.Fatalf("told %q, want %q", got, want)
		}
	}
}

// waitSet waits until the session was told each of want after what it was told before,
// in any order between them (two followers tell it).
func (f *fakeSession) waitSet(t *testing.T, want ...string) {
	t.Helper()
	f.mu.Lock()
	from := len(f.got)
	f.mu.Unlock()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		got := append([]string(nil), f.got[from:]...)
		f.mu.Unlock()
		left := append([]string(nil), want...)
		for _, g := range got {
			i := indexOf(left, g)
			if i < 0 {
				t.Fatalf("told %q, want %q in any order", got, want)
			}
			left = append(left[:i], left[i+1:]...)
		}
		if len(left) == 0 {
			return
		}
		if !f.read(deadline) {
			t.Fatalf("told %q, want %q in any order", got, want)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// feedTestServer is a server whose hubs read run, with one session registered.
func feedTestServer(t *testing.T, run *scriptedRun) (*Server, *fakeSession) {
	t.Helper()
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s.feeds = testFeeds(run)
	s.tasks.retention.Do(func() {}) // no namespace to read a task's ttl from
	return s, registerFakeSession(t, s, "session-one")
}

func registerFakeSession(t *testing.T, s *Server, id string) *fakeSession {
	t.Helper()
	sess := &fakeSession{id: id, ch: make(chan mcp.JSONRPCNotification, 100)}
	if err := s.mcp.RegisterSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.mcp.UnregisterSession(context.Background(), id) })
	return sess
}

// TestAnEndedSessionStopsFollowing: when a session ends, its followers and subscriptions
// leave their runs' hubs, and a hub nobody listens to stops.
func TestAnEndedSessionStopsFollowing(t *testing.T) {
	run := newScriptedRun("deployment-7")
	run.step("pending@", "in_progress@validate", "waiting_approval@approval")
	s, sess := feedTestServer(t, run)
	s.follow.follow(s.mcp.WithContext(context.Background(), sess), run.id)
	s.follow.watchTask(sess.id, run.id, mcp.TaskStatusWorking, 2)
	s.watch.add(sess.id, "workflow://"+run.id+"/details", 3)
	sess.waitSet(t, "log:in_progress@validate", "log:waiting_approval@approval", "tasks:input_required")
	if st := s.FeedStats(); st.Hubs != 1 {
		t.Fatalf("%d hubs for one run followed three ways", st.Hubs)
	}
	s.mcp.UnregisterSession(context.Background(), sess.id)
	if st := s.FeedStats(); st.Hubs != 0 || s.watch.Count() != 0 {
		t.Errorf("after the session ended: %d hubs, %d watched runs", st.Hubs, s.watch.Count())
	}
	s.follow.mu.Lock()
	defer s.follow.mu.Unlock()
	if n := len(s.follow.bySession); n != 0 {
		t.Errorf("%d sessions still followed", n)
	}
}
