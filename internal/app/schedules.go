package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/workflows"
)

// Schedules are Temporal Schedules that start runs of a process. Each action is an
// ordinary start of the process (its type, task queue, search attributes and a
// ProcessInput) so a scheduled run is a run like any other. A Temporal Schedule starts its
// workflow with a fixed input, and a run carries the definition it starts with; so that a
// scheduled run takes the definition current when it starts, Reconcile rewrites the
// action whenever the loaded definition changes (on every reload, within the reload
// interval, 2s by default).

// ScheduleIDPrefix starts the id of every Temporal Schedule Flowgate owns.
const ScheduleIDPrefix = "flowgate-"

// The memo of a Flowgate schedule, shown in the web UI's Schedules page.
const (
	MemoScheduleProcess   = "flowgate_process"
	MemoScheduleName      = "flowgate_schedule"
	MemoScheduleRequester = "flowgate_requested_by"
	// MemoScheduleOrigin is ScheduleDeclared or ScheduleAdHoc.
	MemoScheduleOrigin = "flowgate_origin"
	// memoScheduleDef holds an ad hoc schedule's declaration, from which its action is
	// made again when the definition changes.
	memoScheduleDef = "flowgate_schedule_def"
	// memoScheduleDigest, in the action's memo, is a digest of what the action and spec
	// were made from: Reconcile updates a schedule whose digest differs.
	memoScheduleDigest = "flowgate_schedule_digest"
	// memoSchedulePaused, in the action's memo, is the declared paused: a change of it
	// pauses or unpauses; otherwise the schedule keeps the state an operator gave it.
	memoSchedulePaused = "flowgate_schedule_paused"
	// memoScheduleCron, in the action's memo, is the cron as declared: Temporal turns a
	// cron into calendar rules and describes it back without it.
	memoScheduleCron = "flowgate_schedule_cron"
)

// Where a schedule comes from.
const (
	ScheduleDeclared = "definition"
	ScheduleAdHoc    = "create_schedule"
)

// ScheduleID is the Temporal Schedule id of a process's schedule. Process and schedule
// names hold no '-', so the id names one pair.
func ScheduleID(process, name string) string { return ScheduleIDPrefix + process + "-" + name }

var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"":                enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"skip":            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer_one":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer_all":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	"cancel_other":    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate_other": enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	"allow_all":       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

// wanted is a schedule as it should be in Temporal.
type wanted struct {
	opts   client.ScheduleOptions
	action *client.ScheduleWorkflowAction
	digest string
	paused bool
	origin string
}

