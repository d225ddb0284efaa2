package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

const runsUsage = `usage: flowgate runs list [--status S] [--type T] [--limit N]
       flowgate runs show ID
       flowgate runs start TYPE [--param name=value ...] [--idempotency-key K]
       flowgate runs approve ID --comment TEXT [--step S] [--input name=value ...]
       flowgate runs reject ID --comment TEXT [--step S]
       flowgate runs request-changes ID --comment TEXT [--step S]
       flowgate runs reassign ID --to PERSON ... [--to-scope SCOPE] --reason TEXT [--step S]
       flowgate runs revise ID --param name=value ... [--comment TEXT]
       flowgate runs withdraw ID [--comment TEXT]
       flowgate runs remind ID [--comment TEXT]
       flowgate runs continue ID [--comment TEXT]
       flowgate runs cancel ID --reason TEXT
Each also takes --server, --api-key or --token, --profile and --json (run "flowgate runs list -h").
Exit codes: 0 done, 1 refused by the server (its sentence on stderr), 2 usage, 3 server unreachable.
See docs/cli.md.`

// runsCommands are the subcommands of runs, in the order of their usage; completion.go
// reads them too.
var runsCommands = []string{"list", "show", "start", "approve", "reject", "request-changes", "reassign", "revise", "withdraw", "remind", "continue", "cancel"}

// decisions map the subcommands that advance a run to advance_workflow's actions.
var decisions = map[string]workflows.Action{
	"approve": workflows.ActionApprove, "reject": workflows.ActionReject, "request-changes": workflows.ActionRequestChanges, "reassign": workflows.ActionReassign,
	"revise": workflows.ActionRevise, "withdraw": workflows.ActionWithdraw, "remind": workflows.ActionRemind, "continue": workflows.ActionContinue,
}

// runRuns is `flowgate runs ...`: list, show, decide and cancel runs through a Flowgate
// MCP server, as its tools allow the caller's key.
func runRuns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New(runsUsage)}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, runsUsage)
		return nil
	}
	fs, c := runsFlags(args[0])
	if fs == nil {
		return usageError{fmt.Errorf("unknown command %q\n%s", args[0], runsUsage)}
	}
	pos, err := parseInterspersed(fs, args[1:], stderr)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		if len(pos) > 0 {
			return usageError{fmt.Errorf("unexpected argument %q (filter with --status and --type)", pos[0])}
		}
	} else if len(pos) != 1 && args[0] == "start" {
		return usageError{errors.New("give one process: flowgate runs start TYPE (flowgate processes list names them)")}
	} else if len(pos) != 1 {
		return usageError{fmt.Errorf("give one run id: flowgate runs %s ID", args[0])}
	}
	if err := c.check(args[0]); err != nil {
		return usageError{err}
	}
	s, err := c.connect(ctx, "runs "+args[0])
	if err != nil {
		return err
	}
	defer s.Close()
	switch args[0] {
	case "list":
		return c.list(ctx, s, stdout)
	case "show":
		return c.show(ctx, s, pos[0], stdout)
	case "cancel":
		return c.cancel(ctx, s, pos[0], stdout)
	case "start":
		return c.start(ctx, s, pos[0], stdout)
	}
	return c.decide(ctx, s, decisions[args[0]], pos[0], stdout)
}

// runsCmd holds the flags of one runs subcommand.
type runsCmd struct {
	clientFlags
	name                       string
	status, typ                string
	limit                      int
	step, comment, reason      string
	idempotencyKey             string
	inputs, params             pairs
	to                         names
	toScope                    string
	requireComment, takesInput bool
}

