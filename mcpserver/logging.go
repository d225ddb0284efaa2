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
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/flowgate/flowgate/workflows"
)

// MCP logging: the server declares logging, logging/setLevel sets a session's level
// (mcp-go keeps it), and the session hears, as notifications/message at or above it:
//   - each transition of a run it started (status or step), logger "flowgate.workflow";
//   - each failed tool call, with the sentence the call answered, logger "flowgate.tools".
// Nothing else is sent: no parameters, no outputs, no credentials.

// MaxFollowedRunsPerSession bounds the runs whose transitions (and task statuses) one
// session hears.
const MaxFollowedRunsPerSession = 100

// followers follow the runs each session started, one history long-poll per run and
// session, until the run closes or the session ends.
type followers struct {
	s         *Server
	mu        sync.Mutex
	bySession map[string]map[string]context.CancelFunc
}

func newFollowers(s *Server) *followers {
	return &followers{s: s, bySession: map[string]map[string]context.CancelFunc{}}
}

// follow sends the session in ctx each transition of the run id from now on.
func (f *followers) follow(ctx context.Context, id string) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil || session.SessionID() == "" {
		return
	}
	sid := session.SessionID()
	f.run(sid, "log:"+id, id, time.Now(), [2]string{}, statusAndStep, func(ctx context.Context, status workflows.Status, step string, _ time.Time) {
		msg := fmt.Sprintf("%s is %s.", id, status)
		if step != "" && !status.Terminal() {
			msg = fmt.Sprintf("%s is %s at step %s.", id, status, step)
		}
		if v, err := f.s.app.Status(ctx, id); err == nil && v.Status == status && v.CurrentStep == step {
			msg = describeStatus(v) // what it is now is what changed: say it in full
		}
		f.s.sendLog(sid, transitionLevel(status), "flowgate.workflow", map[string]any{
			"workflow_id": id, "status": status, "step": step, "message": msg,
		})
	})
}

// watchTask sends the session notifications/tasks/status each time the task's status
// changes from known, until it ends. Only a run's task is watched: a data tool's task ends
// within its call.
//
// seen is when the look that found known began: every change the run recorded after it
// is told, in order, even one that a later change overtook before it was told (a gate
// decided at once is still told as input_required, then completed).
func (f *followers) watchTask(sid, id string, known mcp.TaskStatus, seen time.Time) {
	if sid == "" || strings.HasPrefix(id, toolTaskPrefix) || terminal(known) {
		return
	}
	var told [2]string
	told[0] = string(known)
	f.run(sid, "task:"+id, id, seen, told, taskKey, func(ctx context.Context, status workflows.Status, step string, at time.Time) {
		t := f.s.recordedTask(ctx, id, status, step, at)
		f.s.cfg.Logger.Debug("task follower: telling", "task", id, "status", t.Status)
		raw, _ := json.Marshal(t)
		var params map[string]any
		_ = json.Unmarshal(raw, &params)
		if err := f.s.mcp.SendNotificationToSpecificClient(sid, string(mcp.MethodNotificationTasksStatus), params); err != nil {
			f.s.cfg.Logger.Debug("task follower: notification not sent", "task", id, "status", t.Status, "error", err)
		}
	})
}

// taskKey is what a task follower compares: the task's status only.
func taskKey(status workflows.Status, _ string) [2]string {
	return [2]string{string(taskStatus(status))}
}

// statusAndStep is what a transition follower compares: the run's status and step.
func statusAndStep(status workflows.Status, step string) [2]string {
	return [2]string{string(status), step}
}

