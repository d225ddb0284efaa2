package proctest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	fgworker "github.com/flowgate/flowgate/worker"
	"github.com/flowgate/flowgate/workflows"
)

// Bounds of one case: a case that goes past them stops, and says where its run stood.
const (
	// maxCalls bounds the activities (backend calls and notices) a case's run makes.
	maxCalls = 2000
	// maxPolls bounds how often a script step looks again for the run to be held.
	maxPolls = 20000
	// realTimeout bounds a case in real time while nothing happens in it.
	realTimeout = 30 * time.Second
	// deadlockTimeout bounds one workflow task in real time.
	deadlockTimeout = 10 * time.Second
)

// Result is what one case came to.
type Result struct {
	File string
	Case string
	Line int
	// Problems say what differs from what the case expects, each a few lines (a diff);
	// none when the case passed.
	Problems []string
	Duration time.Duration
	// Reached are what the run reached, for the coverage report.
	Reached Reached
}

// Passed tells whether the case passed.
func (r Result) Passed() bool { return len(r.Problems) == 0 }

// Reached is what a run reached: steps that ran (not skipped), steps skipped by their
// when, gates decided, and compensations run.
type Reached struct {
	Steps, Skipped, Compensated []string
}

// call is a call the run made to a backend, as a mock answered it.
type call struct {
	key, what string
	body      any
}

// run is one case's run and what its mocks saw.
type run struct {
	f   *File
	c   *Case
	env *testsuite.TestWorkflowEnvironment
	// stack is the demo world of a case with backends: demo; nil on mocks.
	stack *demoStack

	mu       sync.Mutex
	used     map[string]int
	called   []string
	calls    []call
	notices  []activities.Notice
	count    int
	problems []string
	// taken counts the script steps taken.
	taken int
}

// Run runs every case of f whose name matches run (nil: all), in order.
func (f *File) Run(match *regexp.Regexp) []Result {
	var out []Result
	for i := range f.Cases {
		if match != nil && !match.MatchString(f.Cases[i].Name) {
			continue
		}
		out = append(out, f.RunCase(&f.Cases[i]))
	}
	return out
}

// RunCase runs one case of f on the interpreter in the time-skipping test environment.
func (f *File) RunCase(c *Case) Result {
	start := time.Now()
	r := &run{f: f, c: c, used: map[string]int{}}
	res := Result{File: f.Path, Case: c.Name, Line: c.line}
	st, problems := r.execute()
	res.Problems = append(problems, compare(c.Expect, st, r.notices, r.calls)...)
	res.Reached = reached(st)
	res.Duration = time.Since(start)
	return res
}

func reached(st workflows.State) Reached {
	var out Reached
	for _, s := range st.Steps {
		switch s.Status {
		case workflows.StepPending:
		case workflows.StepSkipped:
			out.Skipped = append(out.Skipped, s.Name)
		default:
			out.Steps = append(out.Steps, s.Name)
		}
		if s.Status == workflows.StepCompensated {
			out.Compensated = append(out.Compensated, s.Name)
		}
	}
	return out
}

// execute runs the case's workflow to its end and returns its record.
func (r *run) execute() (workflows.State, []string) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	// A workflow task over a second is taken for a deadlock; on a busy CI machine the
	// first task of a cold process (its expressions compiled) can take that long.
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: deadlockTimeout})
	r.env = env
	if r.c.demo {
		stack, err := newDemoStack(context.Background())
		if err != nil {
			return workflows.State{}, []string{fmt.Sprintf("start the demo backends: %v", err)}
		}
		defer stack.close()
		r.stack = stack
		fgworker.Register(env, fgworker.Activities{Database: stack.database, Gateway: stack.gateway, Files: stack.files})
	} else {
		env.RegisterDynamicWorkflow(workflows.ProcessDynamic, workflow.DynamicRegisterOptions{})
	}
	r.register(env)
	env.SetWorkflowRunTimeout(r.c.limit)
	env.SetTestTimeout(realTimeout)
	p := r.c.Params
	if p == nil {
		p = map[string]any{}
	}
	params, err := json.Marshal(p)
	if err != nil {
		return workflows.State{}, []string{fmt.Sprintf("params: %v", err)}
	}
	// The first look is a second in: the run has taken its first workflow task.
	env.RegisterDelayedCallback(func() { r.next(0, 0) }, time.Second)
	in := workflows.ProcessInput{
		Request:     workflows.Request{RequestedBy: cmp.Or(r.c.As, DefaultRequester)},
		Process:     workflows.NewProcessSource(r.f.Process, r.f.Source),
		Params:      params,
		Interpreter: workflows.InterpreterVersion,
	}
	env.ExecuteWorkflow(r.f.Process.Name, in)
	var problems []string
	st, qerr := r.details()
	werr := env.GetWorkflowError()
	var te *temporal.TimeoutError
	switch {
	case !env.IsWorkflowCompleted():
		problems = append(problems, "the run did not end; it stood at "+where(st))
	case errors.As(werr, &te):
		problems = append(problems, fmt.Sprintf("the run did not end within the case's limit of %s of simulated time; it stood at %s", r.c.limit, where(st)))
	case werr != nil && (qerr != nil || !st.Status.Terminal()):
		problems = append(problems, fmt.Sprintf("the run ended with %v; it stood at %s", werr, where(st)))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	problems = append(problems, r.problems...)
	if r.taken < len(r.c.Script) {
		s := r.c.Script[r.taken]
		problems = append(problems, fmt.Sprintf("script line %d (%s) was never taken: the run ended %s", s.line, s.describe(), st.Status))
	}
	return st, problems
}

