package workflows

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/structpb"
	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/activities"
)

// ProcessSource is the definition a run carries in its input: the file's content and its
// hash. A run interprets this copy to its end, so editing or deleting the file never
// changes a run in flight.
type ProcessSource struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Hash is the SHA-256 of Source, hex; a run refuses a source that does not match.
	Hash   string `json:"hash"`
	Source string `json:"source"`
}

// ProcessRef names the definition a run follows: name, version and content hash.
type ProcessRef struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Hash    string `json:"hash"`
}

// ProcessInput starts a run of a process definition.
type ProcessInput struct {
	Request
	Process ProcessSource `json:"process"`
	// Params are the run's parameters, validated against the definition's schema.
	Params json.RawMessage `json:"params"`
	// Resume is set on a run that continued as new at a gate: it goes on from there.
	Resume *Resume `json:"resume,omitempty"`
	// Interpreter is the InterpreterVersion of the server that prepared the run, so its
	// input (in the web UI, in a history kept for replay) says which interpreter it was
	// made for. The run's behaviours are chosen by the worker (changeBundle), not by it.
	Interpreter int `json:"interpreter,omitempty"`
}

// InterpreterVersion is this build's interpreter: the latest version of changeBundle,
// whose behaviours a run started now takes.
const InterpreterVersion = bundleVersion

// NewProcessSource returns the source a run of the definition in data carries.
func NewProcessSource(d Definition, data []byte) ProcessSource {
	sum := sha256.Sum256(data)
	return ProcessSource{Name: d.Name, Version: d.Version, Hash: hex.EncodeToString(sum[:]), Source: string(data)}
}

// Ref is the source's name, version and hash.
func (s ProcessSource) Ref() ProcessRef {
	return ProcessRef{Name: s.Name, Version: s.Version, Hash: s.Hash}
}

// decoded caches decoded definitions by hash: decoding is pure, so every run and every
// replay of the same source gets the same definition.
var decoded pureCache[string, Definition]

// Definition decodes the carried definition, after checking its hash.
func (s ProcessSource) Definition() (Definition, error) {
	sum := sha256.Sum256([]byte(s.Source))
	if hex.EncodeToString(sum[:]) != s.Hash {
		return Definition{}, fmt.Errorf("process %s: its source does not match its hash %s", s.Name, s.Hash)
	}
	if d, ok := decoded.get(s.Hash); ok {
		return d, nil
	}
	var d Definition
	dec := yaml.NewDecoder(strings.NewReader(s.Source))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return Definition{}, fmt.Errorf("process %s: %w", s.Name, err)
	}
	decoded.put(s.Hash, d)
	return d, nil
}

// Check checks the source as loading a definition file does (every rule but the list of
// configured services, which the worker does not know; the gateway refuses an unknown
// service when it is called). A run checks its definition when it starts, so one started
// by a raw Temporal client with a definition no server loaded fails with the problems
// named, instead of reaching a step the definition does not have.
func (s ProcessSource) Check() error {
	if err, ok := checked.get(s.Hash); ok {
		return err
	}
	_, err := ParseDefinition(s.Name+".yaml", []byte(s.Source), DefinitionRules{AnyService: true, AnyTimezone: true})
	checked.put(s.Hash, err)
	return err
}

// checked caches the outcome of Check by hash: checking is pure.
var checked pureCache[string, error]

// changeCheckAtStart checks a run's definition when it starts (ProcessSource.Check); runs
// started before it went without, and replay keeps them so.
const changeCheckAtStart = "check-definition-at-start"

// ProcessDynamic is the interpreter registered as Temporal's dynamic workflow: it runs
// every workflow type the worker has no code for, each a process definition carried in
// the run's input.
func ProcessDynamic(ctx workflow.Context, args converter.EncodedValues) (State, error) {
	var in ProcessInput
	if err := args.Get(&in); err != nil {
		return State{}, invalidStart(fmt.Errorf("workflow type %s is not a Flowgate process run: its input is not a process input: %w", workflow.GetInfo(ctx).WorkflowType.Name, err))
	}
	return Process(ctx, in)
}

