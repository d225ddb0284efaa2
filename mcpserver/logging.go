package mcpserver

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

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
	var last [2]string
	f.run(session.SessionID(), "log:"+id, id, time.Now(), func(ctx context.Context) {
		v, err := f.s.queryStatus(ctx, id)
		if err != nil {
			return
		}
		now := [2]string{string(v.Status), v.CurrentStep}
		if now == last {
			return
		}
		last = now
		f.s.sendLog(session.SessionID(), transitionLevel(v.Status), "flowgate.workflow", map[string]any{
			"workflow_id": v.WorkflowID, "status": v.Status, "step": v.CurrentStep, "message": describeStatus(v),
		})
	})
}

// watchTask sends the session notifications/tasks/status each time the task's status
// changes from known, until it ends. Only a run's task is watched: a data tool's task ends
// within its call.
//
// seen is when the look that found known began: every change of the run after it is
// looked at, so none falls between that look and the follower's first.
func (f *followers) watchTask(sid, id string, known mcp.TaskStatus, seen time.Time) {
	if sid == "" || strings.HasPrefix(id, toolTaskPrefix) || terminal(known) {
		return
	}
	f.run(sid, "task:"+id, id, seen, func(ctx context.Context) {
		v, err := f.s.queryStatus(ctx, id)
		for wait := 250 * time.Millisecond; err != nil && ctx.Err() == nil && wait <= 2*time.Second; wait *= 2 {
			// A gate is the run's last change until someone decides: a look lost to a
			// failed query would leave the client untold, so look again.
			f.s.cfg.Logger.Debug("task follower: status query failed; asking again", "task", id, "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			v, err = f.s.queryStatus(ctx, id)
		}
		if err != nil {
			f.s.cfg.Logger.Debug("task follower: status query failed", "task", id, "error", err)
			return
		}
		t := f.s.taskOf(ctx, v)
		f.s.cfg.Logger.Debug("task follower: looked", "task", id, "status", t.Status, "known", known)
		if t.Status == known {
			return
		}
		known = t.Status
		raw, _ := json.Marshal(t)
		var params map[string]any
		_ = json.Unmarshal(raw, &params)
		if err := f.s.mcp.SendNotificationToSpecificClient(sid, string(mcp.MethodNotificationTasksStatus), params); err != nil {
			f.s.cfg.Logger.Debug("task follower: notification not sent", "task", id, "status", t.Status, "error", err)
		}
	})
}

// run calls changed (with a context for its queries) once, then after each change of the
// run id since the caller last looked (from a second before, for a little clock skew with
// the server), for the session, under key, until the run closes or the session ends.
func (f *followers) run(sid, key, id string, since time.Time, changed func(ctx context.Context)) {
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
		check := func() {
			qctx, qcancel := f.s.callContext(fctx)
			defer qcancel()
			changed(qctx)
		}
		// Once now, then at each change after since: changed tells only what differs
		// from what it last told, so a change seen twice is told once.
		check()
		f.s.followHistory(fctx, id, since.Add(-time.Second), check)
	}()
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