func (r *run) details() (workflows.State, error) {
	var st workflows.State
	v, err := r.env.QueryWorkflow(workflows.QueryDetails)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

func (r *run) status() (st workflows.StatusView, err error) {
	defer func() {
		// The test environment panics on a query before the run's first task.
		if p := recover(); p != nil {
			err = fmt.Errorf("query: %v", p)
		}
	}()
	v, err := r.env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// where says where a run stood.
func where(st workflows.State) string {
	s := string(st.Status)
	if s == "" {
		return "its start"
	}
	if st.CurrentStep != "" {
		s += " at step " + st.CurrentStep
	}
	if w := st.Waiting; w != nil {
		s += fmt.Sprintf(" (waiting for %s until %s)", w.For, w.Deadline.Format(time.RFC3339))
	}
	return s
}

func (r *run) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// describe says what a script step does.
func (s ScriptStep) describe() string {
	switch {
	case s.Advance != "":
		return "advance " + s.Advance
	case s.Cancel:
		return "cancel"
	case s.Event != "" && s.Callback:
		return "event at " + s.Event + " through its callback URL"
	case s.Event != "":
		return "event at " + s.Event + " as " + s.As
	}
	return fmt.Sprintf("%s at %s as %s", s.action, s.gate, s.As)
}

// next takes script step i once the run is held: at a gate, at a timer, or ended. A run
// that is busy (a retry's backoff) is looked at again a second of simulated time later.
func (r *run) next(i, polls int) {
	if i >= len(r.c.Script) {
		return
	}
	s := r.c.Script[i]
	st, err := r.status()
	if err == nil && st.Status.Terminal() {
		return // execute reports the steps never taken
	}
	if err != nil || st.Waiting == nil {
		if polls >= maxPolls {
			r.problem("script line %d (%s): the run was not held at a gate or timer within %d looks; it stood %s", s.line, s.describe(), maxPolls, st.Status)
			r.env.CancelWorkflow()
			return
		}
		r.env.RegisterDelayedCallback(func() { r.next(i, polls+1) }, time.Second)
		return
	}
	r.mu.Lock()
	r.taken = i + 1
	r.mu.Unlock()
	switch {
	case s.Advance != "":
		r.env.RegisterDelayedCallback(func() { r.next(i+1, 0) }, s.advance)
		return
	case s.Cancel:
		r.env.CancelWorkflow()
		return
	}
	name, req := workflows.UpdateAdvance, any(workflows.AdvanceRequest{Action: s.action, Step: s.gate, Actor: s.As, Comment: s.Comment,
		Inputs: s.Inputs, Parameters: s.Parameters, Reassign: s.To, Scopes: r.c.Identities[s.As]})
	if s.Event != "" {
		e := workflows.EventRequest{Step: s.Event, Event: s.Name, Payload: s.Payload, Actor: s.As, Scopes: r.c.Identities[s.As]}
		if s.Callback {
			e.Actor, e.Callback, e.Nonce = "callback", true, callbackNonce(s.Event)
		}
		name, req = workflows.UpdateEvent, e
	}
	done := false
	var answer error
	finish := func(err error) {
		if done {
			return
		}
		done, answer = true, err
		switch {
		case s.ExpectRefused == "" && err != nil:
			r.problem("script line %d (%s) was refused: %v", s.line, s.describe(), errText(err))
		case s.ExpectRefused != "" && err == nil:
			r.problem("script line %d (%s) was taken; the case expects it refused with %q", s.line, s.describe(), s.ExpectRefused)
		case s.ExpectRefused != "" && !strings.Contains(errText(err), s.ExpectRefused):
			r.problem("script line %d (%s) was refused with %q; the case expects %q", s.line, s.describe(), errText(err), s.ExpectRefused)
		}
	}
	r.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnAccept:   func() {},
		OnReject:   finish,
		OnComplete: func(_ any, err error) { finish(err) },
	}, req)
	var wait func(n int)
	wait = func(n int) {
		if done || n >= maxPolls {
			_ = answer
			r.next(i+1, 0)
			return
		}
		r.env.RegisterDelayedCallback(func() { wait(n + 1) }, time.Millisecond)
	}
	r.env.RegisterDelayedCallback(func() { wait(0) }, 0)
}