// runsFlags returns the flag set of a runs subcommand, or nil for an unknown one.
func runsFlags(name string) (*flag.FlagSet, *runsCmd) {
	if !slices.Contains(runsCommands, name) {
		return nil, nil
	}
	c := &runsCmd{name: name}
	synopsis := ""
	for _, line := range strings.Split(runsUsage, "\n") {
		if strings.Contains(line, "flowgate runs "+name+" ") {
			synopsis = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "usage:"))
		}
	}
	fs := commandFlags("runs "+name, synopsis)
	c.register(fs)
	switch name {
	case "list":
		fs.StringVar(&c.status, "status", "", "only runs of this status: "+strings.Join(statusNames(), ", "))
		fs.StringVar(&c.typ, "type", "", "only runs of this process (workflow type)")
		fs.IntVar(&c.limit, "limit", app.DefaultListLimit, fmt.Sprintf("how many runs to list, newest first (at most %d)", app.MaxListLimit))
	case "show":
	case "start":
		fs.Var(&c.params, "param", "name=value of a parameter of the process, typed by its schema (repeat for each)")
		fs.StringVar(&c.idempotencyKey, "idempotency-key", "", "makes a retry safe: the same key returns the run it started the first time")
	case "cancel":
		fs.StringVar(&c.reason, "reason", "", "why; recorded in the run's history (required)")
	case "reassign":
		fs.Var(&c.to, "to", "a person who decides the gate from now on (repeat for each; a quorum needs as many as approvals are left)")
		fs.StringVar(&c.toScope, "to-scope", "", "a scope whose holders decide the gate from now on, such as group:finance")
		fs.StringVar(&c.reason, "reason", "", "why; recorded in the run's history (required)")
		fs.StringVar(&c.step, "step", "", "the step you reassign, as runs show names it (default: the step the run waits at now)")
	default:
		c.requireComment = name == "approve" || name == "reject" || name == "request-changes"
		what := "why; recorded in the run's history"
		if c.requireComment {
			what += " (required)"
		}
		fs.StringVar(&c.comment, "comment", "", what)
		fs.StringVar(&c.step, "step", "", "the step you decide, as runs show names it (default: the step the run waits at now)")
		switch name {
		case "approve":
			fs.Var(&c.inputs, "input", "name=value of an input the gate asks for, typed by its schema (repeat for each)")
		case "revise":
			fs.Var(&c.params, "param", "name=value of a parameter the approver let change, typed by the process's schema (repeat for each)")
		}
	}
	return fs, c
}

// check refuses what is missing before anything is sent.
func (c *runsCmd) check(name string) error {
	switch {
	case name == "list" && (c.limit < 1 || c.limit > app.MaxListLimit):
		return fmt.Errorf("--limit %d: allowed is 1 to %d", c.limit, app.MaxListLimit)
	case name == "list" && c.status != "" && !slices.Contains(statusNames(), c.status):
		return fmt.Errorf("--status %q: allowed are %s", c.status, strings.Join(statusNames(), ", "))
	case name == "cancel" && strings.TrimSpace(c.reason) == "":
		return errors.New("--reason is required: say why the run is cancelled")
	case name == "reassign" && len(c.to) == 0 && strings.TrimSpace(c.toScope) == "":
		return errors.New("--to PERSON or --to-scope SCOPE is required: say who decides the gate from now on")
	case name == "reassign" && strings.TrimSpace(c.reason) == "":
		return errors.New("--reason is required: say why the gate changes hands")
	case c.requireComment && strings.TrimSpace(c.comment) == "":
		return fmt.Errorf("--comment is required: say why you %s", name)
	case name == "revise" && len(c.params) == 0:
		return errors.New("--param name=value is required: give the new value of each parameter to change")
	}
	return nil
}

func statusNames() []string {
	out := make([]string, len(workflows.Statuses))
	for i, s := range workflows.Statuses {
		out[i] = string(s)
	}
	return out
}

func (c *runsCmd) list(ctx context.Context, s *session, stdout io.Writer) error {
	var res mcpserver.ListResult
	_, raw, err := s.call(ctx, "list_workflows", mcpserver.ListArgs{WorkflowType: c.typ, Status: c.status, Limit: c.limit}, &res)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, raw)
	}
	if len(res.Items) == 0 {
		fmt.Fprintln(stdout, "No runs match.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tSTEP\tREQUESTED BY\tSTARTED")
	for _, r := range res.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, r.Type, r.Status, dash(r.CurrentStep), dash(r.RequestedBy), r.StartedAt.Local().Format(time.DateTime))
	}
	tw.Flush()
	if res.Pagination.HasMore {
		fmt.Fprintf(stdout, "More runs match: raise --limit (at most %d) or filter with --status and --type.\n", app.MaxListLimit)
	}
	return nil
}