// scheduleFor makes the Temporal Schedule of def for the process as loaded now: the
// start it makes is prepared (and so checked) as Start prepares one.
func (s *Service) scheduleFor(p *processes.Process, def workflows.ScheduleDef, origin string) (wanted, error) {
	if probs := def.Problems(); len(probs) > 0 {
		return wanted{}, &ArgError{probs[0].Field, probs[0].Problem, probs[0].Allowed}
	}
	if prob := workflows.CheckTimezone(def.Timezone); prob != nil {
		return wanted{}, &ArgError{prob.Field, prob.Problem, prob.Allowed}
	}
	params, err := json.Marshal(def.Params)
	if err != nil || def.Params == nil {
		params = []byte("{}")
	}
	requester := def.ScheduleRequester()
	req := workflows.Request{RequestedBy: requester, AllowSelfApproval: !s.cfg.SeparationOfDuties, RequireSignedDecisions: s.cfg.DecisionKeys != nil}
	start, err := PrepareProcess(p.Source, p.Params, params, req)
	if err != nil {
		return wanted{}, &RefusedError{"params: " + err.Error()}
	}
	if err := s.checkServiceParams(start.Input); err != nil {
		return wanted{}, err
	}
	raw, _ := json.Marshal(struct {
		Def         workflows.ScheduleDef `json:"def"`
		Fingerprint string                `json:"fingerprint"`
		Origin      string                `json:"origin"`
	}{def, start.Fingerprint(), origin})
	sum := sha256.Sum256(raw)
	digest := hex.EncodeToString(sum[:])

	spec := client.ScheduleSpec{TimeZoneName: def.Timezone}
	if def.Cron != "" {
		spec.CronExpressions = []string{def.Cron}
	} else {
		every, _ := time.ParseDuration(def.Every)
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: every}}
	}
	spec.Jitter, _ = time.ParseDuration(def.Jitter)
	catchup, _ := time.ParseDuration(def.CatchupWindow)
	opts := start.Options("")
	action := &client.ScheduleWorkflowAction{
		// Temporal appends the time each run was due to this id: one id per run.
		ID:                    p.Definition.Name + "-" + def.Name,
		Workflow:              p.Definition.Name,
		Args:                  []any{start.Input},
		TaskQueue:             workflows.TaskQueue,
		StaticSummary:         start.Summary,
		TypedSearchAttributes: opts.TypedSearchAttributes,
		Memo:                  map[string]any{memoScheduleDigest: digest, memoSchedulePaused: def.Paused, memoScheduleCron: def.Cron},
	}
	memo := map[string]any{MemoScheduleProcess: p.Definition.Name, MemoScheduleName: def.Name, MemoScheduleRequester: requester, MemoScheduleOrigin: origin}
	if origin == ScheduleAdHoc {
		memo[memoScheduleDef] = def
	}
	return wanted{
		opts: client.ScheduleOptions{
			ID: ScheduleID(p.Definition.Name, def.Name), Spec: spec, Action: action,
			Overlap: overlapPolicies[def.Overlap], CatchupWindow: catchup, Paused: def.Paused, Memo: memo,
			Note: fmt.Sprintf("%s of %s (%s)", map[string]string{ScheduleDeclared: "declared in the definition", ScheduleAdHoc: "created with create_schedule"}[origin], p.Definition.Name, p.Path),
		},
		action: action, digest: digest, paused: def.Paused, origin: origin,
	}, nil
}

// Reconcile makes Flowgate's Temporal Schedules match the loaded definitions: it creates
// each declared schedule that is missing, updates one whose declaration, parameters,
// requester or definition changed (so the runs it starts carry the definition loaded
// now), deletes the declared schedules no loaded definition declares any more, and
// pauses an ad hoc schedule whose process is no longer loaded. Schedule ids are fixed by
// process and name, so a reload, a restart or a second server never makes a duplicate.
func (s *Service) Reconcile(ctx context.Context) error {
	var problems []error
	want := map[string]bool{}
	for _, p := range s.cfg.Processes.List() {
		for _, def := range p.Definition.Schedules {
			w, err := s.scheduleFor(p, def, ScheduleDeclared)
			if err == nil {
				want[w.opts.ID] = true
				err = s.apply(ctx, w)
			}
			if err != nil {
				problems = append(problems, fmt.Errorf("schedule %s of %s: %w", def.Name, p.Definition.Name, err))
			}
		}
	}
	it, err := s.cfg.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return errors.Join(append(problems, fmt.Errorf("list schedules: %w", err))...)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			problems = append(problems, fmt.Errorf("list schedules: %w", err))
			break
		}
		if !strings.HasPrefix(e.ID, ScheduleIDPrefix) || want[e.ID] {
			continue
		}
		memo := e.Memo.GetFields()
		process := DecodeKeyword(memo[MemoScheduleProcess])
		switch DecodeKeyword(memo[MemoScheduleOrigin]) {
		case ScheduleDeclared:
			// Its definition no longer declares it (or was deleted).
			if err := s.cfg.Client.ScheduleClient().GetHandle(ctx, e.ID).Delete(ctx); err != nil && !isNotFound(err) {
				problems = append(problems, fmt.Errorf("delete schedule %s: %w", e.ID, err))
				continue
			}
			s.cfg.Logger.Info("schedule deleted: its definition no longer declares it", "schedule_id", e.ID, "process", process)
		case ScheduleAdHoc:
			if err := s.refreshAdHoc(ctx, e.ID, process, memo[memoScheduleDef]); err != nil {
				problems = append(problems, fmt.Errorf("schedule %s: %w", e.ID, err))
			}
		}
	}
	return errors.Join(problems...)
}