// CallbackURL is the callback URL a case's run gets for the event wait step: a step
// that hands it on (to CI) sends this text.
func CallbackURL(step string) string { return "https://flowgate.test/callbacks/" + step }

func callbackNonce(step string) string { return "test-callback-" + step }

// errText is an update's refusal as its caller reads it.
func errText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Error()
	}
	return err.Error()
}

// --- mocks ------------------------------------------------------------------------

// register mocks every activity the interpreter runs. A mock finds the act it answers
// for (findAct) and gives its next answer, or, on the demo backends, runs the real
// activity; either way it records the call. Notices are recorded, not sent.
func (r *run) register(env *testsuite.TestWorkflowEnvironment) {
	var (
		gw     = &activities.Gateway{}
		db     = &activities.Database{}
		files  = &activities.Files{}
		audits = &activities.Audits{}
		n      *activities.Notifier
		cb     *activities.Callbacks
	)
	if s := r.stack; s != nil {
		gw, db, files = s.gateway, s.database, s.files
		audits = &activities.Audits{Database: s.database, Files: s.files}
	}
	// A callback URL is made by a local activity that signs it with the worker's keys; a
	// case has none, so it gets a URL that names its step, the same on every run, which
	// a case's calls and outputs can expect, and the nonce an event with callback: true
	// carries.
	env.OnActivity(cb.CallbackURL, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallbackInput) (activities.CallbackOutput, error) {
		return activities.CallbackOutput{URL: CallbackURL(in.Step), Nonce: callbackNonce(in.Step)}, nil
	})
	env.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.Notice) (activities.NoticeResult, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.notices = append(r.notices, in)
		return activities.NoticeResult{Channels: 1, Delivered: []string{"test"}}, nil
	})
	env.OnActivity(gw.CallService, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.CallInput) (activities.CallResult, error) {
		var body any
		if len(in.Data) > 0 {
			_ = json.Unmarshal(in.Data, &body)
		}
		if r.stack != nil {
			if err := r.record(ctx, "CallService", in, in.IdempotencyKey, in.Method+" "+in.Service+" "+in.Endpoint, body); err != nil {
				return activities.CallResult{}, err
			}
			return gw.CallService(ctx, in)
		}
		ans, err := r.answer(ctx, "CallService", in, in.IdempotencyKey, in.Method+" "+in.Service+" "+in.Endpoint, body)
		if err != nil {
			return activities.CallResult{}, err
		}
		res := activities.CallResult{Service: in.Service, Endpoint: in.Endpoint, Method: in.Method, StatusCode: cmp.Or(ans.HTTPStatus, 200), IdempotencyKey: in.IdempotencyKey}
		if s, ok := ans.output.(string); ok {
			res.Text = s
		} else {
			res.JSON, _ = json.Marshal(ans.output)
		}
		return res, nil
	})
	env.OnActivity(db.RunStatement, mock.Anything, mock.Anything).Return(mockOf[activities.StatementInput, activities.StatementResult](r, "RunStatement",
		func(in activities.StatementInput) (string, string, any) {
			return in.Key, "statement " + in.Name, jsonValue(in.Args)
		}, db.RunStatement))
	env.OnActivity(files.ParseFile, mock.Anything, mock.Anything).Return(mockOf[activities.ParseInput, activities.ParsedFile](r, "ParseFile",
		func(in activities.ParseInput) (string, string, any) { return "", "parse " + in.FilePath, nil }, files.ParseFile))
	env.OnActivity(files.WriteReport, mock.Anything, mock.Anything).Return(mockOf[activities.ReportInput, activities.ReportFile](r, "WriteReport",
		func(in activities.ReportInput) (string, string, any) {
			var content any
			_ = json.Unmarshal(in.Content, &content)
			return "", "write report " + in.Name, content
		}, files.WriteReport))
	op := func(name string) func(any) (string, string, any) {
		return func(in any) (string, string, any) { return "", "builtin " + name, jsonValue(in) }
	}
	env.OnActivity(db.CheckEmailAvailable, mock.Anything, mock.Anything).Return(mockErr[activities.CheckEmailInput](r, "CheckEmailAvailable", op("check_email_available"), db.CheckEmailAvailable))
	env.OnActivity(db.DeactivateUser, mock.Anything, mock.Anything).Return(mockErr[activities.DeactivateUserInput](r, "DeactivateUser", op("deactivate_user"), db.DeactivateUser))
	env.OnActivity(db.CreateUser, mock.Anything, mock.Anything).Return(mockOf[activities.CreateUserInput, activities.UserRecord](r, "CreateUser", anyIn[activities.CreateUserInput](op("create_user")), db.CreateUser))
	env.OnActivity(db.ActivateUser, mock.Anything, mock.Anything).Return(mockOf[activities.ActivateUserInput, activities.UserRecord](r, "ActivateUser", anyIn[activities.ActivateUserInput](op("activate_user")), db.ActivateUser))
	env.OnActivity(db.CollectRecords, mock.Anything, mock.Anything).Return(mockOf[activities.CollectInput, activities.CollectResult](r, "CollectRecords", anyIn[activities.CollectInput](op("collect_records")), db.CollectRecords))
	env.OnActivity(db.RecordAudit, mock.Anything, mock.Anything).Return(mockOf[activities.AuditRecord, activities.RecordedRow](r, "RecordAudit", anyIn[activities.AuditRecord](op("record_audit")), db.RecordAudit))
	env.OnActivity(files.ReadEvidence, mock.Anything, mock.Anything).Return(mockOf[activities.EvidenceInput, activities.EvidenceResult](r, "ReadEvidence", anyIn[activities.EvidenceInput](op("read_evidence")), files.ReadEvidence))
	env.OnActivity(audits.CollectAuditRecords, mock.Anything, mock.Anything).Return(mockOf[activities.AuditRecordsInput, activities.AuditFile](r, "CollectAuditRecords", anyIn[activities.AuditRecordsInput](op("collect_audit_records")), audits.CollectAuditRecords))
	env.OnActivity(audits.ReadAuditEvidence, mock.Anything, mock.Anything).Return(mockOf[activities.AuditEvidenceInput, activities.AuditFile](r, "ReadAuditEvidence", anyIn[activities.AuditEvidenceInput](op("read_audit_evidence")), audits.ReadAuditEvidence))
	env.OnActivity(audits.AnalyzeAudit, mock.Anything, mock.Anything).Return(mockOf[activities.AnalyzeAuditInput, activities.AuditAnalysis](r, "AnalyzeAudit", anyIn[activities.AnalyzeAuditInput](op("analyze_audit")), audits.AnalyzeAudit))
	env.OnActivity(audits.PublishAuditReport, mock.Anything, mock.Anything).Return(mockOf[activities.PublishAuditInput, activities.ReportFile](r, "PublishAuditReport", anyIn[activities.PublishAuditInput](op("publish_audit_report")), audits.PublishAuditReport))
}

