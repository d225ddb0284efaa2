package workflows

import (
	"encoding/json"
	"fmt"
	"strings"

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

// Finding is one discrepancy an audit found. It lives with the activities, which analyze
// an audit's data where it is too large to travel through the workflow.
type Finding = activities.Finding

// Kinds of finding.
const (
	FindingMissingEvidence   = activities.FindingMissingEvidence
	FindingUnknownRecord     = activities.FindingUnknownRecord
	FindingDuplicateRecord   = activities.FindingDuplicateRecord
	FindingDuplicateEvidence = activities.FindingDuplicateEvidence
)

// AuditReport is the report an audit publishes.
type AuditReport = activities.AuditReport

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
// Without evidence files only duplicate records are reported. The audit's Go code and the
// analyze_evidence operation run it in the workflow; analyze_audit runs the same function
// in an activity.
func Analyze(tables []string, records []activities.CollectedRecord, evidence []activities.EvidenceItem, haveEvidence bool) []Finding {
	return activities.Analyze(tables, records, evidence, haveEvidence)
}