// refreshAdHoc brings an ad hoc schedule's action to the process loaded now, or pauses
// the schedule when its process is no longer loaded (deleting it would lose what an
// operator made; unpausing it once the process is back resumes it).
func (s *Service) refreshAdHoc(ctx context.Context, id, process string, rawDef *commonpb.Payload) error {
	p, ok := s.cfg.Processes.Get(process)
	if !ok {
		h := s.cfg.Client.ScheduleClient().GetHandle(ctx, id)
		d, err := h.Describe(ctx)
		if err != nil || d.Schedule.State.Paused {
			return err
		}
		return h.Pause(ctx, client.SchedulePauseOptions{Note: "paused by Flowgate: process " + process + " is no longer loaded"})
	}
	var def workflows.ScheduleDef
	if err := converter.GetDefaultDataConverter().FromPayload(rawDef, &def); err != nil {
		return fmt.Errorf("its memo holds no declaration: %w", err)
	}
	w, err := s.scheduleFor(p, def, ScheduleAdHoc)
	if err != nil {
		return err
	}
	return s.apply(ctx, w)
}

// apply creates the schedule, or updates it when its digest differs. The paused state is
// an operator's to change: it changes only when the declared paused does.
func (s *Service) apply(ctx context.Context, w wanted) error {
	sc := s.cfg.Client.ScheduleClient()
	h := sc.GetHandle(ctx, w.opts.ID)
	d, err := h.Describe(ctx)
	if isNotFound(err) {
		_, err = sc.Create(ctx, w.opts)
		if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			return nil // another server made it a moment ago
		}
		if err == nil {
			s.cfg.Logger.Info("schedule created", "schedule_id", w.opts.ID)
		}
		return err
	}
	if err != nil {
		return err
	}
	if DecodeKeyword(d.Memo.GetFields()[MemoScheduleRequester]) != w.opts.Memo[MemoScheduleRequester] ||
		DecodeKeyword(d.Memo.GetFields()[MemoScheduleOrigin]) != w.origin {
		// The memo cannot be updated: make the schedule again so the UI shows who requests.
		if err := h.Delete(ctx); err != nil && !isNotFound(err) {
			return err
		}
		_, err = sc.Create(ctx, w.opts)
		return err
	}
	var wasPaused *bool
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		if p, ok := a.Memo[memoScheduleDigest].(*commonpb.Payload); ok && DecodeKeyword(p) == w.digest {
			return nil
		}
		if p, ok := a.Memo[memoSchedulePaused].(*commonpb.Payload); ok {
			var b bool
			if converter.GetDefaultDataConverter().FromPayload(p, &b) == nil {
				wasPaused = &b
			}
		}
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		sched := in.Description.Schedule
		sched.Action = w.action
		sched.Spec = &w.opts.Spec
		sched.Policy = &client.SchedulePolicies{Overlap: w.opts.Overlap, CatchupWindow: w.opts.CatchupWindow}
		if sched.State == nil {
			sched.State = &client.ScheduleState{}
		}
		if wasPaused == nil || *wasPaused != w.paused {
			sched.State.Paused = w.paused
			sched.State.Note = fmt.Sprintf("paused: %t, as the definition now says", w.paused)
		}
		return &client.ScheduleUpdate{Schedule: &sched}, nil
	}})
	if err == nil {
		s.cfg.Logger.Info("schedule updated to the definition loaded now", "schedule_id", w.opts.ID)
	}
	return err
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// ScheduleView is one of Flowgate's schedules as list_schedules shows it.
type ScheduleView struct {
	ScheduleID  string `json:"schedule_id"`
	Process     string `json:"process"`
	Name        string `json:"name"`
	Origin      string `json:"origin"`
	RequestedBy string `json:"requested_by"`
	// Spec says when, in words: "cron 0 7 * * MON (Europe/Paris)" or "every 2s".
	Spec    string      `json:"spec"`
	Overlap string      `json:"overlap"`
	Paused  bool        `json:"paused"`
	Note    string      `json:"note,omitempty"`
	Next    []time.Time `json:"next_runs,omitempty"`
	// Recent are the workflow ids of the latest runs it started, oldest first.
	Recent  []string `json:"recent_runs,omitempty"`
	Actions int      `json:"runs_started"`
	// Definition is the definition its next run carries: the one loaded when the schedule
	// was last reconciled.
	Definition *workflows.ProcessRef `json:"definition,omitempty"`
}

