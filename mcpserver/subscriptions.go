package mcpserver

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Bounds of resource subscriptions.
const (
	MaxSubscriptionsPerSession = 100
	MaxSubscriptions           = 10_000
)

// watchers keep the resource subscriptions to runs' details. Each subscription is a
// listener of its run's hub, from the revision the run had when it was made: a session
// hears notifications/resources/updated after each later transition of the run (status,
// step, gate, approval counted) and at a close the run's record does not say. However many
// sessions subscribe to a run, the run costs one history long poll (its hub).
type watchers struct {
	s  *Server
	mu sync.Mutex
	// byRun holds each watched run's subscriptions by session; bySession the URIs each
	// session subscribed to.
	byRun     map[string]map[string]*subscription
	bySession map[string]map[string]bool
	total     int
	// senders deliver to subscribers that are 2026-07-28 subscriptions/listen streams,
	// which mcp-go does not register as sessions; others get SendNotificationToSpecificClient.
	senders map[string]func(uri string)
}

// subscription is one session's subscription to a run; removed is set once it was
// removed, maybe before its listener was known.
type subscription struct {
	l       *listener
	removed bool
}

func newWatchers(s *Server) *watchers {
	return &watchers{s: s, byRun: map[string]map[string]*subscription{}, bySession: map[string]map[string]bool{}, senders: map[string]func(string){}}
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
	if code, msg := w.limits(session, uri); code != 0 {
		return code, msg
	}
	id, _ := subscribeTarget(uri)
	ctx, cancel := w.s.callContext(ctx)
	defer cancel()
	if _, err := w.s.cfg.Client.DescribeWorkflowExecution(ctx, id, ""); err != nil {
		return mcp.RESOURCE_NOT_FOUND, "cannot subscribe to " + uri + ": " + w.s.explain(ctx, id, err)
	}
	return 0, ""
}

// limits refuses a URI that is not a run's details, or a subscription over the bounds.
func (w *watchers) limits(session, uri string) (int, string) {
	if _, ok := subscribeTarget(uri); !ok {
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
	return 0, ""
}

// subscribe subscribes a session (or a listen stream, under key) to a URI it may hold,
// from the revision its run has now: the status query that says it also says the run
// exists. It reports whether the session holds the subscription.
func (w *watchers) subscribe(ctx context.Context, key, uri string) bool {
	id, ok := subscribeTarget(uri)
	if !ok || key == "" {
		return false
	}
	w.mu.Lock()
	already := w.bySession[key][uri]
	w.mu.Unlock()
	if already {
		return true
	}
	if code, _ := w.limits(key, uri); code != 0 {
		return false
	}
	qctx, cancel := w.s.callContext(ctx)
	defer cancel()
	v, err := w.s.app.Status(qctx, id)
	if err != nil {
		w.s.cfg.Logger.Info("subscription not kept: the run's status could not be read", "workflow_id", id, "error", err)
		return false
	}
	w.add(key, uri, v.Revision)
	return true
}

// add subscribes a session to a URI (checked before) from revision on.
func (w *watchers) add(session, uri string, revision int64) {
	id, ok := subscribeTarget(uri)
	if !ok || session == "" {
		return
	}
	w.mu.Lock()
	if w.bySession[session][uri] {
		w.mu.Unlock()
		return
	}
	if w.bySession[session] == nil {
		w.bySession[session] = map[string]bool{}
	}
	w.bySession[session][uri] = true
	w.total++
	if w.byRun[id] == nil {
		w.byRun[id] = map[string]*subscription{}
	}
	sub := &subscription{}
	w.byRun[id][session] = sub
	w.mu.Unlock()
	l := w.s.feeds.listen(id, revision, func(u feedUpdate) {
		if len(u.transitions) > 0 || u.end != nil {
			w.tell(session, uri)
		}
	})
	w.mu.Lock()
	sub.l = l
	removed := sub.removed
	w.mu.Unlock()
	if removed {
		l.stop()
	}
}

// remove unsubscribes a session from a URI; the run's last subscriber stops watching it.
func (w *watchers) remove(session, uri string) {
	id, _ := subscribeTarget(uri)
	w.mu.Lock()
	if !w.bySession[session][uri] {
		w.mu.Unlock()
		return
	}
	delete(w.bySession[session], uri)
	if len(w.bySession[session]) == 0 {
		delete(w.bySession, session)
		delete(w.senders, session)
	}
	w.total--
	sub := w.byRun[id][session]
	delete(w.byRun[id], session)
	if len(w.byRun[id]) == 0 {
		delete(w.byRun, id)
	}
	var l *listener
	if sub != nil {
		sub.removed, l = true, sub.l
	}
	w.mu.Unlock()
	if l != nil {
		l.stop()
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

// tell sends notifications/resources/updated for uri to a subscriber.
func (w *watchers) tell(session, uri string) {
	w.mu.Lock()
	send := w.senders[session]
	w.mu.Unlock()
	if send != nil {
		send(uri)
		return
	}
	_ = w.s.mcp.SendNotificationToSpecificClient(session, mcp.MethodNotificationResourceUpdated, map[string]any{"uri": uri})
}

// beforeListen serves resource subscriptions of a 2026-07-28 subscriptions/listen stream
// from the same hubs, for as long as the stream is open. A URI the server cannot keep
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
	w.mu.Lock()
	w.senders[key] = send
	w.mu.Unlock()
	any := false
	for _, uri := range req.Params.Notifications.ResourceSubscriptions {
		any = w.subscribe(ctx, key, uri) || any
	}
	if !any {
		w.mu.Lock()
		if len(w.bySession[key]) == 0 {
			delete(w.senders, key)
		}
		w.mu.Unlock()
		return
	}
	go func() {
		<-ctx.Done()
		w.drop(key)
	}()
}

// afterSubscribe and afterUnsubscribe keep the watchers in step with mcp-go's answers.
func (w *watchers) afterSubscribe(ctx context.Context, _ any, req *mcp.SubscribeRequest, _ *mcp.EmptyResult) {
	if cs := server.ClientSessionFromContext(ctx); cs != nil {
		w.subscribe(ctx, cs.SessionID(), req.Params.URI)
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
