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

// Bounds of resource subscriptions.
const (
	MaxSubscriptionsPerSession = 100
	MaxSubscriptions           = 10_000
)

// watchers share one watcher per workflow among every session subscribed to its details
// resource. A watcher long-polls the workflow's history (no query per subscriber, no
// polling loop) and, after each completed workflow task or the run's close, tells every
// subscriber with notifications/resources/updated.
type watchers struct {
	s  *Server
	mu sync.Mutex
	// byRun holds the watched runs; bySession the URIs each session subscribed to.
	byRun     map[string]*watcher
	bySession map[string]map[string]bool
	total     int
	// senders deliver to subscribers that are 2026-07-28 subscriptions/listen streams,
	// which mcp-go does not register as sessions; others get SendNotificationToSpecificClient.
	senders map[string]func(uri string)
}

type watcher struct {
	uri      string
	sessions map[string]bool
	cancel   context.CancelFunc
}

func newWatchers(s *Server) *watchers {
	return &watchers{s: s, byRun: map[string]*watcher{}, bySession: map[string]map[string]bool{}, senders: map[string]func(string){}}
}

// Count is how many workflows are watched now, however many sessions subscribed.
func (w *watchers) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byRun)
}

// subscribeTarget returns the workflow id a subscribable URI names.
func subscribeTarget(uri string) (string, bool) {
	id, ok := strings.CutPrefix(uri, "workflow://")
	if !ok {
		return "", false
	}
	id, ok = strings.CutSuffix(id, "/details")
	return id, ok && id != "" && checkID("workflow_id", id) == nil
}

// check refuses a subscription the server cannot keep: a URI that is not a run's details,
// a run that does not exist, or one over the bounds. It returns a JSON-RPC code and message.
func (w *watchers) check(ctx context.Context, session, uri string) (int, string) {
	id, ok := subscribeTarget(uri)
	if !ok {
		return mcp.INVALID_PARAMS, fmt.Sprintf("uri %q cannot be subscribed to; allowed: workflow://{workflow_id}/details", uri)
	}
	w.mu.Lock()
	n, total := len(w.bySession[session]), w.total
	already := w.bySession[session][uri]
	w.mu.Unlock()
	switch {
	case already:
		return 0, ""
	case n >= MaxSubscriptionsPerSession:
		return mcp.INVALID_PARAMS, fmt.Sprintf("this session already has %d subscriptions, the most one may hold; unsubscribe from some first", n)
	case total >= MaxSubscriptions:
		return mcp.INTERNAL_ERROR, fmt.Sprintf("this server holds %d subscriptions, the most it keeps; try again later", total)
	}
	ctx, cancel := w.s.callContext(ctx)
	defer cancel()
	if _, err := w.s.cfg.Client.DescribeWorkflowExecution(ctx, id, ""); err != nil {
		return mcp.RESOURCE_NOT_FOUND, "cannot subscribe to " + uri + ": " + w.s.explain(ctx, id, err)
	}
	return 0, ""
}

// add subscribes a session to a URI (checked before), starting its run's watcher if none.
func (w *watchers) add(session, uri string) {
	id, ok := subscribeTarget(uri)
	if !ok || session == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bySession[session][uri] {
		return
	}
	if w.bySession[session] == nil {
		w.bySession[session] = map[string]bool{}
	}
	w.bySession[session][uri] = true
	w.total++
	wt := w.byRun[id]
	if wt == nil {
		ctx, cancel := context.WithCancel(context.Background())
		wt = &watcher{uri: uri, sessions: map[string]bool{}, cancel: cancel}
		w.byRun[id] = wt
		go w.watch(ctx, id, wt)
	}
	wt.sessions[session] = true
}

// remove unsubscribes a session from a URI; the last subscriber stops the watcher.
func (w *watchers) remove(session, uri string) {
	id, _ := subscribeTarget(uri)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.bySession[session][uri] {
		return
	}
	delete(w.bySession[session], uri)
	if len(w.bySession[session]) == 0 {
		delete(w.bySession, session)
		delete(w.senders, session)
	}
	w.total--
	if wt := w.byRun[id]; wt != nil {
		delete(wt.sessions, session)
		if len(wt.sessions) == 0 {
			wt.cancel()
			delete(w.byRun, id)
		}
	}
}

// drop removes every subscription of a session that ended.
func (w *watchers) drop(session string) {
	w.mu.Lock()
	uris := make([]string, 0, len(w.bySession[session]))
	for uri := range w.bySession[session] {
		uris = append(uris, uri)
	}
	w.mu.Unlock()
	for _, uri := range uris {
		w.remove(session, uri)
	}
}

// watch tells the subscribers of the run of every change until it closes or the last
// subscriber leaves.
func (w *watchers) watch(ctx context.Context, id string, wt *watcher) {
	since := time.Now()
	w.s.followHistory(ctx, id, func(e *historypb.HistoryEvent) {
		if marksChange(e) && !e.GetEventTime().AsTime().Before(since) {
			w.tell(id, wt)
		}
	})
}

