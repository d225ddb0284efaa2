// Package proctest proves a process definition before it runs: it reads a test file
// (NAME.test.yaml beside NAME.yaml) of cases, each with parameters, mocked answers for the
// steps that reach a backend, a script of decisions and moves of time, and what the run
// must come to; then it runs each case on the real interpreter in Temporal's time-skipping
// test environment, where a 72-hour deadline passes in milliseconds, and says what differs.
package proctest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// Suffix ends the name of every test file: NAME.test.yaml tests NAME.yaml.
const Suffix = ".test.yaml"

// File is a test file: the cases of one definition.
type File struct {
	// Definition is the path of the definition file, relative to the test file; the
	// default is NAME.yaml beside NAME.test.yaml.
	Definition string `yaml:"definition,omitempty"`
	// Identities are the people the cases act as, each with the scopes they hold; a case
	// may add its own.
	Identities map[string][]string `yaml:"identities,omitempty"`
	// Backends is what the cases run against unless a case says: mocks (the default) or
	// demo; see Case.Backends.
	Backends string `yaml:"backends,omitempty"`
	Cases    []Case `yaml:"cases"`

	// Path is the test file's path; Source the definition's file and text.
	Path       string               `yaml:"-"`
	DefPath    string               `yaml:"-"`
	Source     []byte               `yaml:"-"`
	Process    workflows.Definition `yaml:"-"`
	acts       []act
	lines      map[string]int
	identities map[string][]string
}

// Case is one run of the definition and what it must come to.
type Case struct {
	Name string `yaml:"name"`
	// As is the requester (default "requester").
	As         string              `yaml:"as,omitempty"`
	Params     map[string]any      `yaml:"params,omitempty"`
	Identities map[string][]string `yaml:"identities,omitempty"`
	// Mocks are the answers of each step's backend call, by step key: STEP,
	// STEP/ACTION for an action, STEP/undo for a compensation. They are consumed in
	// order, the last one repeating.
	Mocks map[string][]Answer `yaml:"mocks,omitempty"`
	// Backends is what the run's steps reach: mocks (the default, the file's if it names
	// one), or demo, the real activities against a fresh demo stack of the case's own (the
	// demo backends, an app database with the demo data, a sandbox with the demo files),
	// so a case proves what the definition does to real services. A demo case takes no
	// mocks.
	Backends string       `yaml:"backends,omitempty"`
	Script   []ScriptStep `yaml:"script,omitempty"`
	Expect   Expect       `yaml:"expect"`
	// Limit bounds the case's simulated time (default 400d).
	Limit string `yaml:"limit,omitempty"`

	limit time.Duration
	line  int
	demo  bool
}

// The backends a case may run against.
const (
	BackendsMocks = "mocks"
	BackendsDemo  = "demo"
)

// Answer is one answer of a mocked step: exactly one of output, error and timeout.
type Answer struct {
	// Output is what the step's call returns: a call's JSON body, a statement's result
	// ({rows_returned, row, rows, rows_affected}), an operation's output.
	Output yaml.Node `yaml:"output,omitempty"`
	// HTTPStatus is a call's status code (default 200).
	HTTPStatus int        `yaml:"http_status,omitempty"`
	Error      *MockError `yaml:"error,omitempty"`
	// Timeout answers as an attempt that ran past its timeout (retried).
	Timeout bool `yaml:"timeout,omitempty"`

	output any
}

// MockError is a failed call: retryable ones are retried by the step's retry policy.
type MockError struct {
	Message   string `yaml:"message"`
	Retryable bool   `yaml:"retryable,omitempty"`
}

