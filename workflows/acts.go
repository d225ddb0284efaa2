package workflows

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/words"
)

// act is one thing a step, one of its actions or an undo does: exactly one field is set,
// and actKinds says what each means.
type act struct {
	call    *CallStep
	sql     *SQLStep
	file    *FileStep
	builtin *BuiltinStep
}

// actKind is a registered kind of act: the field that declares it, and how it is
// checked, run and described. The checker, the interpreter, describe_process and the
// editor schema's test all read actKinds, so a new kind is one entry here.
type actKind struct {
	// name is the field that declares the kind in a definition.
	name string
	// set tells whether a is of this kind.
	set func(a act) bool
	// undoes tells whether the kind may undo a step (compensate).
	undoes bool
	// check records the problems of a's declaration at path.
	check func(c *checker, path []any, a act, refs refChecker)
	// run does a for the run; key names it for idempotency. It returns the output later
	// steps see and what the record says it did.
	run func(ip *interpreter, ctx workflow.Context, key string, spec activitySpec, a act) (any, string, error)
	// describe says in words what a does, for describe_process.
	describe func(d Definition, a act) string
}

// actKinds are the kinds of act, in the order errors and the editor list them.
var actKinds = []actKind{
	{
		name: "call", undoes: true,
		set:   func(a act) bool { return a.call != nil },
		check: func(c *checker, path []any, a act, refs refChecker) { c.checkCall(path, *a.call, refs) },
		run: func(ip *interpreter, ctx workflow.Context, key string, spec activitySpec, a act) (any, string, error) {
			return ip.call(ctx, key, spec, *a.call)
		},
		describe: func(_ Definition, a act) string {
			return fmt.Sprintf("%s %s on service %s", a.call.Method, a.call.Endpoint, a.call.Service)
		},
	},
	{
		name: "sql", undoes: true,
		set:   func(a act) bool { return a.sql != nil },
		check: func(c *checker, path []any, a act, refs refChecker) { c.checkSQL(path, *a.sql, refs) },
		run: func(ip *interpreter, ctx workflow.Context, key string, spec activitySpec, a act) (any, string, error) {
			return ip.statement(ctx, key, spec, *a.sql)
		},
		describe: func(d Definition, a act) string {
			return fmt.Sprintf("run the %s statement %s", d.Statements[a.sql.Statement].Mode, a.sql.Statement)
		},
	},
	{
		name:  "file",
		set:   func(a act) bool { return a.file != nil },
		check: func(c *checker, path []any, a act, refs refChecker) { c.checkFile(path, *a.file, refs) },
		run: func(ip *interpreter, ctx workflow.Context, _ string, spec activitySpec, a act) (any, string, error) {
			return ip.file(ctx, spec, *a.file)
		},
		describe: func(_ Definition, a act) string {
			if a.file.Action == "parse" {
				return "parse the sandbox file " + a.file.Path
			}
			return "write the report " + a.file.Name + " into the sandbox"
		},
	},
	{
		name: "builtin", undoes: true,
		set:   func(a act) bool { return a.builtin != nil },
		check: func(c *checker, path []any, a act, refs refChecker) { c.checkBuiltin(path, *a.builtin, refs) },
		run: func(ip *interpreter, ctx workflow.Context, _ string, spec activitySpec, a act) (any, string, error) {
			return ip.builtin(ctx, spec, *a.builtin)
		},
		describe: func(_ Definition, a act) string { return "run Flowgate's operation " + a.builtin.Operation },
	},
}

// kinds are the names of the kinds a sets; a valid act sets one.
func (a act) kinds() []string {
	var out []string
	for _, k := range actKinds {
		if k.set(a) {
			out = append(out, k.name)
		}
	}
	return out
}

// kind is the one kind a sets, or nil when it sets none or several.
func (a act) kind() *actKind {
	var found *actKind
	for i, k := range actKinds {
		if k.set(a) {
			if found != nil {
				return nil
			}
			found = &actKinds[i]
		}
	}
	return found
}

// actKindNames are the names of the kinds of act; with undo, only those that may undo a
// step.
func actKindNames(undo bool) []string {
	var out []string
	for _, k := range actKinds {
		if !undo || k.undoes {
			out = append(out, k.name)
		}
	}
	return out
}

