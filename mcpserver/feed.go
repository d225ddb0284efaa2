package mcpserver

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"

	"github.com/flowgate/flowgate/workflows"
)

// One feed per run. Every listener of a run in this process — resource subscriptions,
// log followers, task followers, tasks/result — hears the run's transitions from one hub.
// The hub long-polls the run's history once and reads the run's feed (the workflow's
// QueryFeed) only after an event that can change it: a completed workflow task, or the
// run's close. Each listener keeps its own cursor, the last revision it heard, and is told
// exactly the transitions after it, in revision order, however close in time they came:
// there is no clock and no sleep in what a listener hears.

// historyLongPoll bounds one long poll of a run's history; Temporal answers sooner (with
// nothing new) and it is asked again.
const historyLongPoll = 70 * time.Second

// feedSource is what hubs read runs through: Temporal, or a test's script.
type feedSource interface {
	// historyPage is one long poll of the history of the current run of id: the events
	// after token (from the first when token is nil), waiting for new ones when there are
	// none yet. next is empty once the run has closed (its close event is in events).
	historyPage(ctx context.Context, id string, token []byte) (events []*historypb.HistoryEvent, next []byte, err error)
	// feed is the run's feed after revision since.
	feed(ctx context.Context, id string, since int64) (workflows.Feed, error)
	// status is the run's status query, for runs on a worker from before the feed query.
	status(ctx context.Context, id string) (workflows.StatusView, error)
}

// feeds holds the hubs of the runs followed in this process, one per workflow id, shared
// by every session and purpose.
type feeds struct {
	src     feedSource
	logger  *slog.Logger
	timeout time.Duration
	mu      sync.Mutex
	hubs    map[string]*hub
	// polls and queries count the history long polls and the queries (feed and status)
	// the hubs made.
	polls, queries atomic.Int64
}

func newFeeds(src feedSource, logger *slog.Logger, timeout time.Duration) *feeds {
	return &feeds{src: src, logger: logger, timeout: timeout, hubs: map[string]*hub{}}
}

// FeedStats counts what the hubs of an MCP server cost Temporal.
type FeedStats struct {
	// Hubs is how many runs are followed now, whatever the number of listeners.
	Hubs int
	// Polls and Queries are the history long polls and the queries made so far.
	Polls, Queries int64
}

// FeedStats says how many runs the server follows now and what following them cost.
func (s *Server) FeedStats() FeedStats {
	s.feeds.mu.Lock()
	n := len(s.feeds.hubs)
	s.feeds.mu.Unlock()
	return FeedStats{Hubs: n, Polls: s.feeds.polls.Load(), Queries: s.feeds.queries.Load()}
}

// hub follows one run for its listeners.
type hub struct {
	id     string
	cancel context.CancelFunc
	// wake is signalled (never blocking) when the feed may have changed, or a listener
	// needs transitions the last answer does not hold.
	wake chan struct{}
	// Under feeds.mu: the listeners; done once the hub stopped or told the close (no one
	// joins it then); last, the latest answer; closing, the close event the history
	// ended with (gone: the run does not exist).
	listeners map[*listener]bool
	done      bool
	last      *answer
	closing   *historypb.HistoryEvent
	gone      bool
	// Only the hub's own goroutine touches these: the revision of the latest answer, and
	// the transitions the hub numbered itself for a worker without the feed query.
	revision  int64
	legacy    []workflows.Transition
	legacyRev int64
}

// answer is what a hub read of its run at once. final marks its last answer: the run has
// ended. end, on it, says how when the run's record does not (Temporal terminated it, its
// run timeout passed, it no longer exists, or its feed could not be read after the close).
type answer struct {
	feed  workflows.Feed
	final bool
	end   *workflows.Transition
}