// Process interprets a process definition: it runs the steps in order on the step engine
// (gates, deadlines, retries, compensation, queries and the advance update).
func Process(ctx workflow.Context, in ProcessInput) (State, error) {
	plan, err := in.Process.Plan()
	if err != nil {
		return State{}, invalidStart(err)
	}
	def := plan.Definition
	if t := workflow.GetInfo(ctx).WorkflowType.Name; t != def.Name {
		return State{}, invalidStart(fmt.Errorf("workflow type %s carries process %s; they must be the same", t, def.Name))
	}
	if in.Resume == nil && workflow.GetVersion(ctx, changeCheckAtStart, workflow.DefaultVersion, 1) == 1 {
		if err := in.Process.Check(); err != nil {
			return State{}, invalidStart(fmt.Errorf("process %s cannot run: %w", def.Name, err))
		}
	}
	params, err := decodeJSON(in.Params)
	if err != nil {
		return State{}, invalidStart(fmt.Errorf("parameters: %w", err))
	}
	pmap, _ := params.(map[string]any)
	if pmap == nil {
		pmap = map[string]any{}
	}
	steps := make([]Step, len(def.Steps))
	for i, s := range def.Steps {
		steps[i] = Step{Name: s.Name, Kind: StepActivity}
		switch {
		case s.Approval != nil:
			steps[i].Kind = StepApproval
		case s.Wait != nil:
			steps[i].Kind = StepWait
		case s.Fail != nil:
			steps[i].Kind = StepGuard
		}
	}
	var r *runner
	outputs := map[string]any{}
	if in.Resume != nil {
		if r, err = resumeRunner(ctx, in.Request, *in.Resume); err != nil {
			return State{}, invalidStart(fmt.Errorf("resume: %w", err))
		}
		if len(in.Resume.Outputs) > 0 {
			v, err := decodeJSON(in.Resume.Outputs)
			if err != nil {
				return State{}, invalidStart(fmt.Errorf("resume: step outputs: %w", err))
			}
			outputs, _ = v.(map[string]any)
		}
	} else {
		if r, err = newRunner(ctx, Kind(def.Name), in.Request, in.Params, steps); err != nil {
			return State{}, err
		}
		// The next run of a continued id keeps what this one requires.
		in.Request.RequireSignedDecisions = r.req.RequireSignedDecisions
		ref := in.Process.Ref()
		r.state.Process = &ref
		r.UnsignedHoldsScopes = r.Bundled || workflow.GetVersion(ctx, changeUnsignedHoldsScopes, workflow.DefaultVersion, 1) == 1
		r.CostLimited = workflow.GetVersion(ctx, changeCostAndActors, workflow.DefaultVersion, 1) == 1
		r.StrictActors = r.CostLimited
		r.RunKeys = workflow.GetVersion(ctx, changeRunKeys, workflow.DefaultVersion, 1) == 1
	}
	r.summary = renderSummary(def, in.Params, r.state.WorkflowID, in.RequestedBy, r.CostLimited)
	for _, name := range orEventSteps(def) {
		if r.eventSteps == nil {
			r.eventSteps = map[string]bool{}
		}
		r.eventSteps[name] = true
	}
	ip := &interpreter{r: r, plan: plan, params: pmap, outputs: outputs}
	if def.Details != "" {
		r.extraDetails, _ = ip.render(def.Details)
	}
	err = ip.run(ctx, in.Resume)
	var c *continueAt
	if errors.As(err, &c) {
		r.flush(ctx)
		if ip.revisedParams {
			in.Params = r.state.Parameters
		}
		in.Resume = &c.resume
		return State{}, workflow.NewContinueAsNewError(ctx, workflow.GetInfo(ctx).WorkflowType.Name, in)
	}
	return r.finish(ctx, err)
}

// changeUnsignedHoldsScopes gates letting an unsigned signal (accepted only on runs
// without authentication) pass a gate's scope; runs started before refuse it, as they did.
const changeUnsignedHoldsScopes = "unsigned-signal-holds-every-scope"

// changeCostAndActors gates two changes, with one marker on the runs started since:
//
//   - Every CEL expression (a when, a template) is evaluated under ConditionCostLimit. A
//     run started before evaluates without a limit, as it did: on replay, an expression
//     it once evaluated to a value (however long that took) must give the same value, not
//     stop at the limit. An expression that never finished wrote nothing to any history,
//     so the limit could only have helped those runs, but replay cannot tell the two apart.
//   - Actors are compared folded (actorKey): "fin-ann" and "Fin-Ann" are one approval of a
//     quorum, and a requester cannot approve under another casing of their name; an actor
//     name CheckName refuses is refused; a decision's comment is kept as CleanText makes
//     it. Decisions reach a run's history through signals and decide what it does next,
//     so runs started before keep comparing exactly.
//
// What only the record and notices show (CleanText over what is rendered, logged and
// told) applies to every run: it changes no command a run issues.
const changeCostAndActors = "cel-cost-limit-and-folded-actors"