// recordedTask is the task as it was when the run recorded status at step: the run's
// status query says it in full when it still stands there; else (it has moved on since)
// the task is built from what the history recorded, with the query's fixed fields.
func (s *Server) recordedTask(ctx context.Context, id string, status workflows.Status, step string, at time.Time) mcp.Task {
	v, err := s.app.Status(ctx, id)
	for wait := 250 * time.Millisecond; err != nil && ctx.Err() == nil && wait <= 2*time.Second; wait *= 2 {
		s.cfg.Logger.Debug("task follower: status query failed; asking again", "task", id, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		v, err = s.app.Status(ctx, id)
	}
	if err == nil && taskStatus(v.Status) == taskStatus(status) && v.CurrentStep == step {
		return s.taskOf(ctx, v)
	}
	then := workflows.StatusView{WorkflowID: id, Type: v.Type, Status: status, CurrentStep: step, RequestedBy: v.RequestedBy,
		StartedAt: v.StartedAt, UpdatedAt: at, TotalSteps: v.TotalSteps}
	if then.StartedAt.IsZero() {
		then.StartedAt = at
	}
	t := s.taskOf(ctx, then)
	t.StatusMessage = fmt.Sprintf("%s reached %s", id, status)
	if step != "" && !status.Terminal() {
		t.StatusMessage += " at step " + step
	}
	t.StatusMessage += " (it has moved on since: tasks/get says where it stands now)."
	return t
}

// run follows the run id for the session, under key, until the run closes or the session
// ends, and calls changed (with a context for its queries) at each change of what keyOf
// makes of the status and step the run recorded after since, in order, starting from
// told (what the session knows). Changes recorded in the second before since (a little
// clock skew with the server) are taken as known, and told at the next event if they
// differ from told.
func (f *followers) run(sid, key, id string, since time.Time, told [2]string, keyOf func(workflows.Status, string) [2]string,
	changed func(ctx context.Context, status workflows.Status, step string, at time.Time)) {
	f.mu.Lock()
	runs := f.bySession[sid]
	if runs == nil {
		runs = map[string]context.CancelFunc{}
		f.bySession[sid] = runs
	}
	if _, ok := runs[key]; ok || len(runs) >= MaxFollowedRunsPerSession {
		f.mu.Unlock()
		return
	}
	fctx, cancel := context.WithCancel(context.Background())
	runs[key] = cancel
	f.mu.Unlock()
	f.s.cfg.Logger.Debug("follower started", "session", sid, "key", key)
	go func() {
		defer f.s.cfg.Logger.Debug("follower stopped", "session", sid, "key", key)
		defer f.stop(sid, key)
		tr := &transitions{since: since, told: told, keyOf: keyOf}
		f.s.followHistory(fctx, id, func(e *historypb.HistoryEvent) {
			if status, step, at, ok := tr.observe(e); ok {
				qctx, qcancel := f.s.callContext(fctx)
				defer qcancel()
				changed(qctx, status, step, at)
			}
		})
	}()
}

// transitions turns a run's history, event by event, into the changes a session is told:
// the status and step the run recorded (recordedStatus), from since on, each time what
// keyOf makes of them differs from what was told last. Events in the second before since
// are taken as known (a little clock skew with the server): they set where the run
// stands without a word, and that is told at the next event if it differs from told.
type transitions struct {
	since time.Time
	told  [2]string
	keyOf func(workflows.Status, string) [2]string
	cur   struct {
		status workflows.Status
		step   string
		at     time.Time
		set    bool
	}
}

// observe takes the next event and reports the change to tell, if there is one.
func (tr *transitions) observe(e *historypb.HistoryEvent) (status workflows.Status, step string, at time.Time, tell bool) {
	t := e.GetEventTime().AsTime()
	if t.Before(tr.since.Add(-time.Second)) {
		return "", "", time.Time{}, false
	}
	if status, step, ok := recordedStatus(e); ok {
		// A close after the run recorded its end adds nothing to that end.
		closeAfterEnd := tr.cur.set && tr.cur.status.Terminal() && e.GetEventType() != enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
		if !closeAfterEnd {
			tr.cur.status, tr.cur.step, tr.cur.at, tr.cur.set = status, step, t, true
		}
	}
	if !tr.cur.set || t.Before(tr.since) || tr.keyOf(tr.cur.status, tr.cur.step) == tr.told {
		return "", "", time.Time{}, false
	}
	tr.told = tr.keyOf(tr.cur.status, tr.cur.step)
	return tr.cur.status, tr.cur.step, tr.cur.at, true
}

func (f *followers) stop(sid, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cancel, ok := f.bySession[sid][key]; ok {
		cancel()
		delete(f.bySession[sid], key)
		if len(f.bySession[sid]) == 0 {
			delete(f.bySession, sid)
		}
	}
}

// sessionEnded stops following for a session that ended.
func (f *followers) sessionEnded(_ context.Context, session server.ClientSession) {
	f.mu.Lock()
	runs := f.bySession[session.SessionID()]
	delete(f.bySession, session.SessionID())
	f.mu.Unlock()
	for _, cancel := range runs {
		cancel()
	}
}

// transitionLevel is the level of a run's transition: progress is info, a gate waiting
// for a person notice, a rejection, timeout or cancellation warning, a failure error.
func transitionLevel(s workflows.Status) mcp.LoggingLevel {
	switch s {
	case workflows.StatusWaitingApproval:
		return mcp.LoggingLevelNotice
	case workflows.StatusWaitingInput, workflows.StatusRejected, workflows.StatusTimedOut, workflows.StatusCancelled:
		return mcp.LoggingLevelWarning
	case workflows.StatusFailed:
		return mcp.LoggingLevelError
	}
	return mcp.LoggingLevelInfo
}

// logFailedCall tells the session of a tool call that failed, once its answer is on its
// way: mcp-go v1.2.1 drops a notification sent as a handler returns, so it is sent a
// moment after, to the session's stream.
func (s *Server) logFailedCall(ctx context.Context, tool, text string) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil || session.SessionID() == "" {
		return
	}
	sid := session.SessionID()
	go func() {
		time.Sleep(100 * time.Millisecond)
		s.sendLog(sid, mcp.LoggingLevelWarning, "flowgate.tools", map[string]any{"tool": tool, "message": text})
	}()
}

// sendLog sends notifications/message to a session when its level admits level.
func (s *Server) sendLog(sid string, level mcp.LoggingLevel, logger string, data any) {
	_ = s.mcp.SendLogMessageToSpecificClient(sid, mcp.NewLoggingMessageNotification(level, logger, data))
}