// feedUpdate is what one listener is told at once.
type feedUpdate struct {
	// transitions are those after the listener's cursor, oldest first; gap says that
	// some between its cursor and the first are no longer kept.
	transitions []workflows.Transition
	gap         bool
	// view is the run's status when the hub read them (zero if it could not be read).
	view workflows.StatusView
	// closed says the run has ended: nothing follows. end, with it, is how it ended when
	// its record does not say (Status "" for a run that no longer exists).
	closed bool
	end    *workflows.Transition
}

// listener is one follower of a run, with its own cursor.
type listener struct {
	f      *feeds
	h      *hub
	tell   func(feedUpdate)
	mu     sync.Mutex // serialises tell
	cursor atomic.Int64
	// closed is set once the close was told; stopped once the listener left.
	closed  bool
	stopped atomic.Bool
	late    bool
}

// listen adds a listener of the run id that knows revision since: it is told each later
// transition, in order, then the run's close, by calls of tell (never two at once), until
// it stops. A listener that joins a followed run is told at once what the run's last
// answer holds after since.
func (f *feeds) listen(id string, since int64, tell func(feedUpdate)) *listener {
	return f.join(id, since, tell, false)
}

// join adds a listener (listen); a late one is told after the others of its run, for it
// answers a request: the notifications the others send its session are then on their way
// before that answer is, and mcp-go loses a notification sent as a request's answer goes.
func (f *feeds) join(id string, since int64, tell func(feedUpdate), late bool) *listener {
	l := &listener{f: f, tell: tell, late: late}
	l.cursor.Store(since)
	f.mu.Lock()
	h := f.hubs[id]
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h = &hub{id: id, cancel: cancel, wake: make(chan struct{}, 1), listeners: map[*listener]bool{}}
		f.hubs[id] = h
		go f.run(ctx, h)
	}
	l.h = h
	h.listeners[l] = true
	last := h.last
	if last != nil && !covers(last.feed, since) {
		h.poke()
		last = nil
	}
	f.mu.Unlock()
	if last != nil {
		l.offer(*last)
	}
	return l
}

// covers reports whether f holds every transition after since.
func covers(f workflows.Feed, since int64) bool {
	if f.Revision <= since {
		return true
	}
	return len(f.Transitions) > 0 && f.Transitions[0].Revision <= since+1
}

// stop removes the listener; the hub of a run nobody listens to any more stops.
func (l *listener) stop() {
	if l.stopped.Swap(true) {
		return
	}
	f, h := l.f, l.h
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(h.listeners, l)
	if len(h.listeners) == 0 && !h.done {
		h.done = true
		h.cancel()
		if f.hubs[h.id] == h {
			delete(f.hubs, h.id)
		}
	}
}

// offer tells the listener what a holds after its cursor, and the close.
func (l *listener) offer(a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped.Load() || l.closed {
		return
	}
	cursor := l.cursor.Load()
	u := feedUpdate{view: a.feed.Status, closed: a.final, end: a.end}
	for _, t := range a.feed.Transitions {
		if t.Revision > cursor {
			u.transitions = append(u.transitions, t)
		}
	}
	if len(u.transitions) == 0 && !u.closed {
		return
	}
	if len(u.transitions) > 0 {
		u.gap = u.transitions[0].Revision > cursor+1
		l.cursor.Store(u.transitions[len(u.transitions)-1].Revision)
	}
	l.closed = u.closed
	l.tell(u)
}