// ListSchedules lists Flowgate's schedules, as Temporal holds them now. It needs admin.
func (s *Service) ListSchedules(ctx context.Context, c Caller) ([]ScheduleView, error) {
	if !c.Has(ScopeAdmin) {
		return nil, &ScopeError{Caller: c.Name, Need: ScopeAdmin, Doing: "listing schedules"}
	}
	it, err := s.cfg.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, err
	}
	out := []ScheduleView{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(e.ID, ScheduleIDPrefix) {
			continue
		}
		// The list is eventually consistent; the description says how it stands now.
		d, err := s.cfg.Client.ScheduleClient().GetHandle(ctx, e.ID).Describe(ctx)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, scheduleView(e.ID, d))
	}
	slices.SortFunc(out, func(a, b ScheduleView) int { return strings.Compare(a.ScheduleID, b.ScheduleID) })
	return out, nil
}

func scheduleView(id string, d *client.ScheduleDescription) ScheduleView {
	memo := d.Memo.GetFields()
	v := ScheduleView{ScheduleID: id, Process: DecodeKeyword(memo[MemoScheduleProcess]), Name: DecodeKeyword(memo[MemoScheduleName]),
		Origin: DecodeKeyword(memo[MemoScheduleOrigin]), RequestedBy: DecodeKeyword(memo[MemoScheduleRequester]),
		Next: d.Info.NextActionTimes, Actions: d.Info.NumActions}
	if st := d.Schedule.State; st != nil {
		v.Paused, v.Note = st.Paused, st.Note
	}
	if p := d.Schedule.Policy; p != nil {
		v.Overlap = strings.ToLower(strings.TrimPrefix(p.Overlap.String(), "SCHEDULE_OVERLAP_POLICY_"))
	}
	action, _ := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if sp := d.Schedule.Spec; sp != nil {
		cron := ""
		if action != nil {
			p, _ := action.Memo[memoScheduleCron].(*commonpb.Payload)
			cron = DecodeKeyword(p)
		}
		var parts []string
		for _, iv := range sp.Intervals {
			parts = append(parts, "every "+iv.Every.String())
		}
		for _, cal := range sp.Calendars {
			if cal.Comment != "" {
				parts = append(parts, cal.Comment)
			}
		}
		if len(parts) == 0 && cron != "" {
			parts = append(parts, "cron "+cron)
		}
		if len(parts) == 0 && len(sp.Calendars) > 0 {
			// A schedule made before its cron was kept in the memo.
			parts = append(parts, fmt.Sprintf("%d calendar rules", len(sp.Calendars)))
		}
		if sp.TimeZoneName != "" {
			parts = append(parts, "("+sp.TimeZoneName+")")
		}
		v.Spec = strings.Join(parts, " ")
	}
	if a := action; a != nil && len(a.Args) == 1 {
		var in workflows.ProcessInput
		if p, ok := a.Args[0].(*commonpb.Payload); ok && converter.GetDefaultDataConverter().FromPayload(p, &in) == nil {
			v.Definition = &workflows.ProcessRef{Name: in.Process.Name, Version: in.Process.Version, Hash: in.Process.Hash}
		}
	}
	for _, a := range d.Info.RecentActions {
		if a.StartWorkflowResult != nil {
			v.Recent = append(v.Recent, a.StartWorkflowResult.WorkflowID)
		}
	}
	return v
}