// show reads the run's record (workflow://ID/details) and, while it runs, what it waits
// for (get_workflow_status's waiting, which the record leaves out); --json prints the
// record with that waiting added.
func (c *runsCmd) show(ctx context.Context, s *session, id string, stdout io.Writer) error {
	var st workflows.State
	raw, err := s.read(ctx, "workflow://"+id+"/details", &st)
	if err != nil {
		return err
	}
	if !st.Status.Terminal() && st.Waiting == nil {
		var v mcpserver.StatusResult
		if _, _, err := s.call(ctx, "get_workflow_status", mcpserver.WorkflowIDArgs{WorkflowID: id}, &v); err != nil {
			return err
		}
		if st.Waiting = v.Waiting; v.Waiting != nil {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fields); err != nil {
				return err
			}
			fields["waiting"], _ = json.Marshal(v.Waiting)
			raw, _ = json.Marshal(fields)
		}
	}
	if c.json {
		return printJSON(stdout, raw)
	}
	printRun(stdout, st)
	return nil
}

// printRun renders a run's record for a person: where it stands, what it waits for and
// who may decide, its steps, and its history (who decided what, and why).
func printRun(w io.Writer, st workflows.State) {
	fmt.Fprintf(w, "%s  %s  %s (%d of %d steps done)\n", st.WorkflowID, st.Type, st.Status, st.StepsCompleted, st.TotalSteps)
	fmt.Fprintf(w, "requested by %s, started %s", dash(st.RequestedBy), st.StartedAt.Local().Format(time.DateTime))
	if st.ClosedAt != nil {
		fmt.Fprintf(w, ", ended %s", st.ClosedAt.Local().Format(time.DateTime))
	}
	fmt.Fprintln(w)
	if p := st.Process; p != nil {
		fmt.Fprintf(w, "process %s v%d\n", p.Name, p.Version)
	}
	if st.Error != "" {
		fmt.Fprintf(w, "error: %s\n", st.Error)
	}
	if len(st.Parameters) > 0 && string(st.Parameters) != "null" {
		var b bytes.Buffer
		if json.Compact(&b, st.Parameters) == nil {
			fmt.Fprintf(w, "parameters: %s\n", b.String())
		}
	}
	if wt := st.Waiting; wt != nil {
		fmt.Fprintln(w)
		printWaiting(w, wt)
	}
	fmt.Fprintln(w, "\nSteps:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, step := range st.Steps {
		var notes []string
		if step.Actor != "" {
			notes = append(notes, "by "+step.Actor)
		}
		if step.Comment != "" {
			notes = append(notes, strconv.Quote(step.Comment))
		}
		if step.Output != "" {
			notes = append(notes, step.Output)
		}
		if step.Error != "" {
			notes = append(notes, "error: "+step.Error)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", step.Name, step.Status, strings.Join(notes, "; "))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nHistory:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range st.History {
		var notes []string
		if e.Step != "" {
			notes = append(notes, "step "+e.Step)
		}
		if e.Actor != "" {
			notes = append(notes, "by "+e.Actor)
		}
		if e.Detail != "" {
			notes = append(notes, e.Detail)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Event, strings.Join(notes, "; "))
	}
	tw.Flush()
}

// printWaiting says what a run waits for, who may decide it, and what a decision must carry.
func printWaiting(w io.Writer, wt *workflows.Waiting) {
	acts := make([]string, len(wt.Actions))
	for i, a := range wt.Actions {
		acts[i] = string(a)
	}
	fmt.Fprintf(w, "Waits at step %s for %s (%s)", wt.Step, wt.For, strings.Join(acts, ", "))
	if !wt.Deadline.IsZero() {
		fmt.Fprintf(w, " until %s", wt.Deadline.Local().Format(time.DateTime))
	}
	fmt.Fprintln(w)
	var who []string
	if len(wt.Approvers) > 0 {
		who = append(who, strings.Join(wt.Approvers, ", "))
	}
	if wt.Scope != "" {
		who = append(who, "anyone holding "+wt.Scope)
	}
	if len(who) > 0 {
		fmt.Fprintf(w, "  may decide: %s\n", strings.Join(who, " or "))
	}
	if wt.NotBy != "" {
		fmt.Fprintf(w, "  not by: %s (requested it)\n", wt.NotBy)
	}
	if wt.Quorum > 1 {
		fmt.Fprintf(w, "  approvals: %d of %d (%s)\n", len(wt.Approvals), wt.Quorum, strings.Join(wt.Approvals, ", "))
	}
	if props, _ := wt.Inputs["properties"].(map[string]any); len(props) > 0 {
		required, _ := wt.Inputs["required"].([]any)
		for _, name := range slices.Sorted(maps.Keys(props)) {
			prop, _ := props[name].(map[string]any)
			line := fmt.Sprintf("  input %s (%s", name, schemaType(prop))
			if slices.Contains(required, any(name)) {
				line += ", required"
			}
			line += ")"
			if d, _ := prop["description"].(string); d != "" {
				line += ": " + d
			}
			fmt.Fprintln(w, line+"  [--input "+name+"=...]")
		}
	}
	for _, r := range wt.Rules {
		fmt.Fprintf(w, "  rule: %s\n", r)
	}
	if wt.ReasonOnReject {
		fmt.Fprintln(w, "  a reject needs a reason (--comment)")
	}
	if len(wt.Revisable) > 0 {
		fmt.Fprintf(w, "  an approver may request changes to %s\n", strings.Join(wt.Revisable, ", "))
	}
	if ch := wt.Changes; ch != nil {
		fmt.Fprintf(w, "  %s asked for changes (round %d of %d): %s\n  %s may revise %s, or withdraw\n", ch.By, ch.Round, ch.MaxRounds, ch.Comment, ch.Requester, strings.Join(ch.Revisable, ", "))
	}
}

// start starts a run of a process, its parameters typed by the process's schema
// (describe_process).
func (c *runsCmd) start(ctx context.Context, s *session, process string, stdout io.Writer) error {
	var p app.ProcessView
	if _, _, err := s.call(ctx, "describe_process", mcpserver.ProcessArgs{Name: process}, &p); err != nil {
		return err
	}
	params, err := typedValues("--param", c.params, p.Parameters)
	if err != nil {
		return usageError{err}
	}
	raw, _ := json.Marshal(params)
	text, out, err := s.call(ctx, "start_workflow", mcpserver.StartArgs{WorkflowType: process, Parameters: raw, IdempotencyKey: c.idempotencyKey}, nil)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, out)
	}
	fmt.Fprintln(stdout, text)
	return nil
}