// changeRunKeys names the run in what it tells backends: the idempotency keys of its
// calls and statements, and {{run.key}}, are its workflow id and its first run id, so a
// later run that reuses the workflow id (after retention) is not answered with this
// run's results. Runs started before keep the workflow id alone, as their backends
// remember it.
const changeRunKeys = "idempotency-keys-name-the-run"

// firstRunID is the run id of the first run of the workflow id. Temporal's test
// environment leaves FirstRunID empty: there the one run is the first.
func firstRunID(ctx workflow.Context) string {
	info := workflow.GetInfo(ctx)
	if info.FirstRunID != "" {
		return info.FirstRunID
	}
	return info.WorkflowExecution.RunID
}

// interpreter runs one definition on a runner.
type interpreter struct {
	r       *runner
	plan    *Plan
	params  map[string]any
	outputs map[string]any
	// revisedParams is set once a revision changed params: a run that continues as new
	// carries them.
	revisedParams bool
}

// run runs the definition's steps in order; on a resumed run, from its gate on (the
// steps before it are in the record, and their undos are registered again).
func (ip *interpreter) run(ctx workflow.Context, resume *Resume) error {
	for i, s := range ip.plan.steps {
		if resume != nil && i < resume.Step {
			if st := ip.r.step(s.Name); st != nil && st.Status == StepCompleted {
				ip.undoable(s.StepDef)
			}
			continue
		}
		if resume != nil && i == resume.Step {
			var err error
			switch {
			case resume.Gate.Kind == gateEvent && s.wait != nil && s.wait.event != nil:
				err = ip.waitEvent(ctx, i, s, &resume.Gate)
			case resume.Gate.Kind == gateInput && s.Approval == nil:
				err = ip.activity(ctx, i, s, &resume.Gate)
			case resume.Gate.Kind != gateInput && s.Approval != nil:
				err = ip.approval(ctx, i, s, &resume.Gate)
			default:
				return &stepFailure{step: s.Name, err: fmt.Errorf("resumed at step %d (%s), which has no %s gate", i, s.Name, cmp.Or(resume.Gate.Kind, gateApproval))}
			}
			if err != nil {
				return err
			}
			ip.setOutputs()
			ip.undoable(s.StepDef)
			continue
		}
		if err := ip.makeCallbacks(ctx, s); err != nil {
			return err
		}
		if s.When != "" {
			ok, err := ip.condition(s.When)
			if err != nil {
				return &stepFailure{step: s.Name, err: fmt.Errorf("condition %q: %w", s.When, err)}
			}
			if !ok {
				why := fmt.Sprintf("skipped: condition %s is false", s.When)
				if s.SkipReason != "" {
					if text, err := ip.render(s.SkipReason); err == nil {
						why = text
					}
				}
				ip.r.skip(ctx, s.Name, why)
				ip.setOutputs()
				continue
			}
		}
		var err error
		switch {
		case s.Approval != nil:
			err = ip.approval(ctx, i, s, nil)
		case s.Wait != nil && s.wait.event != nil:
			err = ip.waitEvent(ctx, i, s, nil)
		case s.Wait != nil:
			err = ip.wait(ctx, s)
		case s.Fail != nil:
			err = ip.guard(ctx, s)
		default:
			err = ip.activity(ctx, i, s, nil)
		}
		if err != nil {
			return err
		}
		ip.setOutputs()
		ip.undoable(s.StepDef)
	}
	return nil
}

// activity runs the step s (step i) that does something, on the step engine: a failure
// past its retries waits for input there (resumed, on a run that continued as new while
// it waited), and a run whose history fills while it waits continues as new.
func (ip *interpreter) activity(ctx workflow.Context, i int, s planStep, resumed *GateResume) error {
	err := ip.r.activityStepFrom(ctx, s.Name, s.OnFailure == "fail", func(ctx workflow.Context) (string, error) {
		text, err := ip.action(ctx, s)
		if err != nil || s.Result == "" {
			return text, err
		}
		if result, rerr := ip.render(s.Result); rerr == nil {
			return result, nil
		}
		return text, nil
	}, resumed)
	var full *gateFull
	if errors.As(err, &full) {
		c, cerr := ip.resumeAt(ctx, i, full.gate, ip.r.req.ApprovalTimeout, 0)
		if cerr != nil {
			return cerr
		}
		return c
	}
	return err
}

