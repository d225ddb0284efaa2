package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/words"
)

// Definition is a process declared in a file: its parameters, its ordered steps and the
// texts the Temporal UI shows for a run. docs/processes.md is its reference and
// docs/process.schema.json its JSON Schema for editors.
type Definition struct {
	// Name is the process's workflow type, as agents give it to start_workflow.
	Name        string `yaml:"name" json:"name"`
	Title       string `yaml:"title" json:"title"`
	Description string `yaml:"description" json:"description"`
	// Version is a whole number the author raises with each change.
	Version int `yaml:"version" json:"version"`
	// Parameters is a JSON Schema (2020-12) of the run's parameters, an object.
	Parameters map[string]any `yaml:"parameters" json:"parameters"`
	// Summary and Details are templates of the run's summary and details in the UI.
	Summary string `yaml:"summary" json:"summary"`
	Details string `yaml:"details,omitempty" json:"details,omitempty"`
	// Statements are the SQL statements sql steps may run, by name; agents never give SQL.
	Statements map[string]Statement `yaml:"statements,omitempty" json:"statements,omitempty"`
	Steps      []StepDef            `yaml:"steps" json:"steps"`
	// Outputs are the run's named outputs (templates), shown in its record: each is set
	// once every step it names has run.
	Outputs map[string]string `yaml:"outputs,omitempty" json:"outputs,omitempty"`
	// Schedules start runs of the process by themselves, on Temporal Schedules that the
	// server loading the definition keeps equal to them.
	Schedules []ScheduleDef `yaml:"schedules,omitempty" json:"schedules,omitempty"`
}

// Statement is a named, parameterized SQL statement (":name" placeholders).
type Statement struct {
	// Mode is "read" (runs read-only, as execute_query does) or "write" (in a transaction).
	Mode  string `yaml:"mode" json:"mode"`
	Query string `yaml:"query" json:"query"`
}

// StepDef is one step of a definition: exactly one of Call, SQL, File, Builtin, Actions,
// Approval, Wait and Fail.
type StepDef struct {
	Name string `yaml:"name" json:"name"`
	// When is a CEL condition over params, steps and run; a step whose condition is false
	// is skipped, and the record says why.
	When    string       `yaml:"when,omitempty" json:"when,omitempty"`
	Call    *CallStep    `yaml:"call,omitempty" json:"call,omitempty"`
	SQL     *SQLStep     `yaml:"sql,omitempty" json:"sql,omitempty"`
	File    *FileStep    `yaml:"file,omitempty" json:"file,omitempty"`
	Builtin *BuiltinStep `yaml:"builtin,omitempty" json:"builtin,omitempty"`
	// Actions run in order as one step: its output holds each action's by name.
	Actions  []ActionDef   `yaml:"actions,omitempty" json:"actions,omitempty"`
	Approval *ApprovalStep `yaml:"approval,omitempty" json:"approval,omitempty"`
	// Wait holds the run on a durable timer, for a while or until a time.
	Wait *WaitStep `yaml:"wait,omitempty" json:"wait,omitempty"`
	// Fail is a guard: it ends the run failed, with a reason, when its condition holds.
	Fail       *FailStep     `yaml:"fail,omitempty" json:"fail,omitempty"`
	Compensate *Compensation `yaml:"compensate,omitempty" json:"compensate,omitempty"`
	// SkipReason is what the record says when When is false (default: the condition).
	SkipReason string `yaml:"skip_reason,omitempty" json:"skip_reason,omitempty"`
	// Summary is a template naming the step's activity in the UI's timeline.
	Summary string `yaml:"summary,omitempty" json:"summary,omitempty"`
	// Result is a template of what the record says the step did; it may use the step's
	// own output. Default: what ran and how it answered.
	Result string `yaml:"result,omitempty" json:"result,omitempty"`
	// OnFailure is what a failure past the retries does: "wait" (default) for continue
	// or reject, or "fail" to end the run failed at once, undoing what was done.
	OnFailure string `yaml:"on_failure,omitempty" json:"on_failure,omitempty"`
	// Retry overrides the default retry policy of the step's activity.
	Retry *RetryPolicy `yaml:"retry,omitempty" json:"retry,omitempty"`
}

