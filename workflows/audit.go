package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
)

// Steps of an audit run.
const (
	StepCollectRecords = "collect_records"
	StepParseEvidence  = "parse_evidence"
	StepAnalyze        = "analyze"
	StepAuditorSignoff = "auditor_signoff"
	StepPublishReport  = "publish_report"
)

// Audit checks records against evidence: collect the records (read-only), parse the
// evidence files, analyze (records without evidence, evidence without a record,
// duplicates), wait for an auditor's sign-off, and publish the report to the sandbox's
// reports folder and the database.
func Audit(ctx workflow.Context, in AuditInput) (State, error) {
	if err := in.Params.Validate(); err != nil {
		return State{}, invalidStart(err)
	}
	r, err := newRunner(ctx, KindAudit, in.Request, in.Params, []Step{
		{Name: StepCollectRecords, Kind: StepActivity},
		{Name: StepParseEvidence, Kind: StepActivity},
		{Name: StepAnalyze, Kind: StepActivity},
		{Name: StepAuditorSignoff, Kind: StepApproval},
		{Name: StepPublishReport, Kind: StepActivity},
	})
	if err != nil {
		return State{}, err
	}
	return r.finish(ctx, r.audit(ctx, in.Params))
}

// Finding is one discrepancy an audit found.
type Finding struct {
	Kind   string `json:"kind"`
	Table  string `json:"table"`
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

// Kinds of finding.
const (
	FindingMissingEvidence  = "record_without_evidence"
	FindingUnknownRecord    = "evidence_without_record"
	FindingDuplicateRecord  = "duplicate_record"
	FindingDuplicateEvident = "duplicate_evidence"
)

// AuditReport is the report an audit publishes.
type AuditReport struct {
	WorkflowID    string    `json:"workflow_id"`
	Tables        []string  `json:"tables"`
	Since         string    `json:"since,omitempty"`
	Evidence      []string  `json:"evidence"`
	RecordsCount  int       `json:"records"`
	EvidenceCount int       `json:"evidence_items"`
	Findings      []Finding `json:"findings"`
	RequestedBy   string    `json:"requested_by"`
	SignedOffBy   string    `json:"signed_off_by"`
	Comment       string    `json:"comment,omitempty"`
	GeneratedAt   time.Time `json:"generated_at"`
}

func (r *runner) audit(ctx workflow.Context, p AuditParams) error {
	id := r.state.WorkflowID
	var records activities.CollectResult
	err := r.activityStep(ctx, StepCollectRecords, false, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(withActivity(ctx, "collect records of "+strings.Join(p.Tables, ", ")), db.CollectRecords,
			activities.CollectInput{Tables: p.Tables, Since: p.Since}).Get(ctx, &records)
		return fmt.Sprintf("%d records collected", len(records.Records)), err
	})
	if err != nil {
		return err
	}
	var evidence activities.EvidenceResult
	if len(p.Evidence) == 0 {
		r.skip(ctx, StepParseEvidence, "no evidence files given")
	} else if err := r.activityStep(ctx, StepParseEvidence, false, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(withActivity(ctx, fmt.Sprintf("parse %d evidence files", len(p.Evidence))), files.ReadEvidence,
			activities.EvidenceInput{Paths: p.Evidence}).Get(ctx, &evidence)
		return fmt.Sprintf("%d evidence items in %d files", len(evidence.Items), len(p.Evidence)), err
	}); err != nil {
		return err
	}
	r.begin(ctx, StepAnalyze, StatusInProgress, StepRunning)
	findings := Analyze(p.Tables, records.Records, evidence.Items, len(p.Evidence) > 0)
	r.finishStep(ctx, StepAnalyze, StepCompleted, "", "", fmt.Sprintf("%d findings", len(findings)), "")
	r.state.Outputs["findings"] = fmt.Sprint(len(findings))
	r.publish(ctx)

	if _, err := r.approval(ctx, StepAuditorSignoff); err != nil {
		return err
	}
	signoff := r.step(StepAuditorSignoff)
	report := AuditReport{
		WorkflowID: id, Tables: p.Tables, Since: p.Since, Evidence: append([]string{}, p.Evidence...),
		RecordsCount: len(records.Records), EvidenceCount: len(evidence.Items), Findings: findings,
		RequestedBy: r.req.RequestedBy, SignedOffBy: signoff.Actor, Comment: signoff.Comment,
		GeneratedAt: workflow.Now(ctx).UTC(),
	}
	content, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	return r.activityStep(ctx, StepPublishReport, false, func(ctx workflow.Context) (string, error) {
		var file activities.ReportFile
		err := workflow.ExecuteActivity(withActivity(ctx, "write audit report of "+id), files.WriteReport,
			activities.ReportInput{Name: id, Content: content}).Get(ctx, &file)
		if err != nil {
			return "", err
		}
		r.state.Outputs["report_path"] = file.Path
		var row activities.RecordedRow
		err = workflow.ExecuteActivity(withActivity(ctx, "record audit "+id), db.RecordAudit, activities.AuditRecord{
			RequestID: id, Tables: strings.Join(p.Tables, ","), Findings: len(findings), ReportPath: file.Path,
			RequestedBy: r.req.RequestedBy, SignedOffBy: signoff.Actor,
		}).Get(ctx, &row)
		r.state.Outputs["audit_id"] = fmt.Sprint(row.ID)
		return fmt.Sprintf("report %s published, audit %d recorded", file.Path, row.ID), err
	})
}

// Analyze compares records with evidence and returns the findings in a stable order.
// Without evidence files only duplicate records are reported.
func Analyze(tables []string, records []activities.CollectedRecord, evidence []activities.EvidenceItem, haveEvidence bool) []Finding {
	type key struct{ table, key string }
	findings := []Finding{}
	recordCount := map[key]int{}
	for _, rec := range records {
		recordCount[key{rec.Table, strings.ToLower(rec.Key)}]++
	}
	evidenceCount := map[key]int{}
	for _, ev := range evidence {
		evidenceCount[key{ev.Table, strings.ToLower(ev.Key)}]++
	}
	for _, rec := range records {
		k := key{rec.Table, strings.ToLower(rec.Key)}
		if n := recordCount[k]; n > 1 {
			findings = append(findings, Finding{FindingDuplicateRecord, rec.Table, rec.Key, fmt.Sprintf("record %d shares its key with %d other records", rec.ID, n-1)})
		}
		if haveEvidence && evidenceCount[k] == 0 {
			findings = append(findings, Finding{FindingMissingEvidence, rec.Table, rec.Key, fmt.Sprintf("record %d has no evidence", rec.ID)})
		}
	}
	seen := map[key]bool{}
	for _, ev := range evidence {
		if !slices.Contains(tables, ev.Table) {
			continue
		}
		k := key{ev.Table, strings.ToLower(ev.Key)}
		if recordCount[k] == 0 {
			findings = append(findings, Finding{FindingUnknownRecord, ev.Table, ev.Key, fmt.Sprintf("%s row %d names no record", ev.File, ev.Row)})
		}
		if evidenceCount[k] > 1 && !seen[k] {
			findings = append(findings, Finding{FindingDuplicateEvident, ev.Table, ev.Key, fmt.Sprintf("listed %d times in the evidence", evidenceCount[k])})
		}
		seen[k] = true
	}
	slices.SortStableFunc(findings, func(a, b Finding) int {
		return strings.Compare(a.Kind+"\x00"+a.Table+"\x00"+a.Key, b.Kind+"\x00"+b.Table+"\x00"+b.Key)
	})
	return findings
}