// undoable registers the compensation of a completed step, if it has one.
func (ip *interpreter) undoable(s StepDef) {
	if s.Compensate == nil {
		return
	}
	comp := *s.Compensate
	name := s.Name
	ip.r.onUndo(name, func(ctx workflow.Context) error {
		summary := "undo " + name
		if comp.Summary != "" {
			if text, err := ip.render(comp.Summary); err == nil {
				summary = text
			}
		}
		out, _, err := ip.do(ctx, name+"/undo", activitySpec{summary: summary, named: comp.Summary != ""}, comp.act())
		if err == nil {
			ip.keep(name+"/undo", out) // the record keeps what the undo answered
		}
		return err
	})
}

// setOutputs sets each of the definition's outputs that every step it names has reached.
func (ip *interpreter) setOutputs() {
	for _, name := range slices.Sorted(maps.Keys(ip.plan.Outputs)) {
		if _, done := ip.r.state.Outputs[name]; done {
			continue
		}
		if v, err := ip.render(ip.plan.Outputs[name]); err == nil {
			ip.r.state.Outputs[name] = v
		}
	}
}

// activitySpec is how a step's activity shows in the UI's timeline and is retried.
type activitySpec struct {
	summary string
	// named is true when summary is the definition's own text, shown alone.
	named bool
	retry *retryPlan
}

// spec is the activity spec of a step.
func (ip *interpreter) spec(s planStep) activitySpec {
	a := activitySpec{summary: s.Name, retry: s.retry}
	if s.Summary != "" {
		if text, err := ip.render(s.Summary); err == nil {
			a.summary, a.named = text, true
		}
	}
	return a
}

// options are the activity options of a spec; detail describes what runs when the
// definition does not name it.
func (a activitySpec) options(ctx workflow.Context, detail string) workflow.Context {
	summary := a.summary
	if !a.named {
		summary += ": " + detail
	}
	ctx = withActivity(ctx, summary)
	if a.retry == nil {
		return ctx
	}
	opts := workflow.GetActivityOptions(ctx)
	policy := a.retry.policy
	if a.retry.timeout > 0 {
		opts.StartToCloseTimeout = a.retry.timeout
	}
	opts.RetryPolicy = &policy
	return workflow.WithActivityOptions(ctx, opts)
}

// exec runs fn(in) for the step into out. A read runs as a local activity when local is
// set: the same retries and timeout, run by the worker inside the workflow task that
// reaches it, so reads in a row and the gate after them cost one workflow task instead
// of one each (the record is the same). Anything that writes stays an activity.
func (ip *interpreter) exec(ctx workflow.Context, a activitySpec, detail string, local bool, fn, in, out any) error {
	actx := a.options(ctx, detail)
	if !local {
		return workflow.ExecuteActivity(actx, fn, in).Get(ctx, out)
	}
	opts := workflow.GetActivityOptions(actx)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		// An activity's retries are bounded by its policy only; a local activity's
		// schedule-to-close would default to one attempt's timeout.
		ScheduleToCloseTimeout: localReadBound,
		StartToCloseTimeout:    opts.StartToCloseTimeout, RetryPolicy: opts.RetryPolicy, Summary: opts.Summary,
	})
	ip.r.localPending++
	defer func() { ip.r.localPending-- }()
	return workflow.ExecuteLocalActivity(lctx, fn, in).Get(ctx, out)
}

// localReadBound bounds a read run as a local activity, its retries included: far above
// what any retry policy a definition may declare adds up to.
const localReadBound = 24 * time.Hour

// action runs a step that does something and keeps its output for later steps.
func (ip *interpreter) action(ctx workflow.Context, s planStep) (string, error) {
	if s.Actions != nil {
		return ip.actions(ctx, s)
	}
	out, text, err := ip.do(ctx, s.Name, ip.spec(s), s.act())
	if err != nil {
		return "", err
	}
	ip.keep(s.Name, out)
	return text, nil
}

// actions runs a step's actions in order. The step's output holds each action's by name,
// so a later action can use an earlier one's; a retry of the step (continue) runs them
// all again under the same idempotency keys.
func (ip *interpreter) actions(ctx workflow.Context, s planStep) (string, error) {
	out := map[string]any{}
	ip.outputs[s.Name] = out
	texts := make([]string, 0, len(s.Actions))
	base := ip.spec(s)
	for _, a := range s.Actions {
		spec := activitySpec{summary: base.summary + " (" + a.Name + ")", named: base.named, retry: s.retry}
		if a.Summary != "" {
			if text, err := ip.render(a.Summary); err == nil {
				spec.summary, spec.named = text, true
			}
		}
		v, text, err := ip.do(ctx, s.Name+"/"+a.Name, spec, a.act())
		if err != nil {
			return "", fmt.Errorf("%s: %w", a.Name, err)
		}
		out[a.Name] = v
		ip.keep(s.Name, out)
		texts = append(texts, a.Name+": "+text)
	}
	return strings.Join(texts, "; "), nil
}