// ScheduleRequest asks for an ad hoc schedule of a loaded process.
type ScheduleRequest struct {
	Process  string
	Schedule workflows.ScheduleDef
	Reason   string
}

// checkReason refuses an empty or overlong reason.
func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > MaxCommentLength {
		return "", &ArgError{"reason", "is empty or too long", fmt.Sprintf("1 to %d characters saying why", MaxCommentLength)}
	}
	return reason, nil
}

// CreateSchedule makes an ad hoc schedule of a loaded process, requested by the caller
// unless Schedule.As names another identity. It needs admin; Reconcile keeps its action
// on the definition loaded now, as it does for declared schedules.
func (s *Service) CreateSchedule(ctx context.Context, c Caller, r ScheduleRequest) (ScheduleView, error) {
	if !c.Has(ScopeAdmin) {
		return ScheduleView{}, &ScopeError{Caller: c.Name, Need: ScopeAdmin, Doing: "creating a schedule"}
	}
	reason, err := checkReason(r.Reason)
	if err != nil {
		return ScheduleView{}, err
	}
	p, ok := s.cfg.Processes.Get(r.Process)
	if !ok {
		return ScheduleView{}, &ArgError{"process", fmt.Sprintf("%q is not a loaded process definition", r.Process), strings.Join(s.cfg.Processes.Names(), " | ")}
	}
	def := r.Schedule
	if def.As == "" {
		def.As = c.Name
	}
	for _, d := range p.Definition.Schedules {
		if d.Name == def.Name {
			return ScheduleView{}, &ArgError{"name", fmt.Sprintf("%q is a schedule %s declares in %s", def.Name, p.Definition.Name, p.Path), "another name"}
		}
	}
	w, err := s.scheduleFor(p, def, ScheduleAdHoc)
	if err != nil {
		return ScheduleView{}, err
	}
	w.opts.Note = fmt.Sprintf("created by %s: %s", c.Name, reason)
	h, err := s.cfg.Client.ScheduleClient().Create(ctx, w.opts)
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return ScheduleView{}, &RefusedError{fmt.Sprintf("schedule %s exists already; nothing was created. delete_schedule it first, or pick another name", w.opts.ID)}
	}
	if err != nil {
		return ScheduleView{}, err
	}
	s.cfg.Logger.Info("schedule created", "schedule_id", w.opts.ID, "by", c.Name, "reason", reason)
	d, err := h.Describe(ctx)
	if err != nil {
		return ScheduleView{ScheduleID: w.opts.ID, Process: r.Process, Name: def.Name, Origin: ScheduleAdHoc, RequestedBy: def.As}, nil
	}
	return scheduleView(w.opts.ID, d), nil
}

// ScheduleOp is what PauseSchedule and its kin do.
type ScheduleOp string

// The operations on a schedule.
const (
	SchedulePause   ScheduleOp = "pause"
	ScheduleUnpause ScheduleOp = "unpause"
	ScheduleTrigger ScheduleOp = "trigger"
	ScheduleDelete  ScheduleOp = "delete"
)

