package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/flowgate/flowgate/workflows"
)

// MCP logging: the server declares logging, logging/setLevel sets a session's level
// (mcp-go keeps it), and the session hears, as notifications/message at or above it:
//   - each transition of a run it started (status, step, gate, approval counted; see
//     workflows.Transition), logger "flowgate.workflow";
//   - each failed tool call, with the sentence the call answered, logger "flowgate.tools".
// Nothing else is sent: no parameters, no outputs, no credentials.

// MaxFollowedRunsPerSession bounds the runs whose transitions (and task statuses) one
// session hears.
const MaxFollowedRunsPerSession = 100

// followers tell each session the transitions of the runs it follows: as log messages
// (the runs it started) and as task statuses (its tasks), each a listener of its run's
// hub, until the run closes or the session ends.
type followers struct {
	s         *Server
	mu        sync.Mutex
	bySession map[string]map[string]*following
}

// following is one follower of a session; stopped is set once it was stopped, maybe
// before its listener was known.
type following struct {
	l       *listener
	stopped bool
}

func newFollowers(s *Server) *followers {
	return &followers{s: s, bySession: map[string]map[string]*following{}}
}

// follow sends the session in ctx each transition of the run id, a run it just started:
// from revision 1, the run's start, which start_workflow's answer told.
func (f *followers) follow(ctx context.Context, id string) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil || session.SessionID() == "" {
		return
	}
	sid := session.SessionID()
	f.add(sid, "log:"+id, id, 1, func(u feedUpdate) {
		if u.gap && len(u.transitions) > 0 {
			f.s.sendLog(sid, mcp.LoggingLevelInfo, "flowgate.workflow", map[string]any{"workflow_id": id,
				"message": fmt.Sprintf("%s: transitions before revision %d are no longer kept; get_workflow_status says where it stands.", id, u.transitions[0].Revision)})
		}
		for _, t := range u.transitions {
			f.s.sendLog(sid, transitionLevel(t.Status), "flowgate.workflow", map[string]any{
				"workflow_id": id, "status": t.Status, "step": t.Step, "revision": t.Revision, "event": t.Event,
				"message": transitionMessage(id, t, u.view),
			})
		}
		if e := u.end; e != nil && e.Status != "" {
			f.s.sendLog(sid, transitionLevel(e.Status), "flowgate.workflow", map[string]any{
				"workflow_id": id, "status": e.Status, "step": e.Step, "event": e.Event, "message": fmt.Sprintf("%s was %s.", id, e.Detail),
			})
		}
	})
}

// transitionMessage says a transition in a sentence: in full (describeStatus) when it is
// where the run stands now.
func transitionMessage(id string, t workflows.Transition, now workflows.StatusView) string {
	if t.Revision == now.Revision && now.Status == t.Status && now.CurrentStep == t.Step {
		return describeStatus(now)
	}
	msg := fmt.Sprintf("%s is %s.", id, t.Status)
	if t.Step != "" && !t.Status.Terminal() {
		msg = fmt.Sprintf("%s is %s at step %s.", id, t.Status, t.Step)
	}
	if t.Event == "approved" && t.Actor != "" {
		msg += fmt.Sprintf(" %s approved: %s.", t.Actor, t.Detail)
	}
	return msg
}

// watchTask sends the session notifications/tasks/status each time the task's status
// changes from known, until it ends. Only a run's task is watched: a data tool's task ends
// within its call.
//
// revision is the run's revision in the look that found known: every change the run
// recorded after it is told, in order, even one that a later change overtook before it
// was told (a gate decided at once is still told as input_required, then completed).
func (f *followers) watchTask(sid, id string, known mcp.TaskStatus, revision int64) {
	if sid == "" || strings.HasPrefix(id, toolTaskPrefix) || terminal(known) {
		return
	}
	told := known
	send := func(t mcp.Task) {
		f.s.cfg.Logger.Debug("task follower: telling", "task", id, "status", t.Status)
		raw, _ := json.Marshal(t)
		var params map[string]any
		_ = json.Unmarshal(raw, &params)
		if err := f.s.mcp.SendNotificationToSpecificClient(sid, string(mcp.MethodNotificationTasksStatus), params); err != nil {
			f.s.cfg.Logger.Debug("task follower: notification not sent", "task", id, "status", t.Status, "error", err)
		}
	}
	f.add(sid, "task:"+id, id, revision, func(u feedUpdate) {
		ctx, cancel := f.s.callContext(context.Background())
		defer cancel()
		for _, t := range u.transitions {
			if ts := taskStatus(t.Status); ts != told {
				told = ts
				send(f.s.taskAt(ctx, id, t, u.view))
			}
		}
		if e := u.end; e != nil && e.Status != "" && taskStatus(e.Status) != told {
			told = taskStatus(e.Status)
			send(f.s.taskAt(ctx, id, *e, u.view))
		}
		if terminal(told) {
			f.stop(sid, "task:"+id)
		}
	})
}