func (c *runsCmd) cancel(ctx context.Context, s *session, id string, stdout io.Writer) error {
	var res mcpserver.CancelResult
	_, raw, err := s.call(ctx, "cancel_workflow", mcpserver.CancelArgs{WorkflowID: id, Reason: c.reason}, &res)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, raw)
	}
	fmt.Fprintln(stdout, res.Message)
	return nil
}

// decide sends one advance_workflow. Without --step it decides the step the run waits
// at now, read first with get_workflow_status; that status also gives the schema that
// types --input values (and the process, whose parameter schema types --param values).
func (c *runsCmd) decide(ctx context.Context, s *session, action workflows.Action, id string, stdout io.Writer) error {
	args := c.advanceArgs(action, id)
	if c.step == "" || len(c.inputs) > 0 || len(c.params) > 0 {
		var v mcpserver.StatusResult
		if _, _, err := s.call(ctx, "get_workflow_status", mcpserver.WorkflowIDArgs{WorkflowID: id}, &v); err != nil {
			return err
		}
		if v.Waiting == nil {
			return fmt.Errorf("%s is %s and waits for no decision", id, v.Status)
		}
		if args.Step == "" {
			args.Step = v.Waiting.Step
		}
		if len(c.inputs) > 0 {
			if v.Waiting.Inputs == nil {
				return usageError{fmt.Errorf("--input: step %s asks for no inputs", v.Waiting.Step)}
			}
			in, err := typedValues("--input", c.inputs, v.Waiting.Inputs)
			if err != nil {
				return usageError{err}
			}
			args.Inputs = in
		}
		if len(c.params) > 0 {
			var p app.ProcessView
			if _, _, err := s.call(ctx, "describe_process", mcpserver.ProcessArgs{Name: string(v.Type)}, &p); err != nil {
				return err
			}
			params, err := typedValues("--param", c.params, p.Parameters)
			if err != nil {
				return usageError{err}
			}
			args.Parameters = params
		}
	}
	text, raw, err := s.call(ctx, "advance_workflow", args, nil)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, raw)
	}
	fmt.Fprintln(stdout, text)
	return nil
}