// act is what the step does itself (a step of actions or an approval does nothing itself).
func (s StepDef) act() act { return act{s.Call, s.SQL, s.File, s.Builtin} }

// act is what the action does.
func (a ActionDef) act() act { return act{a.Call, a.SQL, a.File, a.Builtin} }

// act is what the undo does; a file action cannot undo, so it is never set.
func (c Compensation) act() act { return act{call: c.Call, sql: c.SQL, builtin: c.Builtin} }

// StepKinds lists the kinds a step may have: the kinds of act, a step of actions, an
// approval gate, a timer (wait) and a guard (fail).
var StepKinds = append(actKindNames(false), "actions", "approval", "wait", "fail")

// Kind is the step's kind, one of StepKinds ("" when none or several are set).
func (s StepDef) Kind() string {
	kinds := s.kinds()
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

func (s StepDef) kinds() []string {
	out := s.act().kinds()
	if s.Actions != nil {
		out = append(out, "actions")
	}
	if s.Approval != nil {
		out = append(out, "approval")
	}
	if s.Wait != nil {
		out = append(out, "wait")
	}
	if s.Fail != nil {
		out = append(out, "fail")
	}
	return out
}

// passive is the kind of a step that does nothing itself, so has nothing to undo, retry
// or fail past retries (approval, wait, fail), or "" for a step that does something.
func (s StepDef) passive() string {
	switch {
	case s.Approval != nil:
		return "approval"
	case s.Wait != nil:
		return "wait"
	case s.Fail != nil:
		return "fail"
	}
	return ""
}

// StepDescription says what a step does and how it is undone, in words.
type StepDescription struct {
	Kind string
	Does string
	Undo string
}

// Describe says what the step s of d does and how it is undone, in words.
func (d Definition) Describe(s StepDef) StepDescription {
	out := StepDescription{Kind: s.Kind()}
	switch {
	case s.Approval != nil:
		out.Does = fmt.Sprintf("wait for %s", words.Plural(max(s.Approval.Quorum, 1), "approval"))
	case s.Wait != nil:
		out.Does = describeWait(*s.Wait)
	case s.Fail != nil:
		out.Does = fmt.Sprintf("end the run failed when %s, saying %q; otherwise go on", s.Fail.When, s.Fail.Reason)
	case s.Actions != nil:
		var parts []string
		for _, a := range s.Actions {
			if k := a.act().kind(); k != nil {
				parts = append(parts, a.Name+": "+k.describe(d, a.act()))
			}
		}
		out.Does = "in order: " + strings.Join(parts, "; ")
	default:
		if k := s.act().kind(); k != nil {
			out.Does = k.describe(d, s.act())
		}
	}
	if c := s.Compensate; c != nil {
		if k := c.act().kind(); k != nil {
			out.Undo = k.describe(d, c.act())
		}
	}
	return out
}

// do runs a, of whatever kind it is, and returns its output and what it did; key names
// it for idempotency (run key / key).
func (ip *interpreter) do(ctx workflow.Context, key string, spec activitySpec, a act) (any, string, error) {
	k := a.kind()
	if k == nil {
		return nil, "", templateError(fmt.Errorf("it must do exactly one of %s; it does %v", strings.Join(actKindNames(false), ", "), a.kinds()))
	}
	return k.run(ip, ctx, key, spec, a)
}

// builtin runs one of Flowgate's operations with its rendered arguments.
func (ip *interpreter) builtin(ctx workflow.Context, spec activitySpec, b BuiltinStep) (any, string, error) {
	op, ok := operations[b.Operation]
	if !ok {
		return nil, "", templateError(fmt.Errorf("operation %q is not one of Flowgate's", b.Operation))
	}
	args, err := ip.renderValue(b.Args)
	if err != nil {
		return nil, "", templateError(err)
	}
	if args == nil {
		args = map[string]any{}
	}
	in, err := op.decode(b.Operation, args)
	if err != nil {
		return nil, "", templateError(err)
	}
	v, err := op.run(spec.options(ctx, b.Operation), in)
	if err != nil {
		return nil, "", err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	out, err := decodeJSON(raw)
	if err != nil {
		return nil, "", err
	}
	return out, b.Operation + " done", nil
}

// call calls a gateway service; key names it for idempotency (run key / key).
func (ip *interpreter) call(ctx workflow.Context, key string, spec activitySpec, call CallStep) (any, string, error) {
	idem := ip.runKey() + "/" + key
	service, err := ip.render(call.Service)
	if err != nil {
		return nil, "", templateError(err)
	}
	endpoint, err := ip.renderEndpoint(ctx, call.Endpoint)
	if err != nil {
		return nil, "", templateError(err)
	}
	in := activities.CallInput{Service: service, Endpoint: endpoint, Method: call.Method}
	if call.Method == "POST" {
		body, err := ip.renderValue(call.Body)
		if err != nil {
			return nil, "", templateError(err)
		}
		if body == nil {
			body = map[string]any{}
		}
		// A body is what a service shows people (a notification's text): its strings
		// carry no control character or bidirectional override.
		body = cleanValue(body)
		if in.Data, err = json.Marshal(body); err != nil {
			return nil, "", templateError(err)
		}
		in.IdempotencyKey = idem
	}
	var res activities.CallResult
	err = ip.exec(ctx, spec, fmt.Sprintf("%s %s %s", call.Method, service, endpoint), ip.r.LocalReads && call.Method == "GET", gw.CallService, in, &res)
	if err != nil {
		return nil, "", err
	}
	out := any(res.Text)
	if len(res.JSON) > 0 {
		if out, err = decodeJSON(res.JSON); err != nil {
			return nil, "", err
		}
	}
	return out, fmt.Sprintf("%s %s %s answered %d", call.Method, service, endpoint, res.StatusCode), nil
}

// statement runs a declared statement; key names a write for idempotency (run key / key).
func (ip *interpreter) statement(ctx workflow.Context, key string, spec activitySpec, stmt SQLStep) (any, string, error) {
	idem := ip.runKey() + "/" + key
	st := ip.plan.Statements[stmt.Statement]
	args := make(map[string]any, len(stmt.Args))
	for name, tmpl := range stmt.Args {
		v, err := ip.renderValue(tmpl)
		if err != nil {
			return nil, "", templateError(err)
		}
		args[name] = v
	}
	in := activities.StatementInput{Name: stmt.Statement, Mode: st.Mode, Query: st.Query, Args: args}
	if st.Mode == "write" {
		in.Key = idem
	}
	var res activities.StatementResult
	if err := ip.exec(ctx, spec, "statement "+stmt.Statement, ip.r.LocalReads && st.Mode == "read", db.RunStatement, in, &res); err != nil {
		return nil, "", err
	}
	out, err := jsonOf(res)
	if err != nil {
		return nil, "", err
	}
	if st.Mode == "read" {
		return out, fmt.Sprintf("statement %s returned %s", stmt.Statement, words.Plural(res.RowsReturned, "row")), nil
	}
	return out, fmt.Sprintf("statement %s changed %s", stmt.Statement, words.Plural(int(res.RowsAffected), "row")), nil
}

// file parses a sandbox file or writes a report into the sandbox.
func (ip *interpreter) file(ctx workflow.Context, spec activitySpec, f FileStep) (any, string, error) {
	if f.Action == "parse" {
		p, err := ip.render(f.Path)
		if err != nil {
			return nil, "", templateError(err)
		}
		var res activities.ParsedFile
		if err := ip.exec(ctx, spec, "parse "+p, ip.r.LocalReads, files.ParseFile, activities.ParseInput{FilePath: p}, &res); err != nil {
			return nil, "", err
		}
		out, err := jsonOf(res)
		return out, fmt.Sprintf("parsed %s (%s)", res.Path, res.Format), err
	}
	name, err := ip.render(f.Name)
	if err != nil {
		return nil, "", templateError(err)
	}
	text, err := ip.render(f.Content)
	if err != nil {
		return nil, "", templateError(err)
	}
	content, err := json.Marshal(map[string]any{
		"process": ip.plan.Name, "version": ip.plan.Version, "run": ip.r.state.WorkflowID,
		"requested_by": ip.r.state.RequestedBy, "content": text,
	})
	if err != nil {
		return nil, "", err
	}
	var res activities.ReportFile
	if err := workflow.ExecuteActivity(spec.options(ctx, "write report "+name), files.WriteReport, activities.ReportInput{Name: name, Content: content}).Get(ctx, &res); err != nil {
		return nil, "", err
	}
	out, err := jsonOf(res)
	return out, "wrote " + res.Path, err
}
