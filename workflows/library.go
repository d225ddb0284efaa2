package workflows

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// An operation is something Flowgate can do that a definition runs by name in a builtin
// step: the Temporal activities the built-in processes are made of (each with its own
// checks, idempotency and audit trail), and the analysis of an audit, which runs in the
// workflow. Its arguments decode into the activity's own input: an argument it does not
// take is refused when the definition loads.
type operation struct {
	doc string
	// input returns a pointer to a new input value.
	input func() any
	// required are the arguments it cannot go without.
	required []string
	run      func(ctx workflow.Context, in any) (any, error)
}

// noResult is the output of an activity that returns only an error.
type noResult struct{}

// activityOp runs the activity fn, which takes I and returns O (noResult: only an error).
func activityOp[I, O any](doc string, fn any, required ...string) operation {
	return operation{doc: doc, required: required, input: func() any { return new(I) },
		run: func(ctx workflow.Context, in any) (any, error) {
			var out O
			var target any = &out
			if _, none := any(out).(noResult); none {
				target = nil
			}
			err := workflow.ExecuteActivity(ctx, fn, *in.(*I)).Get(ctx, target)
			return out, err
		}}
}

// longAttempt gives an operation over an audit's data (the Audits activities) the time a
// large audit needs, at least activities.AuditAttemptTimeout an attempt (a step's longer
// retry.timeout is kept), and a heartbeat timeout, so a worker lost mid-way is noticed
// within activities.AuditHeartbeatTimeout and the activity retried.
func longAttempt(op operation) operation {
	run := op.run
	op.run = func(ctx workflow.Context, in any) (any, error) {
		opts := workflow.GetActivityOptions(ctx)
		opts.StartToCloseTimeout = max(opts.StartToCloseTimeout, activities.AuditAttemptTimeout)
		opts.HeartbeatTimeout = activities.AuditHeartbeatTimeout
		return run(workflow.WithActivityOptions(ctx, opts), in)
	}
	return op
}

// AnalysisInput is what the analyze_evidence operation compares.
type AnalysisInput struct {
	Tables   []string                     `json:"tables"`
	Records  []activities.CollectedRecord `json:"records"`
	Evidence []activities.EvidenceItem    `json:"evidence"`
	// HaveEvidence is false when no evidence files were given: only duplicates are reported.
	HaveEvidence bool `json:"have_evidence"`
}

// Analysis is the output of analyze_evidence.
type Analysis struct {
	Findings []Finding `json:"findings"`
	Count    int       `json:"count"`
}

// AuditReportInput is what write_audit_report writes: the report, as reports/NAME.json.
// Its generated_at is the workflow's time when it runs.
type AuditReportInput struct {
	Name string `json:"name"`
	AuditReport
}

// maxPayloadBytes is Temporal's default limit of one payload (blobSizeLimitError).
const maxPayloadBytes = 2 << 20

