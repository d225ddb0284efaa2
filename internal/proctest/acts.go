package proctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// act is one thing a definition does that reaches a backend, found by its key: STEP,
// STEP/ACTION for an action of a step of actions, STEP/undo for a compensation. The key
// is the one the interpreter gives the act for idempotency (run key / key), so a call
// or statement that carries an idempotency key names its act exactly.
type act struct {
	key  string
	step string
	// activity is the activity type the interpreter runs for the act, "" for an
	// operation that runs in the workflow.
	activity string
	// what says what it does: "POST orders refunds", "statement find_order".
	what string
	// match tells whether an activity input of the act's type is this act's, for inputs
	// that carry no idempotency key (reads, files, operations): the same service,
	// method and endpoint, statement, file path or report name (templates match any text).
	match func(in any) bool
	// output is a new value of the activity's output type, nil for any JSON.
	output func() any
}

// opActivities are the activity types Flowgate's operations run (library.go's
// operations), "" for one that runs in the workflow. TestEveryOperationHasAnActivity
// keeps it equal to workflows.Operations.
var opActivities = map[string]string{
	"check_email_available": "CheckEmailAvailable",
	"create_user":           "CreateUser",
	"activate_user":         "ActivateUser",
	"deactivate_user":       "DeactivateUser",
	"collect_records":       "CollectRecords",
	"read_evidence":         "ReadEvidence",
	"record_audit":          "RecordAudit",
	"collect_audit_records": "CollectAuditRecords",
	"read_audit_evidence":   "ReadAuditEvidence",
	"analyze_audit":         "AnalyzeAudit",
	"publish_audit_report":  "PublishAuditReport",
	"analyze_evidence":      "",
	"write_audit_report":    "WriteReport",
}

// actsOf lists every act of d, in the order the steps declare them.
func actsOf(d workflows.Definition) []act {
	var out []act
	add := func(key, step string, call *workflows.CallStep, sql *workflows.SQLStep, file *workflows.FileStep, b *workflows.BuiltinStep) {
		a := act{key: key, step: step}
		switch {
		case call != nil:
			a.activity, a.what = "CallService", call.Method+" "+call.Service+" "+call.Endpoint
			svc, ep := templatePattern(call.Service), templatePattern(call.Endpoint)
			method := call.Method
			a.match = func(in any) bool {
				c := in.(activities.CallInput)
				return c.Method == method && svc.MatchString(c.Service) && ep.MatchString(c.Endpoint)
			}
		case sql != nil:
			a.activity, a.what = "RunStatement", "statement "+sql.Statement
			name := sql.Statement
			a.match = func(in any) bool { return in.(activities.StatementInput).Name == name }
			a.output = func() any { return new(activities.StatementResult) }
		case file != nil && file.Action == "parse":
			a.activity, a.what = "ParseFile", "parse "+file.Path
			p := templatePattern(file.Path)
			a.match = func(in any) bool { return p.MatchString(in.(activities.ParseInput).FilePath) }
			a.output = func() any { return new(activities.ParsedFile) }
		case file != nil:
			a.activity, a.what = "WriteReport", "write report "+file.Name
			p := templatePattern(file.Name)
			a.match = func(in any) bool { return p.MatchString(in.(activities.ReportInput).Name) }
			a.output = func() any { return new(activities.ReportFile) }
		case b != nil:
			a.activity, a.what = opActivities[b.Operation], "builtin "+b.Operation
			a.match = func(any) bool { return true }
		default:
			return
		}
		out = append(out, a)
	}
	for _, s := range d.Steps {
		add(s.Name, s.Name, s.Call, s.SQL, s.File, s.Builtin)
		for _, a := range s.Actions {
			add(s.Name+"/"+a.Name, s.Name, a.Call, a.SQL, a.File, a.Builtin)
		}
		if c := s.Compensate; c != nil {
			add(s.Name+"/undo", s.Name, c.Call, c.SQL, nil, c.Builtin)
		}
	}
	return out
}

// templatePattern matches the texts a template renders: each {{…}} stands for any text.
func templatePattern(t string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rest := t
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		b.WriteString(".*")
		rest = rest[i+j+2:]
	}
	b.WriteString(regexp.QuoteMeta(rest))
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func actKeys(acts []act) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.key
	}
	return out
}

// checkOutput checks a mocked output against the activity's output type: a statement's
// result has only rows, row, rows_returned and rows_affected.
func (a act) checkOutput(v any) error {
	if a.output == nil {
		return nil
	}
	return decodeStrict(v, a.output())
}

func decodeStrict(v any, into any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("%v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}