// taskAt is the task as it was at transition t: in full (taskOf) when that is where the
// run stands now; else built from the transition, with now's fixed fields.
func (s *Server) taskAt(ctx context.Context, id string, t workflows.Transition, now workflows.StatusView) mcp.Task {
	if t.Revision != 0 && t.Revision == now.Revision && t.Status == now.Status && t.Step == now.CurrentStep {
		return s.taskOf(ctx, now)
	}
	then := workflows.StatusView{WorkflowID: id, Type: now.Type, Status: t.Status, CurrentStep: t.Step, RequestedBy: now.RequestedBy,
		StartedAt: now.StartedAt, UpdatedAt: t.At, TotalSteps: now.TotalSteps}
	if then.StartedAt.IsZero() {
		then.StartedAt = t.At
	}
	task := s.taskOf(ctx, then)
	if t.Revision == 0 { // an end the record does not say
		task.StatusMessage = fmt.Sprintf("%s was %s; its record stops where it was.", id, t.Detail)
		return task
	}
	task.StatusMessage = fmt.Sprintf("%s reached %s", id, t.Status)
	if t.Step != "" && !t.Status.Terminal() {
		task.StatusMessage += " at step " + t.Step
	}
	task.StatusMessage += " (it has moved on since: tasks/get says where it stands now)."
	return task
}

// add starts a follower of the run id for the session, under key, unless the session
// follows it already or follows as many runs as it may: a listener of the run's hub from
// revision since that tells what it hears, and stops once the run has closed.
func (f *followers) add(sid, key, id string, since int64, tell func(feedUpdate)) {
	f.mu.Lock()
	runs := f.bySession[sid]
	if runs == nil {
		runs = map[string]*following{}
		f.bySession[sid] = runs
	}
	if _, ok := runs[key]; ok || len(runs) >= MaxFollowedRunsPerSession {
		f.mu.Unlock()
		return
	}
	fl := &following{}
	runs[key] = fl
	f.mu.Unlock()
	f.s.cfg.Logger.Debug("follower started", "session", sid, "key", key)
	l := f.s.feeds.listen(id, since, func(u feedUpdate) {
		tell(u)
		if u.closed {
			f.stop(sid, key)
		}
	})
	f.mu.Lock()
	fl.l = l
	stopped := fl.stopped
	f.mu.Unlock()
	if stopped { // it heard the close, or the session ended, while it joined
		l.stop()
	}
}

func (f *followers) stop(sid, key string) {
	f.mu.Lock()
	fl := f.bySession[sid][key]
	var l *listener
	if fl != nil {
		fl.stopped, l = true, fl.l
		delete(f.bySession[sid], key)
		if len(f.bySession[sid]) == 0 {
			delete(f.bySession, sid)
		}
	}
	f.mu.Unlock()
	if l != nil {
		f.s.cfg.Logger.Debug("follower stopped", "session", sid, "key", key)
		l.stop()
	}
}

// sessionEnded stops following for a session that ended.
func (f *followers) sessionEnded(_ context.Context, session server.ClientSession) {
	f.mu.Lock()
	runs := f.bySession[session.SessionID()]
	delete(f.bySession, session.SessionID())
	var ls []*listener
	for _, fl := range runs {
		fl.stopped = true
		if fl.l != nil {
			ls = append(ls, fl.l)
		}
	}
	f.mu.Unlock()
	for _, l := range ls {
		l.stop()
	}
}

// transitionLevel is the level of a run's transition: progress is info, a gate waiting
// for a person notice, a rejection, timeout or cancellation warning, a failure error.
func transitionLevel(s workflows.Status) mcp.LoggingLevel {
	switch s {
	case workflows.StatusWaitingApproval:
		return mcp.LoggingLevelNotice
	case workflows.StatusWaitingInput, workflows.StatusChangesRequested, workflows.StatusRejected, workflows.StatusTimedOut, workflows.StatusCancelled, workflows.StatusWithdrawn:
		return mcp.LoggingLevelWarning
	case workflows.StatusFailed:
		return mcp.LoggingLevelError
	}
	return mcp.LoggingLevelInfo
}

// logFailedCall tells the session of a tool call that failed. Over HTTP it waits until
// the call's answer is written, and a moment more: mcp-go v1.2.1 reads a session's
// notifications on the POST that is being answered too, in a forwarder goroutine that
// its handler stops (closes its done channel) without waiting for it to exit; until it
// has, its select may take a notification and, finding the request done, drop it. The
// moment (forwarderExit) lets that goroutine run its select and exit first; the send
// itself waits on a timer, so no call is slowed. Over stdio nothing is dropped, and it
// is sent at once.
func (s *Server) logFailedCall(ctx context.Context, tool, text string) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil || session.SessionID() == "" {
		return
	}
	sid := session.SessionID()
	send := func() {
		s.sendLog(sid, mcp.LoggingLevelWarning, "flowgate.tools", map[string]any{"tool": tool, "message": text})
	}
	if !afterAnswer(ctx, func() { time.AfterFunc(forwarderExit, send) }) {
		send()
	}
}

// forwarderExit is how long after a POST's answer mcp-go's notification forwarder for
// that POST is taken to have exited (logFailedCall).
const forwarderExit = 20 * time.Millisecond

// sendLog sends notifications/message to a session when its level admits level.
func (s *Server) sendLog(sid string, level mcp.LoggingLevel, logger string, data any) {
	_ = s.mcp.SendLogMessageToSpecificClient(sid, mcp.NewLoggingMessageNotification(level, logger, data))
}