// operations are the operations a builtin step may name. An operation stays here as long
// as a run in flight may carry a definition that names it: the audit's version 2 names
// collect_records, read_evidence, analyze_evidence and write_audit_report, which pass the
// data by value; version 3 names the *_audit_* operations, which pass it by reference.
var operations = map[string]operation{
	"check_email_available": activityOp[activities.CheckEmailInput, noResult](
		"fails (not retried) when an active user other than the one this run created has the email",
		db.CheckEmailAvailable, "email", "request_id"),
	"create_user": activityOp[activities.CreateUserInput, activities.UserRecord](
		"inserts a user, active or pending, once per request_id; output {id, email, status}",
		db.CreateUser, "request_id", "email", "name", "role"),
	"activate_user": activityOp[activities.ActivateUserInput, activities.UserRecord](
		"makes the pending user created by request_id active; output {id, email, status}",
		db.ActivateUser, "request_id"),
	"deactivate_user": activityOp[activities.DeactivateUserInput, noResult](
		"marks the user created by request_id inactive, with a reason; safe to repeat",
		db.DeactivateUser, "request_id"),
	"collect_records": activityOp[activities.CollectInput, activities.CollectResult](
		"reads the natural keys of the records of auditable tables, read-only; output {records}, by value: at most 1.5 MiB of JSON (about 17 000 users). The audit's version 2 uses it; collect_audit_records passes records by reference",
		db.CollectRecords, "tables"),
	"read_evidence": activityOp[activities.EvidenceInput, activities.EvidenceResult](
		"reads the items of CSV or JSON evidence files in the sandbox; output {items}, by value: at most 1.5 MiB of JSON (about 15 000 rows). The audit's version 2 uses it; read_audit_evidence passes items by reference",
		files.ReadEvidence, "paths"),
	"record_audit": activityOp[activities.AuditRecord, activities.RecordedRow](
		"writes one audits row per request_id; output {id}",
		db.RecordAudit, "request_id", "tables", "report_path"),
	"collect_audit_records": longAttempt(activityOp[activities.AuditRecordsInput, activities.AuditFile](
		fmt.Sprintf("reads the natural keys of the records of auditable tables, read-only, into the sandbox work file audits/RUN/records.jsonl (run: {{run.key}}); output {file, count, sha256}. At most %d records in all, refused before a row is read, with the count of each table", activities.MaxAuditRecords),
		audits.CollectAuditRecords, "run", "tables")),
	"read_audit_evidence": longAttempt(activityOp[activities.AuditEvidenceInput, activities.AuditFile](
		fmt.Sprintf("reads the items of CSV or JSON evidence files in the sandbox into audits/RUN/evidence.jsonl; output {file, count, sha256}. Each file at most %d bytes (%d MiB), checked before any is read; at most %d items in all, refused with their count", activities.DefaultMaxFileBytes, activities.DefaultMaxFileBytes>>20, activities.MaxAuditEvidenceItems),
		audits.ReadAuditEvidence, "run", "paths")),
	"analyze_audit": longAttempt(activityOp[activities.AnalyzeAuditInput, activities.AuditAnalysis](
		fmt.Sprintf("compares the records file (records: collect_audit_records' output) with the evidence file (evidence: read_audit_evidence's output, empty when no evidence was read: duplicates only), in an activity, and writes every finding to audits/RUN/findings.jsonl; output {count, file, sha256, records, evidence_items, by_kind, sample: the first %d findings}", activities.AuditSampleFindings),
		audits.AnalyzeAudit, "run", "tables", "records")),
	"publish_audit_report": longAttempt(operation{
		doc:      "writes the audit report with every finding of analysis (analyze_audit's output) to reports/NAME.json, the report write_audit_report writes, never overwriting another; output {path, size_bytes}",
		required: []string{"name", "run", "workflow_id", "tables", "analysis"},
		input:    func() any { return new(activities.AuditReportArgs) },
		run: func(ctx workflow.Context, in any) (any, error) {
			r := activities.PublishAuditInput{AuditReportArgs: *in.(*activities.AuditReportArgs), GeneratedAt: workflow.Now(ctx).UTC()}
			var file activities.ReportFile
			err := workflow.ExecuteActivity(ctx, audits.PublishAuditReport, r).Get(ctx, &file)
			return file, err
		},
	}),
	"analyze_evidence": {
		doc:      "compares records with evidence, in the workflow; output {findings, count}. Its input and output travel in the workflow's history; the audit's version 2 uses it, analyze_audit runs in an activity over work files",
		required: []string{"tables", "records"},
		input:    func() any { return new(AnalysisInput) },
		run: func(_ workflow.Context, in any) (any, error) {
			a := in.(*AnalysisInput)
			f := Analyze(a.Tables, a.Records, a.Evidence, a.HaveEvidence)
			return Analysis{Findings: f, Count: len(f)}, nil
		},
	},
	"write_audit_report": {
		doc:      "writes an audit report to reports/NAME.json, never overwriting; output {path, size_bytes}. Every finding travels in the activity's input, which Temporal refuses over 2 MB (about 12 000 findings); the audit's version 2 uses it, publish_audit_report reads the findings from a work file",
		required: []string{"name", "workflow_id", "tables"},
		input:    func() any { return new(AuditReportInput) },
		run: func(ctx workflow.Context, in any) (any, error) {
			r := in.(*AuditReportInput)
			report := r.AuditReport
			report.GeneratedAt = workflow.Now(ctx).UTC()
			if report.Evidence == nil {
				report.Evidence = []string{}
			}
			if report.Findings == nil {
				report.Findings = []Finding{}
			}
			content, err := json.MarshalIndent(report, "", "  ")
			if err != nil {
				return nil, err
			}
			// The report travels base64-encoded in the activity's input. At or over Temporal's
			// 2 MiB payload limit the workflow task would fail on every attempt, and the run
			// could not be decided; such a task never completed, so no history holds one, and
			// failing the step here changes no run that replays.
			if enc := base64.StdEncoding.EncodedLen(len(content)); enc >= maxPayloadBytes {
				return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"the report of %d findings is %d bytes, %d once encoded, over Temporal's payload limit of %d bytes: this run carries the audit's version 2, which passes findings by value; reject it and start the audit again (version 3 passes them by reference)",
					len(report.Findings), len(content), enc, maxPayloadBytes), activities.ErrTypeInvalidInput, nil)
			}
			var file activities.ReportFile
			err = workflow.ExecuteActivity(ctx, files.WriteReport, activities.ReportInput{Name: r.Name, Content: content}).Get(ctx, &file)
			return file, err
		},
	},
}

// Operations lists the operations a builtin step may name, sorted, each with what it does.
func Operations() [][2]string {
	out := make([][2]string, 0, len(operations))
	for _, name := range operationNames() {
		out = append(out, [2]string{name, operations[name].doc})
	}
	return out
}

func operationNames() []string {
	names := make([]string, 0, len(operations))
	for n := range operations {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// arguments are the argument names an operation's input takes.
func (o operation) arguments() []string {
	var out []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" && f.IsExported() {
				out = append(out, name)
			}
		}
	}
	walk(reflect.TypeOf(o.input()).Elem())
	slices.Sort(out)
	return out
}

// decode turns rendered arguments into the operation's input; what the input cannot hold
// is an error that names the argument.
func (o operation) decode(name string, args any) (any, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	in := o.input()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("builtin %s: argument %s is a %s; allowed: a %s", name, te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("builtin %s: arguments: %v", name, err)
	}
	return in, nil
}