func anyIn[I any](f func(any) (string, string, any)) func(I) (string, string, any) {
	return func(in I) (string, string, any) { return f(in) }
}

// mockOf is the mock of an activity that takes I and returns O: describe gives the
// input's idempotency key (if any), what it does and its body. On the demo backends it
// records the call and runs real, the activity itself.
func mockOf[I, O any](r *run, activity string, describe func(I) (string, string, any), real func(context.Context, I) (O, error)) func(context.Context, I) (O, error) {
	return func(ctx context.Context, in I) (O, error) {
		var out O
		idem, what, body := describe(in)
		if r.stack != nil {
			if err := r.record(ctx, activity, in, idem, what, body); err != nil {
				return out, err
			}
			return real(ctx, in)
		}
		ans, err := r.answer(ctx, activity, in, idem, what, body)
		if err != nil {
			return out, err
		}
		raw, err := json.Marshal(ans.output)
		if err != nil {
			return out, err
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the mocked output does not fit %s's output: %v", activity, err), "MockError", nil)
		}
		return out, nil
	}
}

// mockErr is the mock of an activity that returns only an error.
func mockErr[I any](r *run, activity string, describe func(any) (string, string, any), real func(context.Context, I) error) func(context.Context, I) error {
	return func(ctx context.Context, in I) error {
		idem, what, body := describe(in)
		if r.stack != nil {
			if err := r.record(ctx, activity, in, idem, what, body); err != nil {
				return err
			}
			return real(ctx, in)
		}
		_, err := r.answer(ctx, activity, in, idem, what, body)
		return err
	}
}

