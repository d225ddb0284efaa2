package mcpserver

import (
	"context"
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

// MaxFollowedRunsPerSession bounds the runs whose transitions one session hears.
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
	f.mu.Lock()
	runs := f.bySession[sid]
	if runs == nil {
		runs = map[string]context.CancelFunc{}
		f.bySession[sid] = runs
	}
	if _, ok := runs[id]; ok || len(runs) >= MaxFollowedRunsPerSession {
		f.mu.Unlock()
		return
	}
	fctx, cancel := context.WithCancel(context.Background())
	runs[id] = cancel
	f.mu.Unlock()
	go func() {
		defer f.stop(sid, id)
		var last [2]string
		f.s.followHistory(fctx, id, func() {
			qctx, qcancel := f.s.callContext(fctx)
			v, err := f.s.queryStatus(qctx, id)
			qcancel()
			if err != nil {
				return
			}
			now := [2]string{string(v.Status), v.CurrentStep}
			if now == last {
				return
			}
			last = now
			f.s.sendLog(sid, transitionLevel(v.Status), "flowgate.workflow", map[string]any{
				"workflow_id": v.WorkflowID, "status": v.Status, "step": v.CurrentStep, "message": describeStatus(v),
			})
		})
	}()
}

func (f *followers) stop(sid, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cancel, ok := f.bySession[sid][id]; ok {
		cancel()
		delete(f.bySession[sid], id)
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
