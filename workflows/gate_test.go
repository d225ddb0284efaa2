package workflows_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// TestRemindTellsTheApproversAgainAtMostHourly: the requester (or an approver) may ask a
// waiting gate to tell its people again; the gate keeps waiting, the record says who
// asked, and the channels get a reminder. Anyone else is refused, and so is a remind
// within RemindInterval of the last time people were told, so an agent cannot page
// approvers in a loop.
func TestRemindTellsTheApproversAgainAtMostHourly(t *testing.T) {
	h := newHarness(t)
	notices := h.tellOneChannel()
	d, src := refundSource(t)
	var early, stranger, asked, again *outcome
	h.at(30*time.Minute, func() {
		if w := h.status().Waiting; w == nil || !slices.Contains(w.Actions, workflows.ActionRemind) {
			t.Errorf("the gate offers %+v, want remind among its actions", w)
		}
		early = h.advance(decide(workflows.ActionRemind, "finance_approval", "alice"))
	})
	h.at(90*time.Minute, func() { stranger = h.advance(decide(workflows.ActionRemind, "finance_approval", "mallory")) })
	h.at(2*time.Hour, func() { asked = h.advance(decide(workflows.ActionRemind, "finance_approval", "alice")) })
	h.at(150*time.Minute, func() { again = h.advance(decide(workflows.ActionRemind, "finance_approval", "fin-ann", finance)) })
	h.at(3*time.Hour, func() {
		h.advance(decide(workflows.ActionApprove, "finance_approval", "fin-ann", finance))
		h.advance(decide(workflows.ActionApprove, "finance_approval", "fin-bob", finance))
	})
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s (%v), want completed", st.Status, err)
	}
	early.refused(t, "remind again from")
	stranger.refused(t, "mallory may not remind at step finance_approval")
	if v := asked.accepted(t); v.Status != workflows.StatusWaitingApproval || v.Waiting == nil || v.Waiting.Step != "finance_approval" {
		t.Errorf("after the remind the run is %s %+v, want still waiting at finance_approval", v.Status, v.Waiting)
	}
	again.refused(t, "remind again from")
	var reminded []workflows.Event
	for _, e := range st.Events("reminder") {
		if e.Actor != "" {
			reminded = append(reminded, e)
		}
	}
	if len(reminded) != 1 || reminded[0].Actor != "alice" || reminded[0].Step != "finance_approval" {
		t.Errorf("reminders asked for in the record %+v, want alice's only", reminded)
	}
	told := 0
	for _, n := range *notices {
		if n.Event == activities.EventReminder && n.Step == "finance_approval" {
			told++
		}
	}
	if told != 1 {
		t.Errorf("%d reminders told, want 1 (notices %+v)", told, *notices)
	}
}

// TestRemindIsNotOfferedWhenNobodyCanBeTold: where no notification channel is configured,
// a gate does not offer remind, and a remind is refused saying so, instead of being
// accepted (or refused for an hour) while it would reach nobody.
func TestRemindIsNotOfferedWhenNobodyCanBeTold(t *testing.T) {
	h := newHarness(t)
	h.tellNoChannel()
	d, src := refundSource(t)
	var asked *outcome
	h.at(2*time.Hour, func() {
		if w := h.status().Waiting; w == nil || slices.Contains(w.Actions, workflows.ActionRemind) {
			t.Errorf("the gate offers %+v with no channel configured; want no remind", w)
		}
		asked = h.advance(decide(workflows.ActionRemind, "finance_approval", "alice"))
	})
	h.at(3*time.Hour, func() { h.env.CancelWorkflow() })
	h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)
	asked.refused(t, "no notification channels configured (--notify)")
}

// TestARunEndsAfterTheGatesNoticeOnItsWay: an approve that comes before the gate's
// notice is delivered does not close the run under it. The run waits for the notice,
// then tells the same channels it ended. Before, the run closed at once: the notice was
// abandoned (or delivered while the run had already closed) and nobody heard the end.
func TestARunEndsAfterTheGatesNoticeOnItsWay(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var notices []string
	h.env.RegisterActivityWithOptions(func(_ context.Context, n activities.Notice) (activities.NoticeResult, error) {
		if n.Event == activities.EventGateOpened {
			time.Sleep(1500 * time.Millisecond) // a slow channel: the approve lands first
		}
		mu.Lock()
		notices = append(notices, n.Event)
		mu.Unlock()
		return activities.NoticeResult{Channels: 1, Delivered: []string{"test"}}, nil
	}, activity.RegisterOptions{Name: "Notify", DisableAlreadyRegisteredCheck: true})
	d, src := refundSource(t)
	h.at(400*time.Millisecond, func() { h.advance(decide(workflows.ActionApprove, "approval", "fin-ann", finance)) })
	st, err := h.runProcess(d, src, `{"order_id": "ORD-01003", "amount_cents": 2500, "reason": "damaged in transit"}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s (%v), want completed", st.Status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{activities.EventGateOpened, activities.EventRunEnded}; !slices.Equal(notices, want) {
		t.Errorf("channels were told %v, want %v", notices, want)
	}
}