// ChangeSchedule pauses, unpauses, triggers (starts one run now) or deletes one of
// Flowgate's schedules, as the caller, who needs admin; the reason becomes the schedule's
// note. A schedule a loaded definition declares cannot be deleted here: the next reload
// would make it again.
func (s *Service) ChangeSchedule(ctx context.Context, c Caller, op ScheduleOp, id, reason string) (ScheduleView, error) {
	if !c.Has(ScopeAdmin) {
		return ScheduleView{}, &ScopeError{Caller: c.Name, Need: ScopeAdmin, Doing: string(op) + " a schedule"}
	}
	if err := CheckID("schedule_id", id); err != nil {
		return ScheduleView{}, err
	}
	if !strings.HasPrefix(id, ScheduleIDPrefix) {
		return ScheduleView{}, &ArgError{"schedule_id", fmt.Sprintf("%q is not one of Flowgate's schedules", id), "an id list_schedules returns, flowgate-PROCESS-NAME"}
	}
	reason, err := checkReason(reason)
	if err != nil {
		return ScheduleView{}, err
	}
	h := s.cfg.Client.ScheduleClient().GetHandle(ctx, id)
	d, err := h.Describe(ctx)
	if isNotFound(err) {
		return ScheduleView{}, &ArgError{"schedule_id", fmt.Sprintf("no schedule %s", id), "an id list_schedules returns"}
	}
	if err != nil {
		return ScheduleView{}, err
	}
	note := fmt.Sprintf("%s by %s: %s", op, c.Name, reason)
	switch op {
	case SchedulePause:
		err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
	case ScheduleUnpause:
		err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
	case ScheduleTrigger:
		// A trigger takes no note of its own: the schedule's note records it.
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sched := in.Description.Schedule
			if sched.State == nil {
				sched.State = &client.ScheduleState{}
			}
			sched.State.Note = note
			return &client.ScheduleUpdate{Schedule: &sched}, nil
		}})
		if err == nil {
			// A trigger is the caller's request: it runs even when a run is still going.
			err = h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL})
		}
	case ScheduleDelete:
		memo := d.Memo.GetFields()
		process := DecodeKeyword(memo[MemoScheduleProcess])
		if p, ok := s.cfg.Processes.Get(process); ok && DecodeKeyword(memo[MemoScheduleOrigin]) == ScheduleDeclared {
			return scheduleView(id, d), &RefusedError{fmt.Sprintf("schedule %s is declared in %s, and the next reload would make it again; nothing was deleted. Remove it from the definition, or pause_schedule it", id, p.Path)}
		}
		err = h.Delete(ctx)
		if err == nil {
			s.cfg.Logger.Info("schedule deleted", "schedule_id", id, "by", c.Name, "reason", reason)
			v := scheduleView(id, d)
			v.Note = note
			return v, nil
		}
	default:
		return ScheduleView{}, &ArgError{"operation", fmt.Sprintf("%q", op), "pause, unpause, trigger, delete"}
	}
	if err != nil {
		return ScheduleView{}, err
	}
	s.cfg.Logger.Info("schedule changed", "schedule_id", id, "operation", string(op), "by", c.Name, "reason", reason)
	if d, err = h.Describe(ctx); err != nil {
		return ScheduleView{ScheduleID: id}, nil
	}
	return scheduleView(id, d), nil
}

// ScheduleResync is how often KeepSchedules reconciles without a reload, to repair a
// schedule changed or deleted behind Flowgate's back; after a failure it tries again
// after ScheduleRetry.
const (
	ScheduleResync = 5 * time.Minute
	ScheduleRetry  = 5 * time.Second
)

// KeepSchedules reconciles now, after every reload that changed the loaded definitions,
// and every ScheduleResync, until ctx ends. Call it once per server that loads the
// definitions; every such server must load the same ones, or each would delete the
// schedules only the others declare.
func (s *Service) KeepSchedules(ctx context.Context) {
	poke := make(chan struct{}, 1)
	s.cfg.Processes.OnChange(func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	})
	go func() {
		wait := time.Duration(0)
		for {
			select {
			case <-ctx.Done():
				return
			case <-poke:
			case <-time.After(wait):
			}
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := s.Reconcile(rctx)
			cancel()
			wait = ScheduleResync
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("schedules do not match the definitions yet; trying again", "error", err, "retry_in", ScheduleRetry)
				wait = ScheduleRetry
			}
		}
	}()
}