// RetryPolicy is how a step's activity is retried. Unset fields keep the defaults (5
// attempts, 1s doubling up to 30s, 30s per attempt); errors no retry can fix (a 4xx, an
// invalid input, a conflict) are never retried.
type RetryPolicy struct {
	MaximumAttempts    int     `yaml:"maximum_attempts,omitempty" json:"maximum_attempts,omitempty"`
	InitialInterval    string  `yaml:"initial_interval,omitempty" json:"initial_interval,omitempty"`
	MaximumInterval    string  `yaml:"maximum_interval,omitempty" json:"maximum_interval,omitempty"`
	BackoffCoefficient float64 `yaml:"backoff_coefficient,omitempty" json:"backoff_coefficient,omitempty"`
	// Timeout bounds one attempt.
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// CallStep calls a configured gateway service. Service is a name, or a template of one
// parameter ({{params.service}}) whose value must be a configured service.
type CallStep struct {
	Service  string         `yaml:"service" json:"service"`
	Method   string         `yaml:"method" json:"method"`
	Endpoint string         `yaml:"endpoint" json:"endpoint"`
	Body     map[string]any `yaml:"body,omitempty" json:"body,omitempty"`
}

// SQLStep runs a declared statement with arguments (templates) for its placeholders.
type SQLStep struct {
	Statement string            `yaml:"statement" json:"statement"`
	Args      map[string]string `yaml:"args,omitempty" json:"args,omitempty"`
}

// FileStep parses a sandbox file or writes a report into the sandbox.
type FileStep struct {
	// Action is "parse" (Path) or "write_report" (Name and Content).
	Action  string `yaml:"action" json:"action"`
	Path    string `yaml:"path,omitempty" json:"path,omitempty"`
	Name    string `yaml:"name,omitempty" json:"name,omitempty"`
	Content string `yaml:"content,omitempty" json:"content,omitempty"`
}

// BuiltinStep runs one of Flowgate's own operations (Operations lists them) with
// arguments (templates) that its input takes.
type BuiltinStep struct {
	Operation string         `yaml:"operation" json:"operation"`
	Args      map[string]any `yaml:"args,omitempty" json:"args,omitempty"`
}

// ActionDef is one action of a step that does several things at once: exactly one of
// Call, SQL, File and Builtin. A later action may use an earlier one's output as
// {{steps.STEP.output.ACTION}}.
type ActionDef struct {
	Name    string       `yaml:"name" json:"name"`
	Summary string       `yaml:"summary,omitempty" json:"summary,omitempty"`
	Call    *CallStep    `yaml:"call,omitempty" json:"call,omitempty"`
	SQL     *SQLStep     `yaml:"sql,omitempty" json:"sql,omitempty"`
	File    *FileStep    `yaml:"file,omitempty" json:"file,omitempty"`
	Builtin *BuiltinStep `yaml:"builtin,omitempty" json:"builtin,omitempty"`
}

// ApprovalStep is a gate: who may decide, how many distinct approvals it needs, and what
// happens at its deadline.
type ApprovalStep struct {
	// Approvers are API-key names or token subjects; Scope admits anyone holding it.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	Scope     string   `yaml:"scope,omitempty" json:"scope,omitempty"`
	// Quorum is how many distinct approvals open the gate (default 1).
	Quorum int `yaml:"quorum,omitempty" json:"quorum,omitempty"`
	// SeparationOfDuties refuses the requester's own approval (default true).
	SeparationOfDuties *bool  `yaml:"separation_of_duties,omitempty" json:"separation_of_duties,omitempty"`
	Deadline           string `yaml:"deadline,omitempty" json:"deadline,omitempty"`
	// OnTimeout is "reject" (default) or "escalate" (to Escalate, with a new deadline).
	OnTimeout string      `yaml:"on_timeout,omitempty" json:"on_timeout,omitempty"`
	Escalate  *Escalation `yaml:"escalate,omitempty" json:"escalate,omitempty"`
	// Reminder is how long before the deadline approvers are reminded.
	Reminder string `yaml:"reminder,omitempty" json:"reminder,omitempty"`
	// Inputs is what an approve carries: a JSON Schema object of primitive fields, which
	// later steps read as steps.GATE.output.inputs.FIELD.
	Inputs map[string]any `yaml:"inputs,omitempty" json:"inputs,omitempty"`
	// Rules are CEL conditions over inputs and params that an approve's inputs must meet.
	Rules []InputRule `yaml:"rules,omitempty" json:"rules,omitempty"`
	// RejectNeedsReason refuses a reject without a comment saying why.
	RejectNeedsReason bool `yaml:"reject_needs_reason,omitempty" json:"reject_needs_reason,omitempty"`
	// Changes lets approvers send the run back to its requester with what to change.
	Changes *ChangesStep `yaml:"changes,omitempty" json:"changes,omitempty"`
	// OrEvent lets an event end the gate as an approve would, whichever comes first
	// (firstof.go); the gate's deadline is the event's.
	OrEvent *GateEvent `yaml:"or_event,omitempty" json:"or_event,omitempty"`
}

// Escalation is the second group a gate opens to when its first deadline passes.
type Escalation struct {
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	Scope     string   `yaml:"scope,omitempty" json:"scope,omitempty"`
	Deadline  string   `yaml:"deadline" json:"deadline"`
}

// Compensation undoes a completed step: a call, a sql statement or a builtin operation.
type Compensation struct {
	Call    *CallStep    `yaml:"call,omitempty" json:"call,omitempty"`
	SQL     *SQLStep     `yaml:"sql,omitempty" json:"sql,omitempty"`
	Builtin *BuiltinStep `yaml:"builtin,omitempty" json:"builtin,omitempty"`
	// Summary is a template naming the undo in the UI's timeline and the record.
	Summary string `yaml:"summary,omitempty" json:"summary,omitempty"`
}

// ServiceParams are the parameters whose values name the gateway service of a call step
// or compensation ({{params.NAME}} as its service): a start must give configured services.
func (d Definition) ServiceParams() []string {
	var out []string
	for _, c := range d.Calls() {
		if m := template.FindStringSubmatch(c.Service); m != nil {
			if name, ok := strings.CutPrefix(m[1], "params."); ok && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// FileParams are the parameters whose value is, whole, the path of a file a step parses
// ({{params.manifest}}), in order: a start may check that the file exists.
func (d Definition) FileParams() []string {
	var out []string
	add := func(f *FileStep) {
		if f == nil || f.Action != "parse" {
			return
		}
		if m := template.FindStringSubmatch(f.Path); m != nil && m[0] == strings.TrimSpace(f.Path) {
			if name, ok := strings.CutPrefix(m[1], "params."); ok && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	for _, s := range d.Steps {
		add(s.File)
		for _, a := range s.Actions {
			add(a.File)
		}
	}
	return out
}

// Calls are the gateway calls the definition may make: of its steps, their actions and
// their compensations, in order.
func (d Definition) Calls() []CallStep {
	var out []CallStep
	add := func(c *CallStep) {
		if c != nil {
			out = append(out, *c)
		}
	}
	for _, s := range d.Steps {
		add(s.Call)
		for _, a := range s.Actions {
			add(a.Call)
		}
		if s.Compensate != nil {
			add(s.Compensate.Call)
		}
	}
	return out
}

// Makes tells whether c may call method endpoint of service once its templates are
// filled: a templated service matches any service, and each template in the endpoint
// matches one path segment or more.
func (c CallStep) Makes(service, method, endpoint string) bool {
	if !strings.EqualFold(c.Method, method) {
		return false
	}
	if c.Service != service && !template.MatchString(c.Service) {
		return false
	}
	parts := template.Split(strings.Trim(c.Endpoint, "/"), -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	pattern := "^" + strings.Join(parts, "[^?]+") + "$"
	ok, _ := regexp.MatchString(pattern, strings.Trim(strings.SplitN(endpoint, "?", 2)[0], "/"))
	return ok
}

// DefinitionRules are what a definition is checked against besides its own consistency.
type DefinitionRules struct {
	// Services are the gateway services call steps may name; empty allows the demo ones.
	Services []string
	// AnyService accepts any service name (a worker checking a run's definition does not
	// know the services the server that loaded it was configured with).
	AnyService bool
	// AnyTimezone leaves schedules' time zones unchecked: a worker checking a run's
	// definition starts no schedule, and its zone database may differ from the server's.
	AnyTimezone bool
}

var (
	definitionName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	placeholder    = regexp.MustCompile(`(^|[^:]):([a-z_][a-z0-9_]*)`)
	template       = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	templateRef    = regexp.MustCompile(`^(params\.[A-Za-z_][A-Za-z0-9_]*|steps\.[a-z][a-z0-9_]*\.output(\.[A-Za-z_][A-Za-z0-9_]*)*|steps\.[a-z][a-z0-9_]*\.callback_url|run\.(id|key|requested_by))$`)
	unknownField   = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\S+)`)
	yamlLine       = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// ParseDefinition reads and checks one definition file. Every problem is reported, each as
// "file:line: what is wrong; allowed: what is", joined in one error; nothing invalid is
// returned.
func ParseDefinition(file string, data []byte, rules DefinitionRules) (Definition, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Definition{}, yamlError(file, err, nil)
	}
	var d Definition
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return Definition{}, yamlError(file, err, &root)
	}
	c := &checker{file: file, root: &root, rules: rules}
	c.check(d)
	if len(c.problems) > 0 {
		return Definition{}, errors.Join(c.problems...)
	}
	return d, nil
}

// yamlError names the file and line of a YAML syntax, type or unknown-field error, and
// says what is allowed there: the fields of the declaration (an unknown field), or the
// kind of value (a value of the wrong type). root, when set, finds the field a line holds.
func yamlError(file string, err error, root *yaml.Node) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []error
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				allowed := "the fields docs/processes.md lists (a step kind is one of " + strings.Join(StepKinds, ", ") + ")"
				if fields := declarationFields[m[3]]; fields != nil {
					allowed = strings.Join(fields, ", ")
				}
				out = append(out, fmt.Errorf("%s:%s: unknown field %q; allowed: %s", file, m[1], m[2], allowed))
				continue
			}
			if m := wrongType.FindStringSubmatch(e); m != nil {
				line, _ := strconv.Atoi(m[1])
				field := keyAt(root, line)
				if field == "" {
					field = "this value"
				}
				out = append(out, fmt.Errorf("%s:%s: %s: %s is not %s; allowed: %s", file, m[1], field, m[2], goKind(m[3]), goKind(m[3])))
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

// wrongType is a YAML error of a value of the wrong type: its line, the value, the type.
var wrongType = regexp.MustCompile(`^line (\d+): cannot unmarshal !!\w+ (.*) into (\S+)$`)

// goKind says a Go type of a definition's field as a kind of YAML value.
func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "text"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	}
	return "a mapping of fields"
}

// keyAt is the mapping key whose value starts on line, "" when none does.
func keyAt(n *yaml.Node, line int) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i+1].Line == line && n.Content[i+1].Kind == yaml.ScalarNode {
				return n.Content[i].Value
			}
		}
	}
	for _, c := range n.Content {
		if k := keyAt(c, line); k != "" {
			return k
		}
	}
	return ""
}

// declarationFields are the fields of each declaration a definition holds, by the Go type
// name YAML's errors give: what an unknown field's error offers instead.
var declarationFields = func() map[string][]string {
	out := map[string][]string{}
	for _, t := range []reflect.Type{reflect.TypeFor[Definition](), reflect.TypeFor[StepDef](), reflect.TypeFor[ActionDef](),
		reflect.TypeFor[CallStep](), reflect.TypeFor[SQLStep](), reflect.TypeFor[FileStep](), reflect.TypeFor[BuiltinStep](),
		reflect.TypeFor[ApprovalStep](), reflect.TypeFor[InputRule](), reflect.TypeFor[ChangesStep](), reflect.TypeFor[Escalation](), reflect.TypeFor[Compensation](), reflect.TypeFor[RetryPolicy](),
		reflect.TypeFor[Statement](), reflect.TypeFor[WaitStep](), reflect.TypeFor[FailStep](), reflect.TypeFor[ScheduleDef]()} {
		var fields []string
		for f := range t.Fields() {
			fields = append(fields, strings.Split(f.Tag.Get("yaml"), ",")[0])
		}
		out["workflows."+t.Name()] = fields
	}
	return out
}()

// checker collects a definition's problems with the line each one is at.
type checker struct {
	file     string
	root     *yaml.Node
	rules    DefinitionRules
	env      *cel.Env
	problems []error
	// statements are the definition's, which sql acts name.
	statements map[string]Statement
	// schema is the parameter schema as JSON gives it, for the cost estimates' sizes.
	schema map[string]any
	// events are the steps that wait for an event.
	events map[string]bool
}

// at records a problem at the node path (mapping keys and sequence indexes) names.
func (c *checker) at(path []any, format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf("%s:%d: %s", c.file, c.line(path), fmt.Sprintf(format, args...)))
}

// line finds the line of the deepest node on path that exists.
func (c *checker) line(path []any) int { return NodeLine(c.root, path) }

// NodeLine is the line of the deepest node of a YAML document on path (mapping keys as
// strings, sequence indexes as ints) that exists: where an error about path points.
func NodeLine(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch key := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == key {
						line, next = n.Content[i].Line, n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && key < len(n.Content) {
				next = n.Content[key]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

func (c *checker) check(d Definition) {
	if !definitionName.MatchString(d.Name) {
		c.at([]any{"name"}, "name %q is not a process name; allowed: lowercase letters, digits and '_', starting with a letter (it becomes the workflow type)", d.Name)
	}
	if strings.TrimSpace(d.Title) == "" {
		c.at([]any{"title"}, "title is empty; allowed: a short title people read in lists")
	}
	if d.Version < 1 {
		c.at([]any{"version"}, "version %d; allowed: a whole number from 1, raised with each change", d.Version)
	}
	params := c.checkParameters(d.Parameters)
	c.schema, _ = jsonValue(d.Parameters).(map[string]any)
	if len(d.Steps) == 0 {
		c.at([]any{"steps"}, "no steps; allowed: a list of steps, each one of %s", strings.Join(StepKinds, ", "))
	}
	c.checkStatements(d.Statements)
	c.statements = d.Statements
	env := c.celEnv()
	c.env = env
	c.events = map[string]bool{}
	for _, name := range orEventSteps(d) {
		c.events[name] = true
	}
	seen := map[string]int{}
	for i, s := range d.Steps {
		path := []any{"steps", i}
		switch {
		case !definitionName.MatchString(s.Name):
			c.at(append(path, "name"), "step name %q; allowed: lowercase letters, digits and '_', starting with a letter", s.Name)
		case seen[s.Name] > 0:
			c.at(append(path, "name"), "step %q is declared twice (first as step %d); allowed: one step per name", s.Name, seen[s.Name])
		}
		earlier := stepSet(seen)
		seen[s.Name] = i + 1
		switch kinds := s.kinds(); len(kinds) {
		case 0:
			c.at(path, "step %q has no kind; allowed: exactly one of %s", s.Name, strings.Join(StepKinds, ", "))
		case 1:
		default:
			c.at(path, "step %q has several kinds (%s); allowed: exactly one of %s", s.Name, strings.Join(kinds, ", "), strings.Join(StepKinds, ", "))
		}
		refs := refChecker{c: c, params: params, earlier: earlier, step: s.Name, events: c.events}
		if s.When != "" {
			c.checkCondition(env, append(path, "when"), s.When)
			refs.expression(append(path, "when"), s.When)
		}
		c.checkAct(path, s.act(), refs)
		if s.Actions != nil {
			c.checkActions(append(path, "actions"), s, refs)
		}
		if s.Approval != nil {
			c.checkApproval(append(path, "approval"), *s.Approval)
			c.checkInputs(append(path, "approval"), *s.Approval)
			c.checkOrEvent(append(path, "approval"), *s.Approval)
			c.checkChanges(append(path, "approval"), *s.Approval, params, d.ServiceParams())
		}
		if s.Wait != nil {
			c.checkWait(append(path, "wait"), *s.Wait, refs)
		}
		if s.Fail != nil {
			c.checkGuard(append(path, "fail"), *s.Fail, refs)
		}
		if kind := s.passive(); kind != "" && s.Compensate != nil {
			c.at(append(path, "compensate"), "%s step %q cannot be compensated: it does nothing to undo; allowed: compensate on the steps that do something", kind, s.Name)
		}
		c.checkStepExtras(path, s, refs)
		if comp := s.Compensate; comp != nil {
			cpath := append(path, "compensate")
			// A compensation may use the step's own output: the step has completed by then.
			refs.earlier, refs.step = stepSet(seen), ""
			refs.templates(append(cpath, "summary"), comp.Summary)
			undoes := actKindNames(true)
			if kinds := comp.act().kinds(); len(kinds) != 1 {
				c.at(cpath, "compensate of step %q needs exactly one of %s", s.Name, strings.Join(undoes, ", "))
			}
			c.checkAct(cpath, comp.act(), refs)
		}
	}
	refs := refChecker{c: c, params: params, earlier: stepSet(seen)}
	for name, tmpl := range d.Outputs {
		if !definitionName.MatchString(name) {
			c.at([]any{"outputs", name}, "output name %q; allowed: lowercase letters, digits and '_', starting with a letter", name)
		}
		refs.templates([]any{"outputs", name}, tmpl)
	}
	refs.templates([]any{"summary"}, d.Summary)
	refs.templates([]any{"details"}, d.Details)
	if strings.TrimSpace(d.Summary) == "" {
		c.at([]any{"summary"}, "summary is empty; allowed: a template such as \"Refund {{params.amount_cents}} on {{params.order_id}}\"")
	}
	c.checkSchedules(d)
}

// checkSchedules checks each schedule (ScheduleDef.Problems), its time zone and its params
// against the parameter schema, each problem at its own field.
func (c *checker) checkSchedules(d Definition) {
	var schema *ParamSchema
	if len(d.Schedules) > 0 {
		schema, _ = CompileParams(d) // a schema that does not compile is reported already
	}
	seen := map[string]bool{}
	for i, s := range d.Schedules {
		path := []any{"schedules", i}
		for _, p := range s.Problems() {
			c.at(append(slices.Clone(path), p.Field), "%s", p.Error())
		}
		if seen[s.Name] {
			c.at(append(slices.Clone(path), "name"), "name: schedule %q is declared twice; allowed: one schedule per name", s.Name)
		}
		seen[s.Name] = true
		if !c.rules.AnyTimezone {
			if p := CheckTimezone(s.Timezone); p != nil {
				c.at(append(slices.Clone(path), "timezone"), "%s", p.Error())
			}
		}
		if schema != nil {
			raw, err := json.Marshal(jsonValue(s.Params))
			if err == nil && s.Params == nil {
				raw = []byte("{}")
			}
			if err != nil {
				c.at(append(slices.Clone(path), "params"), "params: %v", err)
			} else if _, err := schema.Check(raw); err != nil {
				c.at(append(slices.Clone(path), "params"), "params of schedule %q: %v", s.Name, err)
			}
		}
	}
}

// checkStepExtras checks what any step may add: skip_reason, summary, result, on_failure
// and retry.
func (c *checker) checkStepExtras(path []any, s StepDef, refs refChecker) {
	if s.SkipReason != "" && s.When == "" {
		c.at(append(path, "skip_reason"), "skip_reason without when; allowed: skip_reason with a when condition")
	}
	refs.templates(append(path, "skip_reason"), s.SkipReason)
	refs.templates(append(path, "summary"), s.Summary)
	if kind := s.passive(); kind != "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"result", s.Result != ""}, {"on_failure", s.OnFailure != ""}, {"retry", s.Retry != nil}, {"summary", s.Summary != "" && kind != "wait"}} {
			if f.set {
				c.at(append(path, f.name), "%s step %q cannot have %s; allowed: %s on the steps that do something", kind, s.Name, f.name, f.name)
			}
		}
	}
	// A step's result may use its own output.
	self := refs
	self.earlier, self.step = maps.Clone(refs.earlier), ""
	self.earlier[s.Name] = true
	self.templates(append(path, "result"), s.Result)
	switch s.OnFailure {
	case "", "wait", "fail":
	default:
		c.at(append(path, "on_failure"), "on_failure %q; allowed: wait (for continue or reject), fail (end the run failed)", s.OnFailure)
	}
	if r := s.Retry; r != nil {
		rpath := append(path, "retry")
		if r.MaximumAttempts < 0 || r.MaximumAttempts > 100 {
			c.at(append(rpath, "maximum_attempts"), "maximum_attempts %d; allowed: 1 to 100 (0 keeps the default of 5)", r.MaximumAttempts)
		}
		if r.BackoffCoefficient != 0 && (r.BackoffCoefficient < 1 || r.BackoffCoefficient > 10) {
			c.at(append(rpath, "backoff_coefficient"), "backoff_coefficient %v; allowed: 1 to 10", r.BackoffCoefficient)
		}
		c.duration(append(rpath, "initial_interval"), r.InitialInterval, 0)
		c.duration(append(rpath, "maximum_interval"), r.MaximumInterval, 0)
		c.duration(append(rpath, "timeout"), r.Timeout, 0)
	}
}

func stepSet(m map[string]int) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// checkParameters compiles the parameter schema and returns its property names.
func (c *checker) checkParameters(schema map[string]any) map[string]bool {
	path := []any{"parameters"}
	props := map[string]bool{}
	if schema == nil {
		c.at(path, "parameters is missing; allowed: a JSON Schema of type object (use {type: object} for none)")
		return props
	}
	if schema["type"] != "object" {
		c.at(path, "parameters has type %v; allowed: a JSON Schema of type object", schema["type"])
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	if err := comp.AddResource("parameters.json", jsonValue(schema)); err != nil {
		c.at(path, "parameters is not a JSON Schema: %v", err)
		return props
	}
	if _, err := comp.Compile("parameters.json"); err != nil {
		c.at(path, "parameters is not a valid JSON Schema (2020-12): %s", words.FirstLine(err.Error()))
	}
	if p, ok := schema["properties"].(map[string]any); ok {
		for name := range p {
			props[name] = true
		}
	}
	return props
}

// jsonValue turns what YAML decoded into what a JSON decoder would give (float64
// numbers), as the schema compiler expects.
func jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = jsonValue(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = jsonValue(val)
		}
		return out
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return v
}

func (c *checker) checkStatements(stmts map[string]Statement) {
	for name, st := range stmts {
		path := []any{"statements", name}
		switch st.Mode {
		case "read":
			// Placeholders stand where values go; the guard sees a literal there.
			if err := activities.CheckReadOnlySQL(placeholder.ReplaceAllString(st.Query, "${1}NULL")); err != nil {
				c.at(append(path, "query"), "statement %q is marked read but is not read-only: %s; allowed: one SELECT, or mark it write", name, errorText(err))
			}
		case "write":
			if strings.TrimSpace(st.Query) == "" {
				c.at(append(path, "query"), "statement %q is empty", name)
			}
		default:
			c.at(append(path, "mode"), "statement %q has mode %q; allowed: read, write", name, st.Mode)
		}
	}
}

func errorText(err error) string {
	var pe interface{ Message() string }
	if errors.As(err, &pe) {
		return pe.Message()
	}
	return err.Error()
}

// celEnv is the environment conditions and expression templates are checked in: the one
// the interpreter evaluates them in.
func (c *checker) celEnv() *cel.Env { return conditionEnv() }

// checkCondition compiles a CEL condition and requires it to be boolean and, at worst,
// within ConditionCostLimit.
func (c *checker) checkCondition(env *cel.Env, path []any, expr string) {
	ast, issues := env.Compile(expr)
	if issues != nil && issues.Err() != nil {
		c.at(path, "condition %q does not compile: %s; allowed: a CEL expression over params, steps and run", expr, strings.ReplaceAll(issues.Err().Error(), "\n", " "))
		return
	}
	if !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
		c.at(path, "condition %q is of type %s; allowed: a boolean CEL expression", expr, ast.OutputType())
	}
	if msg := costProblem(env, ast, c.schema, fmt.Sprintf("condition %q", expr)); msg != "" {
		c.at(path, "%s", msg)
	}
}

// checkAct checks the declaration of each kind a sets, each at its own field under path.
func (c *checker) checkAct(path []any, a act, refs refChecker) {
	for _, k := range actKinds {
		if k.set(a) {
			k.check(c, append(slices.Clone(path), k.name), a, refs)
		}
	}
}

func (c *checker) checkCall(path []any, call CallStep, refs refChecker) {
	services := c.rules.Services
	if len(services) == 0 {
		services = activities.DefaultServiceNames
	}
	switch m := template.FindStringSubmatch(call.Service); {
	case m != nil && m[0] == call.Service && strings.HasPrefix(m[1], "params.") && templateRef.MatchString(m[1]):
		// A parameter names the service: every start is checked against the configured ones.
		refs.templates(append(path, "service"), call.Service)
	case m != nil:
		c.at(append(path, "service"), "service %q; allowed: a configured service (%s) or one parameter, such as {{params.service}}", call.Service, strings.Join(services, ", "))
	case !c.rules.AnyService && !slices.Contains(services, call.Service):
		c.at(append(path, "service"), "service %q is not configured; allowed: %s", call.Service, strings.Join(services, ", "))
	}
	if call.Method != "GET" && call.Method != "POST" {
		c.at(append(path, "method"), "method %q; allowed: GET, POST", call.Method)
	}
	static := template.ReplaceAllString(call.Endpoint, "x")
	if static == "" || strings.HasPrefix(static, "/") || strings.Contains(static, "://") || slices.Contains(strings.Split(static, "/"), "..") {
		c.at(append(path, "endpoint"), "endpoint %q; allowed: a path relative to the service, without scheme, host or '..'", call.Endpoint)
	}
	refs.templates(append(path, "endpoint"), call.Endpoint)
	refs.value(append(path, "body"), call.Body)
}

func (c *checker) checkSQL(path []any, step SQLStep, refs refChecker) {
	stmts := c.statements
	st, ok := stmts[step.Statement]
	if !ok {
		names := make([]string, 0, len(stmts))
		for n := range stmts {
			names = append(names, n)
		}
		slices.Sort(names)
		c.at(append(path, "statement"), "statement %q is not declared; allowed: %s (declare it under statements)", step.Statement, strings.Join(names, ", "))
		return
	}
	want := map[string]bool{}
	for _, name := range activities.Placeholders(st.Query) {
		want[name] = true
	}
	for name := range want {
		if _, ok := step.Args[name]; !ok && name != activities.NowPlaceholder {
			c.at(append(path, "args"), "statement %q needs :%s; allowed: an args entry for every placeholder", step.Statement, name)
		}
	}
	for name, v := range step.Args {
		if !want[name] {
			c.at(append(path, "args", name), "statement %q has no :%s placeholder", step.Statement, name)
		}
		refs.templates(append(path, "args", name), v)
	}
}

func (c *checker) checkFile(path []any, f FileStep, refs refChecker) {
	switch f.Action {
	case "parse":
		static := template.ReplaceAllString(f.Path, "x")
		if _, err := activities.CleanSandboxPath("path", static); err != nil {
			c.at(append(path, "path"), "%s", errorText(err))
		}
		refs.templates(append(path, "path"), f.Path)
	case "write_report":
		if strings.TrimSpace(f.Name) == "" {
			c.at(append(path, "name"), "write_report needs a name; allowed: a file name template such as \"refund-{{run.id}}.md\"")
		}
		refs.templates(append(path, "name"), f.Name)
		refs.templates(append(path, "content"), f.Content)
	default:
		c.at(append(path, "action"), "file action %q; allowed: parse, write_report", f.Action)
	}
}

func (c *checker) checkBuiltin(path []any, b BuiltinStep, refs refChecker) {
	op, ok := operations[b.Operation]
	if !ok {
		c.at(append(path, "operation"), "operation %q is not one of Flowgate's; allowed: %s", b.Operation, strings.Join(operationNames(), ", "))
		return
	}
	takes := op.arguments()
	for _, name := range slices.Sorted(maps.Keys(b.Args)) {
		if !slices.Contains(takes, name) {
			c.at(append(path, "args", name), "operation %s takes no argument %q; allowed: %s", b.Operation, name, strings.Join(takes, ", "))
		}
		refs.value(append(path, "args", name), b.Args[name])
	}
	for _, name := range op.required {
		if _, ok := b.Args[name]; !ok {
			c.at(append(path, "args"), "operation %s needs the argument %s; allowed: args with %s", b.Operation, name, strings.Join(op.required, ", "))
		}
	}
}

// checkActions checks the actions of a step: each named once and of one kind; an action
// may use the output of the actions before it.
func (c *checker) checkActions(path []any, s StepDef, refs refChecker) {
	if len(s.Actions) == 0 {
		c.at(path, "step %q has no actions; allowed: a list of call, sql, file and builtin actions", s.Name)
	}
	refs.selfActions = map[string]bool{}
	for i, a := range s.Actions {
		apath := append(slices.Clone(path), i)
		switch {
		case !definitionName.MatchString(a.Name):
			c.at(append(apath, "name"), "action name %q; allowed: lowercase letters, digits and '_', starting with a letter", a.Name)
		case refs.selfActions[a.Name]:
			c.at(append(apath, "name"), "action %q is declared twice in step %q; allowed: one action per name", a.Name, s.Name)
		}
		switch kinds := a.act().kinds(); len(kinds) {
		case 0:
			c.at(apath, "action %q has no kind; allowed: exactly one of %s", a.Name, strings.Join(actKindNames(false), ", "))
		case 1:
		default:
			c.at(apath, "action %q has several kinds (%s); allowed: exactly one of %s", a.Name, strings.Join(kinds, ", "), strings.Join(actKindNames(false), ", "))
		}
		refs.templates(append(apath, "summary"), a.Summary)
		c.checkAct(apath, a.act(), refs)
		refs.selfActions = maps.Clone(refs.selfActions)
		refs.selfActions[a.Name] = true
	}
}

func (c *checker) checkApproval(path []any, a ApprovalStep) {
	if len(a.Approvers) == 0 && a.Scope == "" {
		c.at(path, "approval names nobody who may decide; allowed: approvers (API-key names or token subjects) and/or scope")
	}
	distinct := c.checkNames(append(path, "approvers"), a.Approvers)
	c.checkScope(append(path, "scope"), a.Scope)
	quorum := max(a.Quorum, 1)
	if a.Quorum < 0 {
		c.at(append(path, "quorum"), "quorum %d; allowed: 1 or more", a.Quorum)
	}
	if len(a.Approvers) > 0 && a.Scope == "" && quorum > distinct {
		c.at(append(path, "quorum"), "quorum %d is larger than the %d approvers; allowed: at most %d, or a scope", quorum, distinct, distinct)
	}
	deadline := c.duration(append(path, "deadline"), a.Deadline, DefaultApprovalTimeout)
	if a.Reminder != "" {
		if r := c.duration(append(path, "reminder"), a.Reminder, 0); r >= deadline {
			c.at(append(path, "reminder"), "reminder %s before a deadline of %s would come before the gate opens; allowed: less than the deadline", a.Reminder, deadline)
		}
	}
	switch a.OnTimeout {
	case "", "reject":
		if a.Escalate != nil {
			c.at(append(path, "escalate"), "escalate is set but on_timeout is not escalate; allowed: on_timeout: escalate with it")
		}
	case "escalate":
		if a.Escalate == nil {
			c.at(append(path, "on_timeout"), "on_timeout escalate needs escalate: {approvers or scope, deadline}")
			break
		}
		c.checkNames(append(path, "escalate", "approvers"), a.Escalate.Approvers)
		c.checkScope(append(path, "escalate", "scope"), a.Escalate.Scope)
		if len(a.Escalate.Approvers) == 0 && a.Escalate.Scope == "" {
			c.at(append(path, "escalate"), "escalate names nobody; allowed: approvers and/or scope")
		}
		if a.Escalate.Deadline == "" {
			c.at(append(path, "escalate"), "escalate needs its own deadline, such as 24h")
		} else {
			c.duration(append(path, "escalate", "deadline"), a.Escalate.Deadline, 0)
		}
	default:
		c.at(append(path, "on_timeout"), "on_timeout %q; allowed: reject, escalate", a.OnTimeout)
	}
}

// checkNames refuses approver names CheckName refuses and names listed twice (compared
// as a quorum counts them: without case); it returns how many distinct names there are.
func (c *checker) checkNames(path []any, names []string) int {
	seen := map[string]string{}
	for i, name := range names {
		if err := CheckName("approver", name); err != nil {
			c.at(append(slices.Clone(path), i), "%v", err)
			continue
		}
		key := actorKey(name)
		if first, dup := seen[key]; dup {
			c.at(append(slices.Clone(path), i), "approver %q is listed twice (as %q): a quorum counts one person once, whatever the case of their name; allowed: each approver once", name, first)
			continue
		}
		seen[key] = name
	}
	return len(seen)
}

// checkScope refuses a scope CheckName refuses.
func (c *checker) checkScope(path []any, scope string) {
	if scope == "" {
		return
	}
	if err := CheckName("scope", scope); err != nil {
		c.at(path, "%v", err)
	}
}

// duration parses a Go duration between 1s and a year, or returns def when empty.
func (c *checker) duration(path []any, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 365*24*time.Hour {
		c.at(path, "%q is not a duration from 1s to 8760h; allowed: a Go duration such as 72h or 30m", s)
		return def
	}
	return d
}

// refChecker checks the references in templates and conditions: a parameter the schema
// declares, a step that comes earlier, or the run's id and requester.
type refChecker struct {
	c       *checker
	params  map[string]bool
	earlier map[string]bool
	step    string
	// selfActions are the actions of the step itself that ran before: their outputs may be
	// named as steps.STEP.output.ACTION.
	selfActions map[string]bool
	// events are the definition's event waits, whose steps.WAIT.callback_url any step may
	// name (earlier ones too: it is made before the step that names it runs); nil where
	// no step is rendered (the definition's summary, details and outputs).
	events map[string]bool
}

// templates checks every {{ … }} in s.
func (r refChecker) templates(path []any, s string) {
	for _, m := range template.FindAllStringSubmatch(s, -1) {
		ref := m[1]
		if templateRef.MatchString(ref) {
			r.ref(path, ref)
			continue
		}
		// Anything else is a CEL expression over params, steps and run.
		ast, issues := r.c.env.Compile(ref)
		if issues != nil && issues.Err() != nil {
			r.c.at(path, "template {{%s}} is neither a reference nor a CEL expression (%s); allowed: {{params.NAME}}, {{steps.STEP.output}} or {{steps.STEP.output.FIELD}}, {{run.id}}, {{run.key}}, {{run.requested_by}}, or a CEL expression over params, steps and run", ref, strings.ReplaceAll(issues.Err().Error(), "\n", " "))
			continue
		}
		if msg := costProblem(r.c.env, ast, r.c.schema, "template {{"+ref+"}}"); msg != "" {
			r.c.at(path, "%s", msg)
		}
		r.expression(path, ref)
	}
}

// expression checks the params.X and steps.Y references of a CEL condition.
func (r refChecker) expression(path []any, expr string) {
	for _, m := range regexp.MustCompile(`\b(params|steps)\.([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(expr, -1) {
		r.ref(path, m[1]+"."+m[2])
	}
}

func (r refChecker) ref(path []any, ref string) {
	parts := strings.Split(ref, ".")
	switch parts[0] {
	case "params":
		if !r.params[parts[1]] {
			r.c.at(path, "%s names a parameter the schema does not declare; allowed: %s", ref, strings.Join(sortedKeys(r.params), ", "))
		}
	case "steps":
		switch {
		case len(parts) == 3 && parts[2] == "callback_url":
			if !r.events[parts[1]] {
				r.c.at(path, "%s names no wait for an event; allowed: the callback_url of a step with wait: {event: …} (%s), in a step", ref, strings.Join(sortedKeys(r.c.events), ", "))
			}
		case parts[1] == r.step && len(parts) >= 4 && parts[2] == "output" && r.selfActions[parts[3]]:
		case parts[1] == r.step:
			r.c.at(path, "%s refers to the step itself; allowed: a step that comes earlier", ref)
		case !r.earlier[parts[1]]:
			r.c.at(path, "%s refers to a step that does not exist or comes later; allowed: %s", ref, strings.Join(sortedKeys(r.earlier), ", "))
		}
	}
}

// value checks the templates in every string of a JSON body.
func (r refChecker) value(path []any, v any) {
	switch x := v.(type) {
	case string:
		r.templates(path, x)
	case map[string]any:
		for k, val := range x {
			r.value(append(slices.Clone(path), k), val)
		}
	case []any:
		for i, val := range x {
			r.value(append(slices.Clone(path), i), val)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}