// answer finds the act an activity call is for, records the call, and gives the act's
// next answer: its output, or the error it answers with.
func (r *run) answer(ctx context.Context, activityType string, in any, idem, what string, body any) (Answer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.note(ctx, activityType, in, idem, what, body)
	if err != nil {
		return Answer{}, err
	}
	answers := r.c.Mocks[a.key]
	if len(answers) == 0 {
		return Answer{}, r.stop(fmt.Sprintf("step %s is not mocked", a.key))
	}
	i := r.used[a.key]
	r.used[a.key]++
	ans := answers[min(i, len(answers)-1)]
	switch {
	case ans.Error != nil && ans.Error.Retryable:
		return ans, temporal.NewApplicationError(ans.Error.Message, "MockError")
	case ans.Error != nil:
		return ans, temporal.NewNonRetryableApplicationError(ans.Error.Message, "MockError", nil)
	case ans.Timeout:
		return ans, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil)
	}
	return ans, nil
}

// record finds the act an activity call on the demo backends is for and records the
// call, as a mock does before it answers.
func (r *run) record(ctx context.Context, activityType string, in any, idem, what string, body any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.note(ctx, activityType, in, idem, what, body)
	return err
}

// note counts and records a call, and finds its act; r.mu is held.
func (r *run) note(ctx context.Context, activityType string, in any, idem, what string, body any) (act, error) {
	r.count++
	if r.count > maxCalls {
		return act{}, r.stop(fmt.Sprintf("the run made more than %d calls; it was stopped", maxCalls))
	}
	attempt := activity.GetInfo(ctx).Attempt
	a, err := r.findAct(activityType, in, idem, attempt)
	if err != nil {
		return act{}, r.stop(fmt.Sprintf("%s (%s)", err.Error(), what))
	}
	if attempt <= 1 || len(r.called) == 0 || r.called[len(r.called)-1] != a.key {
		r.called = append(r.called, a.key)
	}
	r.calls = append(r.calls, call{key: a.key, what: what, body: body})
	return a, nil
}

// stop records a problem that fails the case, once, and returns the error that fails
// the call without a retry.
func (r *run) stop(msg string) error {
	if !slices.Contains(r.problems, msg) {
		r.problems = append(r.problems, msg)
	}
	return temporal.NewNonRetryableApplicationError(msg, "MockError", nil)
}

// findAct is the act an activity call is for. A call or write carries an idempotency key
// that ends with the act's key (run key / key): that names it. A read, a file and an
// operation carry none: the act is one of the definition's of that activity whose
// declaration matches the input (service, method and endpoint; statement; path; name),
// the first of them in the definition's order that has not been called yet, or else the
// last one called; a retry (attempt 2 on) is for the act its first attempt was. Steps run one at a time, so two acts are told apart unless two reads
// of the same endpoint or statement alternate.
func (r *run) findAct(activityType string, in any, idem string, attempt int32) (act, error) {
	if idem != "" {
		parts := strings.SplitN(idem, "/", 3) // workflow id / first run id / key
		key := parts[len(parts)-1]
		for _, a := range r.f.acts {
			if a.key == key {
				return a, nil
			}
		}
		return act{}, fmt.Errorf("no step of %s has the key %q", r.f.Process.Name, key)
	}
	var candidates []act
	for _, a := range r.f.acts {
		if a.activity == activityType && a.match(in) {
			candidates = append(candidates, a)
		}
	}
	if len(candidates) == 0 {
		return act{}, fmt.Errorf("no step of %s makes this call", r.f.Process.Name)
	}
	if attempt > 1 && len(r.called) > 0 {
		for _, a := range candidates {
			if a.key == r.called[len(r.called)-1] {
				return a, nil
			}
		}
	}
	for _, a := range candidates {
		if !slices.Contains(r.called, a.key) {
			return a, nil
		}
	}
	for i := len(r.called) - 1; i >= 0; i-- {
		for _, a := range candidates {
			if a.key == r.called[i] {
				return a, nil
			}
		}
	}
	return candidates[len(candidates)-1], nil
}