// jsonOf is v as a template sees it: JSON values with whole numbers as int64.
func jsonOf(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeJSON(raw)
}

// keep records a step's output for later templates and conditions, and in the record.
// An output larger than maxRecordedOutput is named by its size only in the record, which
// every status query returns; later steps still get all of it.
func (ip *interpreter) keep(step string, v any) {
	ip.outputs[step] = v
	raw, _ := json.Marshal(v)
	if len(raw) > maxRecordedOutput {
		ip.r.state.Outputs[step] = fmt.Sprintf("(%d bytes of JSON, more than the record keeps)", len(raw))
		return
	}
	ip.r.state.Outputs[step] = CleanText(string(raw))
}

// maxRecordedOutput bounds a step's output in the record.
const maxRecordedOutput = 4096

// templateError fails a step whose template cannot be filled; no retry fills it.
func templateError(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeInvalidInput, nil)
}

// decodeJSON decodes JSON keeping whole numbers as int64, so CEL and templates see 5000
// as an integer, not 5000.0.
func decodeJSON(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, val := range x {
			x[k] = numbers(val)
		}
	case []any:
		for i, val := range x {
			x[i] = numbers(val)
		}
	}
	return v
}

// --- conditions -------------------------------------------------------------------

var (
	celOnce sync.Once
	celEnv  *cel.Env
	// programs caches compiled conditions by expression and limit: compiling is pure.
	programs pureCache[programKey, cel.Program]
)

// programKey names a compiled expression: limited ones stop at ConditionCostLimit.
type programKey struct {
	expr    string
	limited bool
}

// conditionEnv is the CEL environment of conditions: params, steps and run.
func conditionEnv() *cel.Env {
	celOnce.Do(func() {
		env, err := cel.NewEnv(
			cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("steps", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("run", cel.MapType(cel.StringType, cel.StringType)),
			cel.CrossTypeNumericComparisons(true),
			// String functions: trim, lowerAscii, upperAscii, join, split, replace, …
			ext.Strings(),
			cel.CostModelVersion(costModelVersion),
		)
		if err != nil {
			panic("workflows: CEL environment: " + err.Error()) // fixed declarations; cannot fail
		}
		celEnv = env
	})
	return celEnv
}

func (ip *interpreter) condition(expr string) (bool, error) {
	out, err := ip.eval(expr)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("is %v, not true or false", out)
	}
	return b, nil
}

// eval evaluates a CEL expression over params, steps (each {status, output}) and run, and
// returns its value as JSON would hold it.
func (ip *interpreter) eval(expr string) (any, error) {
	steps := map[string]any{}
	for _, s := range ip.r.state.Steps {
		entry := map[string]any{"status": string(s.Status)}
		if out, ok := ip.outputs[s.Name]; ok {
			entry["output"] = out
		}
		steps[s.Name] = entry
	}
	return evalCEL(expr, ip.r.CostLimited, ip.params, steps, ip.r.state.WorkflowID, ip.r.state.RequestedBy)
}

// evalCEL evaluates a CEL expression and returns its value as JSON would hold it. When
// limited, evaluation stops with errCostLimit once it reaches ConditionCostLimit; the
// charge is counted, not timed, so a replay stops at the same place.
func evalCEL(expr string, limited bool, params, steps map[string]any, id, requester string) (any, error) {
	key := programKey{expr, limited}
	prg, ok := programs.get(key)
	if !ok {
		ast, issues := conditionEnv().Compile(expr)
		if issues != nil && issues.Err() != nil {
			return nil, issues.Err()
		}
		var opts []cel.ProgramOption
		if limited {
			opts = limitOptions()
		}
		p, err := conditionEnv().Program(ast, opts...)
		if err != nil {
			return nil, err
		}
		programs.put(key, p)
		prg = p
	}
	vars := map[string]any{
		"params": params,
		"steps":  steps,
		"run":    map[string]string{"id": id, "requested_by": requester},
	}
	if limited {
		// Objects iterate in one order, so the charge, like the value, is the same on
		// every execution of the run.
		a := newOrderingAdapter()
		vars["params"], vars["steps"] = a.NativeToValue(params), a.NativeToValue(steps)
		vars["run"] = a.NativeToValue(map[string]any{"id": id, "requested_by": requester})
	}
	out, _, err := prg.Eval(vars)
	if err != nil {
		return nil, costLimited(err)
	}
	if limited && deepSize(out, ConditionCostLimit) >= ConditionCostLimit {
		// A value made of references (a list of one long list, many times) is cheap to
		// build and dear to write out.
		return nil, errValueLimit
	}
	switch v := out.Value().(type) {
	case string, bool, int64, float64, nil:
		return v, nil
	case uint64:
		return int64(v), nil
	}
	native, err := out.ConvertToNative(reflect.TypeFor[*structpb.Value]())
	if err != nil {
		return nil, fmt.Errorf("its value %v cannot be written as JSON", out.Value())
	}
	return numbers(native.(*structpb.Value).AsInterface()), nil
}