// followHistory long-polls the run's history and calls each for every event, from the
// first, once, in order, until the run has closed or ctx ends: there is no query per
// change and no polling loop. A run that continues as new is followed into its next run.
func (s *Server) followHistory(ctx context.Context, id string, each func(e *historypb.HistoryEvent)) {
	var last int64 // the last event delivered of the run followed
	for ctx.Err() == nil {
		iter := s.cfg.Client.GetWorkflowHistory(ctx, id, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				s.cfg.Logger.Debug("history long poll broke off", "workflow_id", id, "error", err)
				break
			}
			if e.GetEventId() <= last {
				continue // read again after a long poll broke off
			}
			last = e.GetEventId()
			s.cfg.Logger.Debug("followed event", "workflow_id", id, "event_id", e.GetEventId(), "type", e.GetEventType().String())
			each(e)
			if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
				last = 0 // the next run's history starts at 1
				break
			}
		}
		// The history ended (the run closed) or the long poll broke off: a closed run has
		// nothing more to say; anything else is polled again after a pause.
		if d, err := s.cfg.Client.DescribeWorkflowExecution(ctx, id, ""); err == nil &&
			d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return
		}
		if last == 0 {
			continue // on to the next run at once
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// marksChange reports whether the event is one after which a run's record may have
// changed: a completed workflow task (a decision, a step, a status) or the run's close.
func marksChange(e *historypb.HistoryEvent) bool {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return true
	}
	return false
}

// recordedStatus is the status and step an event of a run's history records: those a
// workflow task wrote to the run's search attributes (every Flowgate run writes them at
// each change of status or step), or a close Temporal made without them (terminated,
// timed out, or failed or cancelled before the run could record it).
func recordedStatus(e *historypb.HistoryEvent) (status workflows.Status, step string, ok bool) {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		fields := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
		raw, found := fields[workflows.AttrStatus.GetName()]
		if !found || json.Unmarshal(raw.GetData(), &status) != nil {
			return "", "", false
		}
		_ = json.Unmarshal(fields[workflows.AttrStep.GetName()].GetData(), &step)
		return status, step, true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		return workflows.StatusFailed, "", true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		return workflows.StatusCancelled, "", true
	}
	return "", "", false
}

// tell sends notifications/resources/updated to every subscriber of the run.
func (w *watchers) tell(id string, wt *watcher) {
	w.mu.Lock()
	sessions := make([]string, 0, len(wt.sessions))
	for sid := range wt.sessions {
		sessions = append(sessions, sid)
	}
	w.mu.Unlock()
	for _, sid := range sessions {
		w.mu.Lock()
		send := w.senders[sid]
		w.mu.Unlock()
		if send != nil {
			send(wt.uri)
			continue
		}
		_ = w.s.mcp.SendNotificationToSpecificClient(sid, mcp.MethodNotificationResourceUpdated, map[string]any{"uri": wt.uri})
	}
}

// beforeListen serves resource subscriptions of a 2026-07-28 subscriptions/listen stream
// from the same watchers, for as long as the stream is open. A URI the server cannot keep
// is left out (mcp-go has already acknowledged the list).
func (w *watchers) beforeListen(ctx context.Context, id any, req *mcp.SubscriptionsListenRequest) {
	cs := server.ClientSessionFromContext(ctx)
	if cs == nil || req.Params.Notifications.ResourceSubscriptions == nil {
		return
	}
	key := fmt.Sprintf("listen:%p", cs)
	send := func(uri string) {
		n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{
			Method: string(mcp.MethodNotificationResourceUpdated),
			Params: mcp.NotificationParams{Meta: map[string]any{mcp.MetaKeySubscriptionID: id}, AdditionalFields: map[string]any{"uri": uri}},
		}}
		select {
		case cs.NotificationChannel() <- n:
		default: // the stream is not reading; the next change tells it again
		}
	}
	any := false
	for _, uri := range req.Params.Notifications.ResourceSubscriptions {
		if code, _ := w.check(ctx, key, uri); code == 0 {
			w.mu.Lock()
			w.senders[key] = send
			w.mu.Unlock()
			w.add(key, uri)
			any = true
		}
	}
	if any {
		go func() {
			<-ctx.Done()
			w.drop(key)
		}()
	}
}

// afterSubscribe and afterUnsubscribe keep the watchers in step with mcp-go's answers.
func (w *watchers) afterSubscribe(ctx context.Context, _ any, req *mcp.SubscribeRequest, _ *mcp.EmptyResult) {
	if cs := server.ClientSessionFromContext(ctx); cs != nil {
		if code, _ := w.check(ctx, cs.SessionID(), req.Params.URI); code == 0 {
			w.add(cs.SessionID(), req.Params.URI)
		}
	}
}

func (w *watchers) afterUnsubscribe(ctx context.Context, _ any, req *mcp.UnsubscribeRequest, _ *mcp.EmptyResult) {
	if cs := server.ClientSessionFromContext(ctx); cs != nil {
		w.remove(cs.SessionID(), req.Params.URI)
	}
}

func (w *watchers) sessionEnded(_ context.Context, cs server.ClientSession) { w.drop(cs.SessionID()) }

// checkSubscribe answers a resources/subscribe the server cannot keep with the spec's
// error before mcp-go would accept it, over HTTP and stdio alike.
func (w *watchers) checkSubscribe(in *inbound) *reply {
	if !isSubscribe(in.msg) {
		return nil
	}
	p, err := in.msg.paramsOf()
	if err != nil {
		return nil // mcp-go answers params it cannot read
	}
	if code, text := w.check(in.ctx, in.session, p.URI); code != 0 {
		return &reply{body: rpcError(in.msg.ID, &protocolError{code, text})}
	}
	return nil
}

// isSubscribe says whether m is a resources/subscribe: checkSubscribe may ask Temporal.
func isSubscribe(m *message) bool { return m.is(mcp.MethodResourcesSubscribe) }
