package workflows_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// writeUnknownEvidence writes a CSV of rows evidence rows into the harness's sandbox, none
// of which names a record: each is an evidence_without_record finding.
func writeUnknownEvidence(t *testing.T, h *harness, rel string, rows int) {
	t.Helper()
	p := filepath.Join(h.files.Dir(), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("email,verified_by,verified_on\n")
	for i := range rows {
		fmt.Fprintf(w, "nobody.%05d@example.com,hr-system,2026-01-%02d\n", i, 1+i%28)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestShippedAuditCarriesThousandsOfFindingsByReference: an audit on the shipped
// definition whose findings are far over Temporal's 2 MB payload limit by value (20 020
// findings, some 3.4 MB of JSON) reaches its sign-off with a small analysis in the record
// (counts and a sample), is approved, and publishes a report with every finding.
func TestShippedAuditCarriesThousandsOfFindingsByReference(t *testing.T) {
	const rows = 20_000
	h := newHarnessOn(t, true)
	writeUnknownEvidence(t, h, "evidence/many.csv", rows)
	var atGate workflows.State
	h.at(time.Minute, func() {
		atGate = h.details()
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: workflows.StepAuditorSignoff, Actor: "auditor"})
	})
	h.startAudit(auditInput{Request: alice, Params: workflows.AuditParams{Tables: []string{"users"}, Evidence: []string{"evidence/many.csv"}}})
	st, err := h.result()
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("status %s err %v", st.Status, err)
	}
	want := rows + 20 // every row unknown, and none of the 20 demo users vouched for
	if atGate.Status != workflows.StatusWaitingApproval || atGate.Outputs["findings"] != fmt.Sprint(want) {
		t.Fatalf("at the gate: %s, outputs %v", atGate.Status, atGate.Outputs)
	}
	for step, text := range map[string]string{
		workflows.StepCollectRecords: "20 records collected",
		workflows.StepParseEvidence:  fmt.Sprintf("%d evidence items in 1 files", rows),
		workflows.StepAnalyze:        fmt.Sprintf("%d findings", want),
	} {
		if got := stepOf(atGate, step).Output; got != text {
			t.Errorf("step %s says %q, want %q", step, got, text)
		}
	}
	// What the steps pass on is small enough for the record: each output is there whole.
	for _, step := range []string{workflows.StepCollectRecords, workflows.StepParseEvidence, workflows.StepAnalyze} {
		if out := atGate.Outputs[step]; out == "" || strings.Contains(out, "more than the record keeps") {
			t.Errorf("output of %s in the record: %q", step, out)
		}
	}
	var analysis struct {
		Count  int                 `json:"count"`
		ByKind map[string]int      `json:"by_kind"`
		Sample []workflows.Finding `json:"sample"`
		File   string              `json:"file"`
	}
	if err := json.Unmarshal([]byte(atGate.Outputs[workflows.StepAnalyze]), &analysis); err != nil {
		t.Fatalf("analysis in the record: %v", err)
	}
	if analysis.Count != want || analysis.ByKind[workflows.FindingUnknownRecord] != rows || analysis.ByKind[workflows.FindingMissingEvidence] != 20 || len(analysis.Sample) != 20 {
		t.Errorf("analysis: count %d by kind %v, %d in the sample", analysis.Count, analysis.ByKind, len(analysis.Sample))
	}

	raw, err := os.ReadFile(filepath.Join(h.files.Dir(), st.Outputs["report_path"]))
	if err != nil {
		t.Fatal(err)
	}
	var report workflows.AuditReport
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Findings) != want || report.RecordsCount != 20 || report.EvidenceCount != rows || report.SignedOffBy != "auditor" {
		t.Fatalf("report: %d findings, %d records, %d evidence items, signed off by %q", len(report.Findings), report.RecordsCount, report.EvidenceCount, report.SignedOffBy)
	}
	if len(raw) < 2<<20 {
		t.Errorf("the report is %d bytes; this test is meant to pass more than 2 MB of findings", len(raw))
	}
	if !slices.Equal(report.Findings[:20], analysis.Sample) {
		t.Errorf("the sample is not the report's first findings:\n %v\n %v", analysis.Sample[:2], report.Findings[:2])
	}
	if !slices.IsSortedFunc(report.Findings, func(a, b workflows.Finding) int {
		return strings.Compare(a.Kind+"\x00"+a.Table+"\x00"+a.Key, b.Kind+"\x00"+b.Table+"\x00"+b.Key)
	}) {
		t.Error("the report's findings are not in the analysis's order")
	}
}