// --- templates --------------------------------------------------------------------

// lookup resolves a template reference: params.X, steps.S.output[.F…], run.id or
// run.requested_by.
// Anything else is a CEL expression.
func (ip *interpreter) lookup(ref string) (any, error) {
	if !templateRef.MatchString(ref) {
		v, err := ip.eval(ref)
		if err != nil {
			return nil, fmt.Errorf("{{%s}}: %w", ref, err)
		}
		return v, nil
	}
	if parts := strings.Split(ref, "."); len(parts) == 3 && parts[0] == "steps" && parts[2] == "callback_url" {
		return ip.callbackURL(parts[1])
	}
	if name, ok := strings.CutPrefix(ref, "steps."); ok {
		name, _, _ = strings.Cut(name, ".")
		if s := ip.r.step(name); s != nil && s.Status == StepSkipped {
			return nil, nil // a skipped step's output reads as empty
		}
	}
	if ref == "run.key" {
		return ip.runKey(), nil
	}
	return lookupRef(ref, ip.params, ip.outputs, ip.r.state.WorkflowID, ip.r.state.RequestedBy)
}

// runKey names this run to backends: its workflow id and, since changeRunKeys, its first
// run id (the same across continue-as-new).
func (ip *interpreter) runKey() string {
	if !ip.r.RunKeys {
		return ip.r.state.WorkflowID
	}
	return ip.r.state.WorkflowID + "/" + ip.r.state.FirstRunID
}

func lookupRef(ref string, params map[string]any, outputs map[string]any, id, requester string) (any, error) {
	parts := strings.Split(ref, ".")
	switch {
	case ref == "run.id":
		return id, nil
	case ref == "run.requested_by":
		return requester, nil
	case parts[0] == "params" && len(parts) == 2:
		v, ok := params[parts[1]]
		if !ok {
			return nil, nil // an optional parameter not given reads as empty
		}
		return v, nil
	case parts[0] == "steps" && len(parts) >= 3 && parts[2] == "output":
		v, ok := outputs[parts[1]]
		if !ok {
			return nil, fmt.Errorf("{{%s}}: step %s has no output (it was skipped or has not run)", ref, parts[1])
		}
		for _, field := range parts[3:] {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("{{%s}}: the output of step %s has no field %s", ref, parts[1], field)
			}
			if v, ok = m[field]; !ok {
				return nil, fmt.Errorf("{{%s}}: the output of step %s has no field %s", ref, parts[1], field)
			}
		}
		return v, nil
	}
	return nil, fmt.Errorf("{{%s}} is not a reference", ref)
}

// render fills every {{…}} of s with its value as text, made safe for the record and
// notices (CleanText): a value cannot bring a control character or a bidirectional
// override into them.
func (ip *interpreter) render(s string) (string, error) {
	return renderTemplate(s, ip.lookup, CleanText)
}

// changeQueryEscape escapes the values a call's endpoint puts after its '?' as query
// values (so '&' and '=' cannot add or change a parameter); runs that rendered a query
// before it keep path escaping there.
const changeQueryEscape = "endpoint-query-values-escaped"

// renderEndpoint fills an endpoint. A value before the '?' is escaped as one path
// segment, so it can never add a segment, a query or a '..'; a value after it is escaped
// as a query value, so it can never add or change a parameter.
func (ip *interpreter) renderEndpoint(ctx workflow.Context, s string) (string, error) {
	path, query, hasQuery := strings.Cut(s, "?")
	if !hasQuery || !template.MatchString(query) ||
		workflow.GetVersion(ctx, changeQueryEscape, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return renderTemplate(s, ip.lookup, url.PathEscape)
	}
	p, err := renderTemplate(path, ip.lookup, url.PathEscape)
	if err != nil {
		return "", err
	}
	q, err := renderTemplate(query, ip.lookup, url.QueryEscape)
	return p + "?" + q, err
}

