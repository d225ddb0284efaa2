package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// DefaultContinueAsNewAfter is the history length, in events, past which a run waiting at
// an approval gate goes on as a new run of the same workflow id (or sooner, when Temporal
// suggests it). A gate's own events are few (a reminder, an escalation); what grows a
// waiting run's history is signals, ignored or not. Temporal warns at 10 240 events and
// ends a run at 51 200.
const DefaultContinueAsNewAfter = 2000

// MaxRecordedIgnoredSignals is how many ignored signals the record lists one by one; past
// it a run only counts them (State.IgnoredSignals), so sending signals to a waiting run
// cannot make its record heavy.
const MaxRecordedIgnoredSignals = 50

// changeContinueAsNewAtGate gates continuing as new at an approval gate whose history
// passed its bound; runs that reached a gate before it wait in one run, as they did.
const changeContinueAsNewAtGate = "continue-as-new-at-gate"

// Resume is what a run that continued as new at an approval gate carries into the next
// run of its workflow id: the record so far and where the definition stands, so the next
// run waits at the same gate, under the same policy, until the same deadline.
type Resume struct {
	// State is the record, whose history says that the run continued and why.
	State State `json:"state"`
	// Step is the index of the gate in the definition's steps.
	Step int `json:"step"`
	// Outputs are the steps' outputs so far, for the templates of later steps.
	Outputs json.RawMessage `json:"outputs"`
	Gate    GateResume      `json:"gate"`
	// The behaviours the first run of the id chose, kept so the run behaves the same to
	// its end.
	behaviours
	Told       bool     `json:"told,omitempty"`
	NoChannels bool     `json:"no_channels,omitempty"`
	UsedNonces []string `json:"used_nonces,omitempty"`
	// Callbacks are the nonces of the callback URLs made so far, by step.
	Callbacks map[string]activities.CallbackOutput `json:"callbacks,omitempty"`
	// Runs counts the runs of the workflow id so far (2 for the first continued one).
	Runs int `json:"runs"`
}

// GateResume is a gate in the middle of its wait.
type GateResume struct {
	// Kind is the gate's kind: approval (also when empty, as runs before input gates
	// continued wrote it), input (a failed step waiting for continue or reject), changes,
	// or event (a wait for an event, until Deadline; Wait is its whole wait).
	Kind     gateKind  `json:"kind,omitempty"`
	Deadline time.Time `json:"deadline"`
	// Wait is the gate's whole wait, for the record when it times out; Remind is how long
	// before the deadline approvers are reminded (a reminder already sent is not sent
	// again: by then less than Remind is left).
	Wait   time.Duration  `json:"wait"`
	Remind time.Duration  `json:"remind,omitempty"`
	Policy approvalPolicy `json:"policy"`
	// ToldAt is when people were last told of the gate, for remind's interval.
	ToldAt       time.Time `json:"told_at,omitzero"`
	SelfApproval bool      `json:"self_approval,omitempty"`
	// Round counts the requests for changes so far; Asked, at a changes gate (Kind
	// changes), is the last.
	Round int            `json:"round,omitempty"`
	Asked *ChangeRequest `json:"asked,omitempty"`
}

// errHistoryFull ends a gate's wait when the run's history passed its bound.
var errHistoryFull = errors.New("the run's history passed its bound")

// continueAt is how a run leaves through continue-as-new, waiting at a gate.
type continueAt struct{ resume Resume }

func (c *continueAt) Error() string { return "continue as new at " + c.resume.State.CurrentStep }

// historyFull reports whether the run's history passed its bound, on runs that may
// continue as new at a gate.
func (r *runner) historyFull(ctx workflow.Context) bool {
	if !r.continues {
		return false
	}
	info := workflow.GetInfo(ctx)
	limit := r.req.ContinueAsNewAfter
	if limit <= 0 {
		limit = DefaultContinueAsNewAfter
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= limit
}

// resumeAt is the resume of the run waiting at the gate of step i.
func (ip *interpreter) resumeAt(ctx workflow.Context, i int, g *gate, wait, remind time.Duration) (*continueAt, error) {
	r := ip.r
	outputs, err := json.Marshal(ip.outputs)
	if err != nil {
		return nil, err
	}
	runs := max(r.runs, 1) + 1
	r.log(ctx, "continued_as_new", g.step, "", fmt.Sprintf(
		"the run's history reached %d events waiting at %s: the workflow goes on as run %d of the same workflow id, with this record, the gate and its deadline %s",
		workflow.GetInfo(ctx).GetCurrentHistoryLength(), g.step, runs, g.deadline.Format(time.RFC3339)))
	nonces := make([]string, 0, len(r.usedNonces))
	for n := range r.usedNonces {
		nonces = append(nonces, n)
	}
	slices.Sort(nonces)
	gr := GateResume{Deadline: g.deadline, Wait: wait, Remind: remind, ToldAt: g.toldAt}
	if g.policy != nil {
		gr.Policy, gr.SelfApproval = *g.policy, g.policy.SelfApproval
	}
	if g.kind != gateApproval {
		gr.Kind = g.kind
	}
	gr.Round, gr.Asked = g.round, g.asked
	return &continueAt{Resume{
		State: r.state, Step: i, Outputs: outputs,
		Gate:       gr,
		behaviours: r.behaviours, Told: r.told, NoChannels: r.noChannels, UsedNonces: nonces, Callbacks: r.callbacks, Runs: runs,
	}}, nil
}

// resumeRunner rebuilds the runner of a run that continued as new: the record, the
// behaviours and the handlers, without a new "started" entry.
func resumeRunner(ctx workflow.Context, req Request, res Resume) (*runner, error) {
	if req.ApprovalTimeout <= 0 {
		req.ApprovalTimeout = DefaultApprovalTimeout
	}
	r := &runner{req: req, state: res.State, behaviours: res.behaviours, told: res.Told, noChannels: res.NoChannels, continues: true, runs: res.Runs,
		callbacks: res.Callbacks}
	if r.state.FirstRunID == "" { // a run that continued before runs knew it
		r.state.FirstRunID = firstRunID(ctx)
	}
	if r.state.Outputs == nil {
		r.state.Outputs = map[string]string{}
	}
	if len(res.UsedNonces) > 0 {
		r.usedNonces = map[string]bool{}
		for _, n := range res.UsedNonces {
			r.usedNonces[n] = true
		}
	}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	r.startFlusher(ctx, r.UpsertOncePerTask)
	return r, nil
}
