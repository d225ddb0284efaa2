package workflows_test

import (
	"slices"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// TestAQuorumGateStartsOneDeadlineTimer: the first approval of a gate that needs two does
// not start its deadline again, so the UI's timeline shows one deadline timer per gate;
// the reminder, likewise, is one timer, and it still fires once and is recorded.
func TestAQuorumGateStartsOneDeadlineTimer(t *testing.T) {
	for _, tc := range []struct {
		name string
		// replacements edit the refund example; second is when the second approval comes.
		replacements []string
		second       time.Duration
		want         []time.Duration
		reminders    int
	}{
		{"without a reminder", []string{"      reminder: 24h\n", ""}, 2 * time.Hour, []time.Duration{72 * time.Hour}, 0},
		{"with a reminder that fires between the approvals", nil, 50 * time.Hour, []time.Duration{48 * time.Hour, 72 * time.Hour}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			d, src := refundSource(t, tc.replacements...)
			var started []time.Duration
			cancelled := 0
			h.env.SetOnTimerScheduledListener(func(_ string, d time.Duration) { started = append(started, d) })
			h.env.SetOnTimerCanceledListener(func(string) { cancelled++ })
			var first, second *outcome
			h.at(time.Hour, func() {
				first = h.advance(decide(workflows.ActionApprove, "finance_approval", "bob", finance))
			})
			h.at(tc.second, func() {
				second = h.advance(decide(workflows.ActionApprove, "finance_approval", "carol", finance))
			})
			st, err := h.runProcess(d, src, `{"order_id": "ORD-01004", "amount_cents": 90000, "reason": "wrong monitor"}`)
			if err != nil {
				t.Fatal(err)
			}
			first.accepted(t)
			second.accepted(t)
			if st.Status != workflows.StatusCompleted || stepOf(st, "finance_approval").Actor != "bob, carol" {
				t.Fatalf("run %s, finance_approval %+v", st.Status, stepOf(st, "finance_approval"))
			}
			slices.Sort(started)
			if !slices.Equal(started, tc.want) {
				t.Errorf("timers started for %v, want %v: one per gate, not one per approval", started, tc.want)
			}
			// The deadline is cancelled when the quorum is met; a fired reminder is not.
			if cancelled != 1 {
				t.Errorf("%d timers cancelled, want 1 (the deadline, when the gate closed)", cancelled)
			}
			if got := len(st.Events("reminder")); got != tc.reminders {
				t.Errorf("%d reminders recorded, want %d", got, tc.reminders)
			}
		})
	}
}