// poke asks the hub to read the feed again.
func (h *hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run reads the run's feed each time the history says it may have changed, and tells the
// listeners, until the run has closed (after telling it) or the last listener left.
func (f *feeds) run(ctx context.Context, h *hub) {
	f.logger.Debug("feed hub started", "workflow_id", h.id)
	defer f.logger.Debug("feed hub stopped", "workflow_id", h.id)
	go f.poll(ctx, h)
	var retry <-chan time.Time
	wait, failures := time.Duration(0), 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-retry:
		}
		retry = nil
		// What the listener furthest behind has not heard, and nothing the hub read already.
		f.mu.Lock()
		closing, gone := h.closing, h.gone
		since := int64(math.MaxInt64)
		if h.last != nil {
			since = h.revision
		}
		for l := range h.listeners {
			since = min(since, l.cursor.Load())
		}
		if since == math.MaxInt64 {
			since = 0
		}
		f.mu.Unlock()
		ended := closing != nil || gone
		var a answer
		var err error
		if !gone {
			a, err = f.read(ctx, h, max(since, 0))
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			f.logger.Debug("feed of a followed run not read", "workflow_id", h.id, "error", err, "failures", failures)
			if !ended || failures < 3 {
				// Read again after a pause, or at the next event, whichever comes first.
				wait = min(max(2*wait, 500*time.Millisecond), 15*time.Second)
				retry = time.After(wait)
				continue
			}
		}
		wait, failures = 0, 0
		if ended {
			a.end = endOf(closing, gone, a, err)
		}
		a.final = ended
		f.mu.Lock()
		h.last = &a
		if ended {
			h.done = true
			if f.hubs[h.id] == h {
				delete(f.hubs, h.id)
			}
		}
		listeners := make([]*listener, 0, len(h.listeners))
		for l := range h.listeners {
			listeners = append(listeners, l)
		}
		slices.SortStableFunc(listeners, func(a, b *listener) int { return cmp.Compare(b2i(a.late), b2i(b.late)) })
		f.mu.Unlock()
		for _, l := range listeners {
			l.offer(a)
		}
		if ended {
			h.cancel()
			return
		}
	}
}

// read reads the run's feed after since. A worker from before the feed query (met during
// a rolling upgrade of workers) answers the status query only: the hub then numbers the
// changes of status and step it sees itself, after the highest revision it knew.
func (f *feeds) read(ctx context.Context, h *hub, since int64) (answer, error) {
	qctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	f.queries.Add(1)
	fd, err := f.src.feed(qctx, h.id, since)
	if err == nil {
		h.revision = fd.Revision
		return answer{feed: fd}, nil
	}
	if !unknownQuery(err) {
		return answer{}, err
	}
	f.queries.Add(1)
	v, err := f.src.status(qctx, h.id)
	if err != nil {
		return answer{}, err
	}
	return answer{feed: h.numbered(v, since)}, nil
}

// unknownQuery reports whether err is a worker refusing a query it does not know.
func unknownQuery(err error) bool {
	var qf *serviceerror.QueryFailed
	return errors.As(err, &qf) && strings.Contains(qf.Error(), "unknown queryType")
}

// numbered is the feed after since of a run whose worker has no feed query: a transition
// each time its status or step differs from the last the hub saw. Revision 1 is left to
// the run's start, which a listener that started the run knows.
func (h *hub) numbered(v workflows.StatusView, since int64) workflows.Feed {
	if n := len(h.legacy); n == 0 || h.legacy[n-1].Status != v.Status || h.legacy[n-1].Step != v.CurrentStep {
		h.legacyRev = max(h.legacyRev, h.revision, 1) + 1
		h.legacy = append(h.legacy, workflows.Transition{Revision: h.legacyRev, At: v.UpdatedAt, Status: v.Status, Step: v.CurrentStep, Event: "status"})
		if len(h.legacy) > workflows.MaxTransitions {
			h.legacy = h.legacy[1:]
		}
	}
	h.revision = h.legacyRev
	v.Revision = h.legacyRev
	fd := workflows.Feed{Revision: h.legacyRev, Status: v, Transitions: []workflows.Transition{}}
	for _, t := range h.legacy {
		if t.Revision > since {
			fd.Transitions = append(fd.Transitions, t)
		}
	}
	fd.Truncated = !covers(fd, since)
	return fd
}