// TestAuditVersion2RunsFinishOnThisBuild: a run that carries the audit's version 2
// (records, evidence and findings by value, as runs in flight do) still runs on this
// build, and publishes the report version 3 publishes, byte for byte but its time.
func TestAuditVersion2RunsFinishOnThisBuild(t *testing.T) {
	v2 := auditV2(t)
	if v2.Version != 2 || shipped(t, workflows.KindAudit).Version != 3 {
		t.Fatalf("versions: testdata %d, shipped %d", v2.Version, shipped(t, workflows.KindAudit).Version)
	}
	params := workflows.AuditParams{Tables: []string{"users", "orders"}, Evidence: []string{"evidence/users.csv", "evidence/orders.json"}}
	run := func(src *workflows.ProcessSource) (workflows.State, []byte) {
		h := newHarness(t)
		h.at(time.Minute, func() {
			h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: workflows.StepAuditorSignoff, Actor: "auditor", Comment: "checked"})
		})
		raw, _ := json.Marshal(params)
		h.env.ExecuteWorkflow(string(workflows.KindAudit), workflows.BuiltinInput{Request: alice, Params: raw, Process: src})
		st, err := h.result()
		if err != nil || st.Status != workflows.StatusCompleted {
			t.Fatalf("version %d: status %s err %v", src.Version, st.Status, err)
		}
		report, err := os.ReadFile(filepath.Join(h.files.Dir(), st.Outputs["report_path"]))
		if err != nil {
			t.Fatal(err)
		}
		var r workflows.AuditReport
		if err := json.Unmarshal(report, &r); err != nil {
			t.Fatal(err)
		}
		r.GeneratedAt = time.Time{}
		same, _ := json.MarshalIndent(r, "", "  ")
		return st, same
	}
	v3 := shipped(t, workflows.KindAudit)
	old, oldReport := run(&v2)
	now, newReport := run(&v3)
	sameRecord(t, "version 2 against 3", old, now, nil, nil, "findings", "report_path", "audit_id")
	if string(oldReport) != string(newReport) {
		t.Errorf("report\n version 2 %s\n version 3 %s", oldReport, newReport)
	}
}

// TestAVersion2AuditTooLargeToPublishFailsItsStep: a run on the audit's version 2 whose
// report is over Temporal's payload limit once encoded used to leave every approval
// failing ("Workflow Task in failed state"). Its publish step now fails, naming the sizes
// and the limit, and the run waits for a decision: rejecting it ends it, failed.
func TestAVersion2AuditTooLargeToPublishFailsItsStep(t *testing.T) {
	v2 := auditV2(t)
	h := newHarness(t)
	writeUnknownEvidence(t, h, "evidence/many.csv", 13_700)
	h.at(time.Minute, func() {
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionApprove, Step: workflows.StepAuditorSignoff, Actor: "auditor"})
	})
	var failed workflows.State
	h.at(time.Hour, func() {
		failed = h.details()
		h.advance(workflows.AdvanceRequest{Scopes: approveScope, Action: workflows.ActionReject, Step: "publish_report", Actor: "auditor"})
	})
	raw, _ := json.Marshal(workflows.AuditParams{Tables: []string{"users"}, Evidence: []string{"evidence/many.csv"}})
	h.env.ExecuteWorkflow(string(workflows.KindAudit), workflows.BuiltinInput{Request: alice, Params: raw, Process: &v2})
	st, _ := h.result()
	if failed.Status != workflows.StatusWaitingInput || failed.CurrentStep != "publish_report" {
		t.Fatalf("after the approval: %s at %s", failed.Status, failed.CurrentStep)
	}
	if e := stepOf(failed, "publish_report").Error; !strings.Contains(e, "over Temporal's payload limit of 2097152 bytes") || !strings.Contains(e, "13720 findings") {
		t.Errorf("publish_report error %q", e)
	}
	if st.Status != workflows.StatusFailed || st.ClosedAt == nil {
		t.Errorf("after the reject: %s, closed %v (a reject at a failed step ends the run failed)", st.Status, st.ClosedAt)
	}
}

// auditV2 is the shipped audit's version 2, which runs in flight still carry.
func auditV2(t *testing.T) workflows.ProcessSource {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "audit_v2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := workflows.ParseDefinition("testdata/audit_v2.yaml", data, workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	return workflows.NewProcessSource(d, data)
}