func renderTemplate(s string, lookup func(string) (any, error), escape func(string) string) (string, error) {
	var firstErr error
	out := template.ReplaceAllStringFunc(s, func(m string) string {
		ref := template.FindStringSubmatch(m)[1]
		v, err := lookup(ref)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return escape(text(v))
	})
	return out, firstErr
}

// renderValue fills the templates of a YAML value. A string that is one template only
// takes the referenced value with its type (a number stays a number).
func (ip *interpreter) renderValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if m := template.FindStringSubmatch(x); m != nil && m[0] == strings.TrimSpace(x) {
			return ip.lookup(m[1])
		}
		return ip.render(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			r, err := ip.renderValue(val)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			r, err := ip.renderValue(val)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// text is a value as it reads in a template.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// RenderSummary fills a definition's summary for a run: the line the Temporal UI shows.
// Its values are made safe to show (CleanText), and its CEL expressions stop at
// ConditionCostLimit.
func RenderSummary(d Definition, params json.RawMessage, id, requestedBy string) string {
	return renderSummary(d, params, id, requestedBy, true)
}

// renderSummary is RenderSummary; a run started before changeCostAndActors evaluates its
// expressions without a limit (limited false), as it did.
func renderSummary(d Definition, params json.RawMessage, id, requestedBy string, limited bool) string {
	p, err := decodeJSON(params)
	pm, _ := p.(map[string]any)
	if err != nil || pm == nil {
		pm = map[string]any{}
	}
	s, _ := renderTemplate(d.Summary, func(ref string) (any, error) {
		if !templateRef.MatchString(ref) {
			return evalCEL(ref, limited, pm, map[string]any{}, id, requestedBy)
		}
		return lookupRef(ref, pm, nil, id, requestedBy)
	}, CleanText)
	return s
}

// approval waits at a gate of a definition (step i) until its quorum approves, someone
// allowed rejects, or its deadline passes (then rejects, or escalates once to a second
// group). When the run's history passes its bound first, the run continues as new,
// waiting at the same gate (res is then the gate's wait so far).
// gate is the approval gate of step s until deadline, for pol.
func (ip *interpreter) gate(s planStep, deadline time.Time, pol *approvalPolicy) *gate {
	return &gate{step: s.Name, kind: gateApproval, deadline: deadline, policy: pol,
		inputs: s.gate.inputs, params: ip.params, reasonOnReject: s.Approval.RejectNeedsReason,
		changes: s.gate.changes, schema: ip.plan.params}
}

// decisionInputs are an approve's inputs as later steps read them (nil for none), and
// what the record says of them: " with approved_cents=40000".
func decisionInputs(d AdvanceRequest) (map[string]any, string) {
	if len(d.Inputs) == 0 {
		return nil, ""
	}
	in, err := normalInputs(d.Inputs)
	if err != nil {
		return nil, ""
	}
	parts := make([]string, 0, len(in))
	for _, k := range slices.Sorted(maps.Keys(in)) {
		parts = append(parts, k+"="+text(in[k]))
	}
	return in, " with " + strings.Join(parts, ", ")
}

func (ip *interpreter) approval(ctx workflow.Context, i int, s planStep, res *GateResume) error {
	r, a := ip.r, s.Approval
	// The gate's timers (GateTimers) run across its decisions and stop when it closes.
	defer r.stopClock()
	var pol *approvalPolicy
	var wait, remind time.Duration
	var g *gate
	if res != nil {
		p := res.Policy
		p.SelfApproval = res.SelfApproval
		pol, wait, remind = &p, res.Wait, res.Remind
		g = ip.gate(s, res.Deadline, pol)
		g.toldAt, g.round = res.ToldAt, res.Round
		if res.Kind == gateChanges {
			g.kind, g.asked = gateChanges, res.Asked
			r.state.Status = StatusChangesRequested
		}
		r.publish(ctx)
	} else {
		sod := a.SeparationOfDuties == nil || *a.SeparationOfDuties
		pol = &approvalPolicy{Approvers: a.Approvers, Scope: a.Scope, Quorum: max(a.Quorum, 1), SelfApproval: !sod || r.req.AllowSelfApproval}
		wait, remind = r.req.ApprovalTimeout, s.gate.reminder
		if s.gate.deadline > 0 {
			wait = s.gate.deadline
		}
		r.begin(ctx, s.Name, StatusWaitingApproval, StepWaiting)
		g = ip.gate(s, workflow.Now(ctx).UTC().Add(wait), pol)
		r.notifyGate(ctx, activities.EventGateOpened, g)
		r.continues = r.continues || r.Bundled || workflow.GetVersion(ctx, changeContinueAsNewAtGate, workflow.DefaultVersion, 1) == 1
	}
	for {
		r.gate = g
		ip.openOrEvent(s, g)
		r.publish(ctx)
		d, ok, err := r.await(ctx, g, remind)
		r.gate, r.event = nil, nil
		switch {
		case errors.Is(err, errHistoryFull):
			c, cerr := ip.resumeAt(ctx, i, g, wait, remind)
			if cerr != nil {
				return cerr
			}
			return c
		case err != nil:
			r.finishStep(ctx, s.Name, StepCancelled, "", "", "", "cancelled while waiting")
			return err
		case ok && d.Action == actionEvent:
			ip.eventWon(ctx, s, g)
			return nil
		case !ok && g.kind == gateChanges:
			r.timedOutAfter = wait
			r.finishStep(ctx, s.Name, StepTimedOut, "", "", "", fmt.Sprintf("no revision within %s of the request for changes", wait))
			return errTimedOut
		case d.Action == ActionRequestChanges:
			g = ip.askChanges(ctx, g, d)
			wait, remind = g.deadline.Sub(workflow.Now(ctx)), 0
			r.notifyGate(ctx, activities.EventChangesRequested, g)
			continue
		case d.Action == ActionWithdraw:
			r.finishStep(ctx, s.Name, StepCancelled, d.Actor, d.Comment, "withdrawn by the requester", "")
			return errWithdrawn
		case d.Action == ActionRevise:
			ip.revise(ctx, g, d)
			// A new round: the gate opens again, as it first did, and the approvals of the
			// earlier round no longer count.
			pol.Approvals = nil
			wait, remind = r.req.ApprovalTimeout, s.gate.reminder
			if s.gate.deadline > 0 {
				wait = s.gate.deadline
			}
			if pol.Escalated {
				wait, remind = s.gate.escalate, 0
			}
			round := g.round
			g = ip.gate(s, workflow.Now(ctx).UTC().Add(wait), pol)
			g.round = round
			r.state.Status = StatusWaitingApproval
			r.notifyGate(ctx, activities.EventGateOpened, g)
			continue
		case !ok && a.OnTimeout == "escalate" && !pol.Escalated:
			esc := s.gate.escalate
			pol = &approvalPolicy{Approvers: a.Escalate.Approvers, Scope: a.Escalate.Scope, Quorum: 1, SelfApproval: pol.SelfApproval, Escalated: true}
			round := g.round
			g = ip.gate(s, workflow.Now(ctx).UTC().Add(esc), pol)
			g.round = round
			r.log(ctx, "escalated", s.Name, "", fmt.Sprintf("no decision within %s; now %s may decide until %s", wait, pol.who(), g.deadline.Format(time.RFC3339)))
			r.notifyGate(ctx, activities.EventGateOpened, g)
			wait, remind = esc, 0
			continue
		case !ok:
			r.timedOutAfter = wait
			r.finishStep(ctx, s.Name, StepTimedOut, "", "", "", fmt.Sprintf("no decision within %s", wait))
			return errTimedOut
		case d.Action == ActionReject:
			r.finishStep(ctx, s.Name, StepRejected, d.Actor, d.Comment, "rejected", "")
			return errRejected
		}
		pol.Approvals = append(pol.Approvals, d.Actor)
		inputs, said := decisionInputs(d)
		if len(pol.Approvals) < pol.Quorum {
			r.log(ctx, "approved", s.Name, d.Actor, fmt.Sprintf("%d of %d approvals%s — %s", len(pol.Approvals), pol.Quorum, said, d.Comment))
			r.publish(ctx)
			continue
		}
		by := strings.Join(pol.Approvals, ", ")
		// Later steps may name who approved: {{steps.GATE.output.approved_by}}, and what
		// they said: {{steps.GATE.output.inputs.FIELD}}. A gate that declares inputs always
		// outputs them, empty when an approve gave none of its optional fields, so a
		// template can ask has(steps.GATE.output.inputs.FIELD).
		out := map[string]any{"approved_by": by, "approvers": slices.Clone(pol.Approvals), "comment": d.Comment}
		if inputs == nil && s.gate.inputs != nil {
			inputs = map[string]any{}
		}
		if inputs != nil {
			out["inputs"] = inputs
		}
		ip.outputs[s.Name] = out
		ip.approvalWon(ctx, s, by, out)
		result := "approved" // the step's actor says by whom
		if pol.Quorum > 1 {
			result = "approved by " + by
		}
		result += said
		r.finishStep(ctx, s.Name, StepCompleted, by, d.Comment, result, "")
		r.state.Status = StatusInProgress
		r.publish(ctx)
		return nil
	}
}