// poll long-polls the run's history and wakes the hub after each event that can change
// the run's feed: a completed workflow task, or the run's close, after which it stops. A
// run that continues as new is followed into its next run.
func (f *feeds) poll(ctx context.Context, h *hub) {
	var token []byte
	wait := time.Duration(0)
	for ctx.Err() == nil {
		f.polls.Add(1)
		events, next, err := f.src.historyPage(ctx, h.id, token)
		if err == nil && len(next) == 0 && !endsRun(events) {
			err = errors.New("the history ended without the run's close")
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				f.mu.Lock()
				h.gone = true
				f.mu.Unlock()
				h.poke()
				return
			}
			f.logger.Debug("history long poll of a followed run broke off", "workflow_id", h.id, "error", err)
			// Read again from the first event: an event read twice only reads the feed
			// again, and the listeners' cursors keep them from hearing anything twice.
			token = nil
			wait = min(max(2*wait, 500*time.Millisecond), 15*time.Second)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		wait = 0
		changed := false
		for _, e := range events {
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				changed = true
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
				changed, next = true, nil // on to the next run, from its first event
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
				enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
				enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
				f.mu.Lock()
				h.closing = e
				f.mu.Unlock()
				h.poke()
				return
			}
		}
		if changed {
			h.poke()
		}
		token = next
	}
}

// endsRun reports whether the events end with the run's close or continue-as-new.
func endsRun(events []*historypb.HistoryEvent) bool {
	if len(events) == 0 {
		return false
	}
	switch events[len(events)-1].GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return true
	}
	return false
}

// endOf is how a run ended when its last answer (a, or err when it could not be read)
// does not say it: from its close event, or gone when the run does not exist.
func endOf(closing *historypb.HistoryEvent, gone bool, a answer, err error) *workflows.Transition {
	if err == nil && a.feed.Status.Status.Terminal() {
		return nil // the record says it
	}
	if gone {
		return &workflows.Transition{Event: "not_found", Detail: "the run no longer exists in Temporal"}
	}
	end := &workflows.Transition{Status: workflows.StatusFailed, Step: a.feed.Status.CurrentStep, At: closing.GetEventTime().AsTime().UTC()}
	switch closing.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		end.Event, end.Detail = "terminated", "terminated in Temporal before it finished"
		if why := closing.GetWorkflowExecutionTerminatedEventAttributes().GetReason(); why != "" {
			end.Detail += ": " + why
		}
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		end.Event, end.Detail = "timed_out", "its run timeout passed in Temporal before it finished"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		end.Status, end.Event, end.Detail = workflows.StatusCancelled, "cancelled", "cancelled"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		end.Status, end.Event, end.Detail = workflows.StatusCompleted, "completed", "completed"
	default:
		end.Event, end.Detail = "failed", "failed"
		if msg := closing.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage(); msg != "" {
			end.Detail += ": " + msg
		}
	}
	if err != nil {
		end.Detail += " (its record could not be read: " + err.Error() + ")"
	}
	return end
}

// temporalFeed reads runs from Temporal for the hubs.
type temporalFeed struct{ s *Server }

func (t temporalFeed) historyPage(ctx context.Context, id string, token []byte) ([]*historypb.HistoryEvent, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, historyLongPoll)
	defer cancel()
	resp, err := t.s.cfg.Client.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: t.s.cfg.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: id},
		WaitNewEvent: true, HistoryEventFilterType: enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT,
		NextPageToken: token, SkipArchival: true,
	})
	if err != nil {
		return nil, nil, err
	}
	events := resp.GetHistory().GetEvents()
	// A frontend configured to send raw history sends the events encoded.
	for _, blob := range resp.GetRawHistory() {
		var h historypb.History
		if blob.GetEncodingType() != enumspb.ENCODING_TYPE_PROTO3 || proto.Unmarshal(blob.GetData(), &h) != nil {
			return nil, nil, errors.New("a page of the run's history could not be decoded")
		}
		events = append(events, h.GetEvents()...)
	}
	return events, resp.GetNextPageToken(), nil
}

func (t temporalFeed) feed(ctx context.Context, id string, since int64) (workflows.Feed, error) {
	return t.s.app.Feed(ctx, id, since)
}

func (t temporalFeed) status(ctx context.Context, id string) (workflows.StatusView, error) {
	return t.s.app.Status(ctx, id)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
