package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// notifier is the receiver of the notification activity.
var notifier *activities.Notifier

// changeNotify gates telling people of gates and of the end of runs they were asked
// about; runs started before it notify nobody, as they did.
const changeNotify = "notify-approvers"

// notifyGate tells the configured channels that a gate waits (event gate_opened or
// reminder). It runs beside the gate, retried with backoff until the gate's deadline, so
// a channel that is down never holds the gate; the record says where it went, or that it
// failed.
func (r *runner) notifyGate(ctx workflow.Context, event string, g *gate) {
	if !r.Notifies {
		return
	}
	n := r.notice(event)
	n.RunID, n.Step, n.Deadline = r.state.FirstRunID, g.step, g.deadline
	if r.toldBefore(event, g) {
		// Another delivery than the first of its kind at this gate: its id says when.
		n.At = workflow.Now(ctx).UTC()
	}
	n.Who, n.SelfApproval = "anyone allowed to approve", r.req.AllowSelfApproval
	if g.kind == gateInput {
		s := r.step(g.step)
		n.Who, n.Failure, n.Attempt = "anyone who may continue or reject it", s.Error, s.Attempts
	}
	if g.kind == gateChanges && g.asked != nil {
		n.Who = "the requester, " + CleanText(r.req.RequestedBy)
		n.AskedBy, n.Asked, n.Round = CleanText(g.asked.By), CleanText(g.asked.Comment), g.round
		n.Approvers = nil
	}
	if g.policy != nil && g.kind != gateChanges {
		n.Who, n.SelfApproval = CleanText(g.policy.who()), g.policy.SelfApproval
		for _, a := range g.policy.Approvers {
			n.Approvers = append(n.Approvers, CleanText(a))
		}
		n.Scope = CleanText(g.policy.Scope)
	}
	until := g.deadline.Sub(workflow.Now(ctx))
	r.notifying++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { r.notifying-- }()
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			HeartbeatTimeout:       activities.HeartbeatTimeout,
			ScheduleToCloseTimeout: max(until, time.Minute),
			Summary:                "notify: " + strings.ReplaceAll(event, "_", " ") + " at " + g.step,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
				NonRetryableErrorTypes: defaultRetry.NonRetryableErrorTypes},
		})
		var res activities.NoticeResult
		if err := workflow.ExecuteActivity(actx, notifier.Notify, n).Get(ctx, &res); err != nil {
			if ctx.Err() == nil {
				r.log(ctx, "notification_failed", g.step, "", errorMessage(err))
			}
			return
		}
		// What remind needs to know: whether anyone can be told, and when people were.
		r.noChannels = res.Channels == 0
		if len(res.Delivered) > 0 {
			g.toldAt = workflow.Now(ctx).UTC()
		}
		if res.Channels > 0 {
			r.told = true
			r.log(ctx, "notified", g.step, "", event+" sent to "+strings.Join(res.Delivered, ", "))
		}
	})
}

// changeEndAfterNotices gates the wait for notices in flight at a run's end; runs that
// ended before it replay closing without it.
const changeEndAfterNotices = "end-after-notices-in-flight"

// noticeEndWait is how long a run's end waits for a gate's notice still on its way.
const noticeEndWait = 10 * time.Second

// notifyEnd tells the channels that a run they were told of ended. It waits briefly: the
// run closes after it, sent or not. Like every notification it heartbeats while it waits,
// so a worker lost while it runs costs the heartbeat timeout, not the attempt's 20 s.
func (r *runner) notifyEnd(ctx workflow.Context) {
	if !r.Notifies {
		return
	}
	// A gate's notice may still be on its way when the run ends: an approve that came
	// at once, before the notice was delivered. Before, the run closed without it, so
	// the notice was dropped or, if delivered, nobody heard the run ended. Now the end
	// waits for it, briefly: a channel that is down costs the run noticeEndWait at most.
	if r.notifying > 0 && workflow.GetVersion(ctx, changeEndAfterNotices, workflow.DefaultVersion, 1) == 1 {
		_, _ = workflow.AwaitWithTimeout(ctx, noticeEndWait, func() bool { return r.notifying == 0 })
	}
	if !r.told {
		return
	}
	n := r.notice(activities.EventRunEnded)
	n.Status, n.Step = string(r.state.Status), r.state.CurrentStep
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    20 * time.Second,
		HeartbeatTimeout:       activities.HeartbeatTimeout,
		ScheduleToCloseTimeout: time.Minute,
		Summary:                "notify: run ended " + n.Status,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	})
	var res activities.NoticeResult
	if err := workflow.ExecuteActivity(actx, notifier.Notify, n).Get(ctx, &res); err != nil {
		r.log(ctx, "notification_failed", "", "", errorMessage(err))
		return
	}
	r.log(ctx, "notified", "", "", "run_ended sent to "+strings.Join(res.Delivered, ", "))
}

// notice is what the channels are told of the run: its texts made safe to show
// (CleanText), its parameters with every control or bidirectional character written as a
// JSON escape (the same values, shown as \u202e instead of turning the text around).
func (r *runner) notice(event string) activities.Notice {
	return activities.Notice{Event: event, WorkflowID: r.state.WorkflowID, Type: string(r.state.Type),
		Summary: CleanText(r.summary), RequestedBy: CleanText(r.state.RequestedBy), Params: escapeJSONText(r.state.Parameters)}
}

// toldBefore tells whether people were told of event at g before: a gate opened again
// (escalated, reassigned, a new round after a revision) or a reminder after the first.
// The first notice of each keeps the delivery id it always had.
func (r *runner) toldBefore(event string, g *gate) bool {
	switch event {
	case activities.EventGateOpened:
		if g.round > 0 || (g.policy != nil && g.policy.Escalated) {
			return true
		}
		for _, e := range r.state.History {
			if e.Step == g.step && e.Event == "reassigned" {
				return true
			}
		}
	case activities.EventReminder:
		n := 0
		for _, e := range r.state.History {
			if e.Step == g.step && e.Event == "reminder" {
				n++
			}
		}
		return n > 1
	}
	return false
}
