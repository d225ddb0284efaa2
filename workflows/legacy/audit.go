package legacy

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// Audit checks records against evidence: collect the records (read-only), parse the
// evidence files, analyze (records without evidence, evidence without a record,
// duplicates), wait for an auditor's sign-off, and publish the report to the sandbox's
// reports folder and the database.
func Audit(ctx workflow.Context, in AuditInput) (workflows.State, error) {
	if err := in.Params.Validate(); err != nil {
		return workflows.State{}, invalidStart(err)
	}
	r, err := workflows.NewEngine(ctx, workflows.KindAudit, in.Request, in.Params, []workflows.Step{
		{Name: workflows.StepCollectRecords, Kind: workflows.StepActivity},
		{Name: workflows.StepParseEvidence, Kind: workflows.StepActivity},
		{Name: workflows.StepAnalyze, Kind: workflows.StepActivity},
		{Name: workflows.StepAuditorSignoff, Kind: workflows.StepApproval},
		{Name: workflows.StepPublishReport, Kind: workflows.StepActivity},
	})
	if err != nil {
		return workflows.State{}, err
	}
	return r.Finish(ctx, audit(ctx, r, in.Params))
}

func audit(ctx workflow.Context, r *workflows.Engine, p workflows.AuditParams) error {
	id := r.WorkflowID()
	var records activities.CollectResult
	err := r.ActivityStep(ctx, workflows.StepCollectRecords, false, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "collect records of "+strings.Join(p.Tables, ", ")), db.CollectRecords,
			activities.CollectInput{Tables: p.Tables, Since: p.Since}).Get(ctx, &records)
		return fmt.Sprintf("%d records collected", len(records.Records)), err
	})
	if err != nil {
		return err
	}
	var evidence activities.EvidenceResult
	if len(p.Evidence) == 0 {
		r.Skip(ctx, workflows.StepParseEvidence, "no evidence files given")
	} else if err := r.ActivityStep(ctx, workflows.StepParseEvidence, false, func(ctx workflow.Context) (string, error) {
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, fmt.Sprintf("parse %d evidence files", len(p.Evidence))), files.ReadEvidence,
			activities.EvidenceInput{Paths: p.Evidence}).Get(ctx, &evidence)
		return fmt.Sprintf("%d evidence items in %d files", len(evidence.Items), len(p.Evidence)), err
	}); err != nil {
		return err
	}
	var findings []workflows.Finding
	r.StepInWorkflow(ctx, workflows.StepAnalyze, func() string {
		findings = workflows.Analyze(p.Tables, records.Records, evidence.Items, len(p.Evidence) > 0)
		r.SetOutput("findings", fmt.Sprint(len(findings)))
		return fmt.Sprintf("%d findings", len(findings))
	})

	if _, err := r.Approval(ctx, workflows.StepAuditorSignoff); err != nil {
		return err
	}
	signoff := r.Step(workflows.StepAuditorSignoff)
	report := workflows.AuditReport{
		WorkflowID: id, Tables: p.Tables, Since: p.Since, Evidence: append([]string{}, p.Evidence...),
		RecordsCount: len(records.Records), EvidenceCount: len(evidence.Items), Findings: findings,
		RequestedBy: r.RequestedBy(), SignedOffBy: signoff.Actor, Comment: signoff.Comment,
		GeneratedAt: workflow.Now(ctx).UTC(),
	}
	content, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	return r.ActivityStep(ctx, workflows.StepPublishReport, false, func(ctx workflow.Context) (string, error) {
		var file activities.ReportFile
		err := workflow.ExecuteActivity(workflows.WithActivity(ctx, "write audit report of "+id), files.WriteReport,
			activities.ReportInput{Name: id, Content: content}).Get(ctx, &file)
		if err != nil {
			return "", err
		}
		r.SetOutput("report_path", file.Path)
		var row activities.RecordedRow
		err = workflow.ExecuteActivity(workflows.WithActivity(ctx, "record audit "+id), db.RecordAudit, activities.AuditRecord{
			RequestID: id, Tables: strings.Join(p.Tables, ","), Findings: len(findings), ReportPath: file.Path,
			RequestedBy: r.RequestedBy(), SignedOffBy: signoff.Actor,
		}).Get(ctx, &row)
		r.SetOutput("audit_id", fmt.Sprint(row.ID))
		return fmt.Sprintf("report %s published, audit %d recorded", file.Path, row.ID), err
	})
}