// ScriptStep is one thing that happens to the run, in order: a decision at a gate (one of
// approve, reject, request_changes, revise, withdraw, reassign, naming the gate), an
// event for a wait (event, naming the wait), an advance of time, or a cancel. Each waits
// until the run is held (at a gate, an event wait or a timer) or ended.
type ScriptStep struct {
	Approve        string `yaml:"approve,omitempty"`
	Reject         string `yaml:"reject,omitempty"`
	RequestChanges string `yaml:"request_changes,omitempty"`
	Revise         string `yaml:"revise,omitempty"`
	Withdraw       string `yaml:"withdraw,omitempty"`
	Reassign       string `yaml:"reassign,omitempty"`
	Continue       string `yaml:"continue,omitempty"`
	Advance        string `yaml:"advance,omitempty"`
	Cancel         bool   `yaml:"cancel,omitempty"`
	// Event sends the event update to the wait it names, as workflows.UpdateEvent.
	Event string `yaml:"event,omitempty"`

	As         string         `yaml:"as,omitempty"`
	Comment    string         `yaml:"comment,omitempty"`
	Inputs     map[string]any `yaml:"inputs,omitempty"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
	// Name is an event's name (default: the one its wait waits for); Payload what it
	// says; Callback sends it through the wait's callback URL, as CI posting there does,
	// instead of as a person.
	Name     string         `yaml:"name,omitempty"`
	Payload  map[string]any `yaml:"payload,omitempty"`
	Callback bool           `yaml:"callback,omitempty"`
	// To is who a reassign hands the gate to.
	To *workflows.Reassignment `yaml:"to,omitempty"`
	// ExpectRefused is a text the refusal must contain: the step is expected to be
	// refused, and the case fails if it is taken.
	ExpectRefused string `yaml:"expect_refused,omitempty"`

	action  workflows.Action
	gate    string
	advance time.Duration
	line    int
}

// Expect is what a case's run must come to; what it leaves out is not checked.
type Expect struct {
	Status string `yaml:"status,omitempty"`
	// Steps are the steps the run reached, in order: "- NAME: STATUS" or
	// "- NAME: {status: STATUS, says: TEXT}" (TEXT in the step's result or error).
	Steps   []map[string]yaml.Node `yaml:"steps,omitempty"`
	Outputs map[string]any         `yaml:"outputs,omitempty"`
	// Record are entries of the run's record, in order, among others.
	Record []RecordEntry `yaml:"record,omitempty"`
	// Notifications are every notice the run asked for, in order.
	Notifications []Notification `yaml:"notifications,omitempty"`
	// Calls are every call the run made to a backend, in order, each attempt one.
	Calls []CallEntry `yaml:"calls,omitempty"`

	steps []stepExpect
}

type stepExpect struct {
	name, status, says string
}

// RecordEntry is an entry of the run's record; empty fields match anything, says is a
// text the entry's detail contains.
type RecordEntry struct {
	Event string `yaml:"event,omitempty"`
	Step  string `yaml:"step,omitempty"`
	Actor string `yaml:"actor,omitempty"`
	Says  string `yaml:"says,omitempty"`
}

// Notification is a notice the run asked the channels to send.
type Notification struct {
	Event string `yaml:"event"`
	Step  string `yaml:"step,omitempty"`
}

// CallEntry is a call to a backend: the step key, what it called, and its body (a call's
// JSON body, a statement's arguments, an operation's input) when given.
type CallEntry struct {
	Step string    `yaml:"step"`
	Call string    `yaml:"call,omitempty"`
	Body yaml.Node `yaml:"body,omitempty"`

	body any
}

// Load reads a test file and its definition, and checks both; every problem is named
// with file:line.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, nil)
}

// Parse checks a test file's text. def is the definition's file text, nil to read it
// from the path the test file names.
func Parse(path string, data []byte, def []byte) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(path, err)
	}
	f := &File{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		return nil, yamlError(path, err)
	}
	f.Path = path
	c := &checker{file: path, root: &root}
	var err error
	if def == nil {
		f.DefPath = f.Definition
		if f.DefPath == "" {
			f.DefPath = strings.TrimSuffix(filepath.Base(path), Suffix) + ".yaml"
		}
		if !filepath.IsAbs(f.DefPath) {
			f.DefPath = filepath.Join(filepath.Dir(path), f.DefPath)
		}
		if def, err = os.ReadFile(f.DefPath); err != nil {
			return nil, fmt.Errorf("%s:%d: definition: %w", path, c.line("definition"), err)
		}
	}
	f.Source = def
	d, err := workflows.ParseDefinition(cmpOr(f.DefPath, "definition.yaml"), def, workflows.DefinitionRules{AnyService: true})
	if err != nil {
		return nil, err
	}
	f.Process = d
	// Check and compile the definition now, as a server does when it loads one (both are
	// cached by hash), so a run's first workflow task does not.
	src := workflows.NewProcessSource(d, def)
	if err := src.Check(); err != nil {
		return nil, err
	}
	if _, err := src.Plan(); err != nil {
		return nil, err
	}
	f.acts = actsOf(d)
	c.check(f)
	if len(c.problems) > 0 {
		return nil, errors.Join(c.problems...)
	}
	return f, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var (
	unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)
	yamlLine     = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// yamlError names the file and line of a YAML syntax, type or unknown-field error.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []error
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				out = append(out, fmt.Errorf("%s:%s: unknown field %q; docs/testing.md lists the fields", file, m[1], m[2]))
				continue
			}
			out = append(out, fmt.Errorf("%s:%s", file, strings.TrimPrefix(e, "line ")))
		}
		return errors.Join(out...)
	}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s", file, m[1], m[2])
	}
	return fmt.Errorf("%s: %v", file, err)
}

// checker collects a test file's problems with their lines.
type checker struct {
	file     string
	root     *yaml.Node
	problems []error
}

func (c *checker) at(path []any, format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf("%s:%d: %s", c.file, c.line(path...), fmt.Sprintf(format, args...)))
}

// line finds the line of the deepest node on path (mapping keys, sequence indexes).
func (c *checker) line(path ...any) int { return workflows.NodeLine(c.root, path) }

// stepStatuses are the statuses a step may end in, as expect.steps names them.
var stepStatuses = []workflows.StepStatus{workflows.StepCompleted, workflows.StepSkipped, workflows.StepFailed,
	workflows.StepRejected, workflows.StepTimedOut, workflows.StepCancelled, workflows.StepCompensated,
	workflows.StepWaiting, workflows.StepRunning, workflows.StepPending}

func (c *checker) check(f *File) {
	d := f.Process
	if len(f.Cases) == 0 {
		c.at([]any{"cases"}, "the file has no cases; give at least one under cases:")
	}
	gates := map[string]bool{}
	steps := map[string]bool{}
	for _, s := range d.Steps {
		steps[s.Name] = true
		if s.Approval != nil {
			gates[s.Name] = true
		}
	}
	if f.Backends != "" && f.Backends != BackendsMocks && f.Backends != BackendsDemo {
		c.at([]any{"backends"}, "backends %q does not exist; allowed: %s, %s", f.Backends, BackendsMocks, BackendsDemo)
	}
	seen := map[string]bool{}
	for i, cs := range f.Cases {
		p := []any{"cases", i}
		f.Cases[i].line = c.line(p...)
		switch b := cmpOr(cs.Backends, f.Backends); {
		case cs.Backends != "" && cs.Backends != BackendsMocks && cs.Backends != BackendsDemo:
			c.at(append(slices.Clone(p), "backends"), "backends %q does not exist; allowed: %s, %s", cs.Backends, BackendsMocks, BackendsDemo)
		case b == BackendsDemo && len(cs.Mocks) > 0:
			c.at(append(slices.Clone(p), "mocks"), "case %q runs on the demo backends (backends: demo) and takes no mocks; drop its mocks or say backends: mocks", cs.Name)
		case b == BackendsDemo:
			f.Cases[i].demo = true
		}
		if cs.Name == "" {
			c.at(p, "case %d has no name", i+1)
		} else if seen[cs.Name] {
			c.at(append(p, "name"), "a case named %q comes earlier; names must differ", cs.Name)
		}
		seen[cs.Name] = true
		f.Cases[i].limit = 400 * 24 * time.Hour
		if cs.Limit != "" {
			v, err := parseDuration(cs.Limit)
			if err != nil || v <= 0 {
				c.at(append(p, "limit"), "limit %q is not a duration; allowed: a Go duration or whole days, such as 72h or 30d", cs.Limit)
			}
			f.Cases[i].limit = v
		}
		ids := map[string]bool{cmpOr(cs.As, DefaultRequester): true}
		for n := range f.Identities {
			ids[n] = true
		}
		for n := range cs.Identities {
			ids[n] = true
		}
		keys := map[string]act{}
		for _, a := range f.acts {
			keys[a.key] = a
		}
		for key, answers := range cs.Mocks {
			mp := append(slices.Clone(p), "mocks", key)
			a, ok := keys[key]
			switch {
			case !ok && steps[key]:
				c.at(mp, "step %s calls no backend (it is an approval, a wait, a guard or a step of actions); it takes no mock. Mock its actions as %s/ACTION", key, key)
				continue
			case !ok:
				c.at(mp, "no step of %s has the key %q; allowed: %s", d.Name, key, strings.Join(actKeys(f.acts), ", "))
				continue
			case a.activity == "":
				c.at(mp, "%s runs in the workflow (%s) and takes no mock", key, a.what)
				continue
			}
			if len(answers) == 0 {
				c.at(mp, "mock %s has no answers; give at least one", key)
			}
			for j, ans := range answers {
				ap := append(slices.Clone(mp), j)
				n := 0
				if ans.Output.Kind != 0 {
					n++
					var v any
					if err := ans.Output.Decode(&v); err != nil {
						c.at(append(ap, "output"), "output: %v", err)
					}
					v = jsonValue(v)
					if err := a.checkOutput(v); err != nil {
						c.at(append(ap, "output"), "output of %s: %v", key, err)
					}
					cs.Mocks[key][j].output = v
				}
				if ans.Error != nil {
					n++
					if ans.Error.Message == "" {
						c.at(append(ap, "error"), "error has no message")
					}
				}
				if ans.Timeout {
					n++
				}
				if n != 1 {
					c.at(ap, "an answer is exactly one of output, error and timeout; this one has %d", n)
				}
				if ans.HTTPStatus != 0 && a.activity != "CallService" {
					c.at(append(ap, "http_status"), "http_status is for call steps; %s is not one", key)
				}
			}
		}
		for j := range cs.Script {
			c.checkScript(append(slices.Clone(p), "script", j), &f.Cases[i].Script[j], d, gates, ids)
		}
		e := &f.Cases[i].Expect
		ep := append(slices.Clone(p), "expect")
		if e.Status != "" && !slices.Contains(workflows.Statuses, workflows.Status(e.Status)) {
			c.at(append(ep, "status"), "status %q does not exist; allowed: %s", e.Status, join(workflows.Statuses))
		}
		for j, m := range e.Steps {
			sp := append(slices.Clone(ep), "steps", j)
			if len(m) != 1 {
				c.at(sp, "each entry of steps is one STEP: STATUS; this one has %d", len(m))
				continue
			}
			for name, n := range m {
				se := stepExpect{name: name}
				if !steps[name] {
					c.at(sp, "%s has no step %q; allowed: %s", d.Name, name, strings.Join(stepNames(d), ", "))
				}
				switch n.Kind {
				case yaml.ScalarNode:
					se.status = n.Value
				case yaml.MappingNode:
					var v struct {
						Status string `yaml:"status"`
						Says   string `yaml:"says"`
					}
					for k := 0; k+1 < len(n.Content); k += 2 {
						if key := n.Content[k].Value; key != "status" && key != "says" {
							c.at(sp, "unknown field %q; allowed: status, says", key)
						}
					}
					if err := n.Decode(&v); err != nil {
						c.at(sp, "%v", err)
					}
					se.status, se.says = v.Status, v.Says
				default:
					c.at(sp, "step %s: give a status or {status, says}", name)
				}
				if !slices.Contains(stepStatuses, workflows.StepStatus(se.status)) {
					c.at(sp, "step status %q does not exist; allowed: %s", se.status, join(stepStatuses))
				}
				e.steps = append(e.steps, se)
			}
		}
		for name := range e.Outputs {
			if _, ok := d.Outputs[name]; !ok && !steps[name] {
				c.at(append(slices.Clone(ep), "outputs", name), "%s has no output or step %q", d.Name, name)
			}
		}
		for j, r := range e.Record {
			if r.Step != "" && !steps[r.Step] {
				c.at(append(slices.Clone(ep), "record", j), "%s has no step %q", d.Name, r.Step)
			}
		}
		for j, n := range e.Notifications {
			if n.Step != "" && !steps[n.Step] {
				c.at(append(slices.Clone(ep), "notifications", j), "%s has no step %q", d.Name, n.Step)
			}
			if !slices.Contains(noticeEvents, n.Event) {
				c.at(append(slices.Clone(ep), "notifications", j), "notification event %q does not exist; allowed: %s", n.Event, strings.Join(noticeEvents, ", "))
			}
		}
		for j, call := range e.Calls {
			cp := append(slices.Clone(ep), "calls", j)
			if _, ok := keys[call.Step]; !ok {
				c.at(cp, "no step of %s has the key %q; allowed: %s", d.Name, call.Step, strings.Join(actKeys(f.acts), ", "))
			}
			if call.Body.Kind != 0 {
				var v any
				if err := call.Body.Decode(&v); err != nil {
					c.at(append(cp, "body"), "body: %v", err)
				}
				e.Calls[j].body = jsonValue(v)
			}
		}
		f.Cases[i].Identities = mergeIdentities(f.Identities, cs.Identities)
	}
}

// noticeEvents are the events of the notices a run asks for.
var noticeEvents = []string{activities.EventGateOpened, activities.EventReminder, activities.EventRunEnded, "input_required", "changes_requested"}

// DefaultRequester is who starts a case's run when it does not say.
const DefaultRequester = "requester"

func (c *checker) checkScript(p []any, s *ScriptStep, d workflows.Definition, gates map[string]bool, ids map[string]bool) {
	s.line = c.line(p...)
	type choice struct {
		action workflows.Action
		gate   string
	}
	var set []choice
	for _, ch := range []choice{{workflows.ActionApprove, s.Approve}, {workflows.ActionReject, s.Reject},
		{workflows.ActionRequestChanges, s.RequestChanges}, {workflows.ActionRevise, s.Revise},
		{workflows.ActionWithdraw, s.Withdraw}, {workflows.ActionReassign, s.Reassign}, {workflows.ActionContinue, s.Continue}} {
		if ch.gate != "" {
			set = append(set, ch)
		}
	}
	n := len(set)
	if s.Advance != "" {
		n++
	}
	if s.Cancel {
		n++
	}
	if s.Event != "" {
		n++
	}
	if n != 1 {
		c.at(p, "a script step is exactly one of approve, reject, request_changes, revise, withdraw, reassign, continue (each naming the gate), event (naming the wait), advance and cancel; this one has %d", n)
		return
	}
	if s.Event == "" {
		for _, f := range []struct {
			set  bool
			name string
		}{{s.Name != "", "name"}, {s.Payload != nil, "payload"}, {s.Callback, "callback"}} {
			if f.set {
				c.at(append(p, f.name), "%s is for event", f.name)
			}
		}
	}
	if s.Event != "" {
		c.checkEvent(p, s, d, ids)
		return
	}
	if s.Advance != "" {
		v, err := parseDuration(s.Advance)
		if err != nil || v <= 0 {
			c.at(append(p, "advance"), "advance %q is not a duration; allowed: a Go duration or whole days, such as 72h or 7d", s.Advance)
		}
		s.advance = v
		return
	}
	if s.Cancel {
		return
	}
	s.action, s.gate = set[0].action, set[0].gate
	steps := stepNames(d)
	switch {
	case s.action == workflows.ActionContinue:
		if !slices.Contains(steps, s.gate) {
			c.at(append(p, string(s.action)), "%s has no step %q; allowed: %s", d.Name, s.gate, strings.Join(steps, ", "))
		}
	case s.action == workflows.ActionReject:
		if !slices.Contains(steps, s.gate) {
			c.at(append(p, string(s.action)), "%s has no step %q; allowed: %s", d.Name, s.gate, strings.Join(steps, ", "))
		}
	case !gates[s.gate]:
		c.at(append(p, string(s.action)), "%s has no gate %q; allowed: %s", d.Name, s.gate, strings.Join(sortedKeys(gates), ", "))
	}
	if s.As == "" {
		c.at(p, "%s at %s: say as whom (as: NAME)", s.action, s.gate)
	} else if !ids[s.As] {
		c.at(append(p, "as"), "identity %q is not declared; allowed: %s (declare it under identities: NAME: [SCOPES])", s.As, strings.Join(sortedKeys(ids), ", "))
	}
	if s.action == workflows.ActionReassign && s.To == nil {
		c.at(p, "reassign at %s: say to whom (to: {approvers: [...], scope: ...})", s.gate)
	}
	if s.To != nil && s.action != workflows.ActionReassign {
		c.at(append(p, "to"), "to is for reassign")
	}
	if len(s.Parameters) > 0 && s.action != workflows.ActionRevise {
		c.at(append(p, "parameters"), "parameters are for revise")
	}
	if len(s.Inputs) > 0 && s.action != workflows.ActionApprove {
		c.at(append(p, "inputs"), "inputs are for approve")
	}
}

// checkEvent checks an event script step: it names an event wait, and who sends it.
func (c *checker) checkEvent(p []any, s *ScriptStep, d workflows.Definition, ids map[string]bool) {
	var waits []string
	for _, st := range d.Steps {
		if st.Wait != nil && st.Wait.Event != "" {
			waits = append(waits, st.Name)
		}
	}
	steps := stepNames(d)
	switch {
	case !slices.Contains(steps, s.Event):
		c.at(append(p, "event"), "%s has no step %q; allowed: %s", d.Name, s.Event, strings.Join(steps, ", "))
	case !slices.Contains(waits, s.Event) && len(waits) == 0:
		c.at(append(p, "event"), "step %s does not wait for an event, and %s has no step that does (wait: {event: NAME})", s.Event, d.Name)
	case !slices.Contains(waits, s.Event):
		c.at(append(p, "event"), "step %s does not wait for an event; allowed: %s", s.Event, strings.Join(waits, ", "))
	}
	switch {
	case s.Callback && s.As != "":
		c.at(append(p, "as"), "an event through the callback URL is sent by no one; give as or callback, not both")
	case s.Callback:
	case s.As == "":
		c.at(p, "event at %s: say as whom (as: NAME), or callback: true to send it through the step's callback URL", s.Event)
	case !ids[s.As]:
		c.at(append(p, "as"), "identity %q is not declared; allowed: %s (declare it under identities: NAME: [SCOPES])", s.As, strings.Join(sortedKeys(ids), ", "))
	}
	for _, f := range []struct {
		set  bool
		name string
	}{{s.Comment != "", "comment"}, {len(s.Inputs) > 0, "inputs"}, {len(s.Parameters) > 0, "parameters"}, {s.To != nil, "to"}} {
		if f.set {
			c.at(append(p, f.name), "%s is not for event; an event carries payload", f.name)
		}
	}
}

// parseDuration reads a Go duration or whole days (7d).
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func mergeIdentities(a, b map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func stepNames(d workflows.Definition) []string {
	out := make([]string, len(d.Steps))
	for i, s := range d.Steps {
		out[i] = s.Name
	}
	return out
}

func join[T ~string](xs []T) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return strings.Join(out, ", ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// jsonValue is v as JSON gives it back: maps of strings, float64 numbers.
func jsonValue(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

// Demo tells whether the case runs against the demo backends (backends: demo).
func (c Case) Demo() bool { return c.demo }