// advanceArgs are the arguments of the decision the flags give; a reassign's reason is
// the comment the server records, and --to and --to-scope its reassign_to.
func (c *runsCmd) advanceArgs(action workflows.Action, id string) mcpserver.AdvanceArgs {
	args := mcpserver.AdvanceArgs{WorkflowID: id, Action: string(action), Step: c.step, Comment: c.comment}
	if action == workflows.ActionReassign {
		args.Comment = c.reason
		args.ReassignTo = &workflows.Reassignment{Approvers: c.to, Scope: strings.TrimSpace(c.toScope)}
	}
	return args
}

// pairs is a repeated name=value flag.
type pairs []string

func (p *pairs) String() string { return strings.Join(*p, " ") }

func (p *pairs) Set(v string) error {
	if name, _, ok := strings.Cut(v, "="); !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q is not name=value", v)
	}
	*p = append(*p, v)
	return nil
}

// names is a repeated flag of one name each, such as --to fin-ann --to fin-cy.
type names []string

func (n *names) String() string { return strings.Join(*n, " ") }

func (n *names) Set(v string) error {
	if v = strings.TrimSpace(v); v == "" {
		return errors.New("give a name")
	}
	*n = append(*n, v)
	return nil
}

// typedValues turns name=value pairs into the values of the properties of an object's
// JSON Schema: "1500" is 1500 for an integer field, "true" true for a boolean one, and
// a JSON text for an array or object; a string field, or one the schema leaves
// untyped, takes the text as it is. The server checks the values against the schema
// and the gate's rules; this only sends each as the type the schema asks for.
func typedValues(flagName string, given []string, schema map[string]any) (map[string]any, error) {
	props, _ := schema["properties"].(map[string]any)
	out := map[string]any{}
	for _, kv := range given {
		name, text, _ := strings.Cut(kv, "=")
		prop, ok := props[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s %s: no field %q; allowed are %s", flagName, kv, name, strings.Join(slices.Sorted(maps.Keys(props)), ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s %s: %s is given twice", flagName, kv, name)
		}
		v, err := typedValue(schemaType(prop), text)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flagName, kv, err)
		}
		out[name] = v
	}
	return out, nil
}

// schemaType is a property's JSON Schema type; of a list of types, the first that is not
// null.
func schemaType(prop map[string]any) string {
	switch t := prop["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, _ := x.(string); s != "" && s != "null" {
				return s
			}
		}
	}
	return "string"
}

func typedValue(typ, text string) (any, error) {
	switch typ {
	case "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", text)
		}
		return n, nil
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return f, nil
	case "boolean":
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return b, nil
	case "array", "object":
		var v any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return nil, fmt.Errorf("%q is not a JSON %s", text, typ)
		}
		return v, nil
	}
	return text, nil
}

// printJSON prints a structured answer, indented.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := b.WriteTo(w)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
