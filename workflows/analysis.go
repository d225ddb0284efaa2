package workflows

import "github.com/flowgate/flowgate/activities"

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

// Analyze compares records with evidence and returns the findings in a stable order.
// Without evidence files only duplicate records are reported. The audit's Go code
// (workflows/legacy) and the analyze_evidence operation run it in the workflow; analyze_audit runs the same function
// in an activity.
func Analyze(tables []string, records []activities.CollectedRecord, evidence []activities.EvidenceItem, haveEvidence bool) []Finding {
	return activities.Analyze(tables, records, evidence, haveEvidence)
}
