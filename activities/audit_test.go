package activities_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/activities"
)

// auditFixture is a demo database with a duplicate user, a sandbox with evidence files
// that match some records, name unknown ones and list one twice, and the Audits
// activities over both.
type auditFixture struct {
	a       *activities.Audits
	db      *activities.Database
	files   *activities.Files
	dir     string
	tables  []string
	paths   []string
	outside string
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	db, dbPath := openDB(t)
	files, dir, secret := sandbox(t)
	ctx := context.Background()
	f := &auditFixture{a: &activities.Audits{Database: db, Files: files}, db: db, files: files, dir: dir,
		tables: []string{"users", "orders"}, paths: []string{"evidence/users.csv", "evidence/orders.json"}, outside: filepath.Dir(secret)}
	demo, err := db.CollectRecords(ctx, activities.CollectInput{Tables: f.tables})
	if err != nil {
		t.Fatal(err)
	}
	var users, orders []string
	for _, r := range demo.Records {
		if r.Table == "users" {
			users = append(users, r.Key)
		} else {
			orders = append(orders, r.Key)
		}
	}
	// The first user again, inactive, in capitals: a duplicate record.
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO users (email, name, role, team, status, created_at) VALUES (?, 'Twin', 'viewer', '', 'inactive', '2026-01-02T00:00:00Z')`,
		strings.ToUpper(users[0])); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("evidence/users.csv", "email,verified_by\n"+users[1]+",hr\n"+strings.ToUpper(users[1])+",okta\n"+users[2]+",hr\nnobody@example.com,hr\n,blank\n<b>&amp;@example.com,html\n")
	write("evidence/orders.json", `[{"reference":"`+orders[0]+`"},{"reference":"ORD-NOPE"},{"sku":"SKU-NOT-AUDITED"},{"reference":"`+orders[3]+`","email":"`+users[4]+`"}]`)
	return f
}

// readFindings reads a findings work file.
func readJSONLines[T any](t *testing.T, p string) []T {
	t.Helper()
	file, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	out := []T{}
	dec := json.NewDecoder(bufio.NewReader(file))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// run collects, reads the evidence (when paths are given) and analyzes for the run.
func (f *auditFixture) run(t *testing.T, run string, tables, paths []string) (activities.AuditFile, *activities.AuditFile, activities.AuditAnalysis) {
	t.Helper()
	ctx := context.Background()
	recs, err := f.a.CollectAuditRecords(ctx, activities.AuditRecordsInput{Run: run, Tables: tables})
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	var ev *activities.AuditFile
	if len(paths) > 0 {
		e, err := f.a.ReadAuditEvidence(ctx, activities.AuditEvidenceInput{Run: run, Paths: paths})
		if err != nil {
			t.Fatalf("read evidence: %v", err)
		}
		ev = &e
	}
	an, err := f.a.AnalyzeAudit(ctx, activities.AnalyzeAuditInput{Run: run, Tables: tables, Records: recs, Evidence: ev})
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	return recs, ev, an
}

// TestAnalyzeAuditFindsWhatTheWorkflowFinds: collecting, reading and analyzing through
// work files finds what Analyze finds over CollectRecords' and ReadEvidence's results
// (the audit's Go code and version 2), in the same order, with and without evidence.
func TestAnalyzeAuditFindsWhatTheWorkflowFinds(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		label  string
		tables []string
		paths  []string
	}{
		{"with evidence", f.tables, f.paths},
		{"without evidence", []string{"users"}, nil},
		{"evidence of tables not audited", []string{"products"}, f.paths},
	} {
		t.Run(c.label, func(t *testing.T) {
			run := "audit-" + strings.ReplaceAll(c.label, " ", "-") + "/run-1"
			recs, ev, an := f.run(t, run, c.tables, c.paths)
			byValue, err := f.db.CollectRecords(ctx, activities.CollectInput{Tables: c.tables})
			if err != nil {
				t.Fatal(err)
			}
			var items []activities.EvidenceItem
			if len(c.paths) > 0 {
				res, err := f.files.ReadEvidence(ctx, activities.EvidenceInput{Paths: c.paths})
				if err != nil {
					t.Fatal(err)
				}
				items = res.Items
			}
			if got := readJSONLines[activities.CollectedRecord](t, filepath.Join(f.dir, recs.File)); !reflect.DeepEqual(got, byValue.Records) || recs.Count != len(got) {
				t.Errorf("records file (%d, count %d) differs from CollectRecords (%d)", len(got), recs.Count, len(byValue.Records))
			}
			if ev != nil {
				if got := readJSONLines[activities.EvidenceItem](t, filepath.Join(f.dir, ev.File)); !reflect.DeepEqual(got, items) || ev.Count != len(got) {
					t.Errorf("evidence file %v differs from ReadEvidence %v", got, items)
				}
			}
			want := activities.Analyze(c.tables, byValue.Records, items, len(c.paths) > 0)
			got := readJSONLines[activities.Finding](t, filepath.Join(f.dir, an.File))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("findings\n file    %v\n Analyze %v", got, want)
			}
			kinds := map[string]int{}
			for _, x := range want {
				kinds[x.Kind]++
			}
			if an.Count != len(want) || !reflect.DeepEqual(an.ByKind, kinds) || !reflect.DeepEqual(an.Sample, want[:min(len(want), activities.AuditSampleFindings)]) {
				t.Errorf("analysis %+v; want %d findings by kind %v", an, len(want), kinds)
			}
			if an.Records != len(byValue.Records) || an.EvidenceItems != len(items) {
				t.Errorf("analysis counts %d records, %d items; want %d, %d", an.Records, an.EvidenceItems, len(byValue.Records), len(items))
			}
		})
	}
	// The fixture has every kind of finding, so the comparison means something.
	_, _, an := f.run(t, "audit-kinds", f.tables, f.paths)
	for _, k := range []string{activities.FindingMissingEvidence, activities.FindingUnknownRecord, activities.FindingDuplicateRecord, activities.FindingDuplicateEvidence} {
		if an.ByKind[k] == 0 {
			t.Errorf("no finding of kind %s: %v", k, an.ByKind)
		}
	}
}

// TestPublishAuditReportIsTheReportOfTheGoCode: the report is json.MarshalIndent of the
// AuditReport with every finding (what write_audit_report writes), also with none; a retry,
// or the step run again, returns the same file; another run's report of the name is
// refused and the report left as it was.
func TestPublishAuditReportIsTheReportOfTheGoCode(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, c := range []struct {
		name   string
		tables []string
		paths  []string
	}{
		{"audit-with-findings", f.tables, f.paths},
		{"audit-without-findings", []string{"products"}, nil},
	} {
		run := c.name + "/first"
		_, _, an := f.run(t, run, c.tables, c.paths)
		in := activities.PublishAuditInput{AuditReportArgs: activities.AuditReportArgs{
			Name: c.name, Run: run, WorkflowID: c.name, Tables: c.tables, Since: "2020-01-01", Evidence: c.paths, Analysis: an,
			RequestedBy: "alice", SignedOffBy: "bob", Comment: "checked <b> & done",
		}, GeneratedAt: at}
		out, err := f.a.PublishAuditReport(ctx, in)
		if err != nil || out.Path != "reports/"+c.name+".json" {
			t.Fatalf("%s: publish %+v %v", c.name, out, err)
		}
		findings := readJSONLines[activities.Finding](t, filepath.Join(f.dir, an.File))
		evidence := c.paths
		if evidence == nil {
			evidence = []string{}
		}
		want, _ := json.MarshalIndent(activities.AuditReport{WorkflowID: c.name, Tables: c.tables, Since: "2020-01-01", Evidence: evidence,
			RecordsCount: an.Records, EvidenceCount: an.EvidenceItems, Findings: findings, RequestedBy: "alice", SignedOffBy: "bob",
			Comment: "checked <b> & done", GeneratedAt: at}, "", "  ")
		got, _ := os.ReadFile(filepath.Join(f.dir, out.Path))
		if !bytes.Equal(got, want) || out.SizeBytes != len(want) {
			t.Errorf("%s: report (%d bytes, said %d)\n%s\nwant\n%s", c.name, len(got), out.SizeBytes, got, want)
		}
		again, err := f.a.PublishAuditReport(ctx, in)
		if err != nil || again != out {
			t.Errorf("%s: a retry gave %+v %v, want %+v", c.name, again, err, out)
		}
		// The step run again (continue, after the record action failed): its report would
		// differ in its time only, and the one it published stands.
		later := in
		later.GeneratedAt = at.Add(time.Hour)
		if again, err := f.a.PublishAuditReport(ctx, later); err != nil || again != out {
			t.Errorf("%s: the step run again gave %+v %v, want %+v", c.name, again, err, out)
		}
		// Another run of the same workflow id (after retention) finds the name taken.
		otherRun := c.name + "/second"
		_, _, otherAnalysis := f.run(t, otherRun, c.tables, c.paths)
		other := in
		other.Run, other.Analysis, other.GeneratedAt = otherRun, otherAnalysis, at.Add(24*time.Hour)
		if _, err := f.a.PublishAuditReport(ctx, other); errType(err) != activities.ErrTypeConflict {
			t.Errorf("%s: another run's report of the name: %v, want a conflict", c.name, err)
		}
		if now, _ := os.ReadFile(filepath.Join(f.dir, out.Path)); !bytes.Equal(now, want) {
			t.Errorf("%s: the report changed", c.name)
		}
		if left := workFiles(t, f.dir, run); !slices.Equal(left, []string{"evidence.jsonl", "findings.jsonl", "published.json", "records.jsonl"}) && !slices.Equal(left, []string{"findings.jsonl", "published.json", "records.jsonl"}) {
			t.Errorf("%s: work folder holds %v", c.name, left)
		}
		if left := workFiles(t, f.dir, otherRun); slices.Contains(left, "published.json") || slices.ContainsFunc(left, func(n string) bool { return strings.Contains(n, ".tmp-") }) {
			t.Errorf("%s: the refused run's folder holds %v", c.name, left)
		}
	}
}

// workFiles lists the work folder of run.
func workFiles(t *testing.T, dir, run string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, activities.AuditsDir, filepath.FromSlash(run)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestAuditWorkFilesAreRewrittenWhole: an activity run again (a retry, or a second
// attempt after a worker was lost mid-way) writes the same file whole and removes what the
// lost attempt left; a work file that is not what its step reported is refused.
func TestAuditWorkFilesAreRewrittenWhole(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	run := "audit-retry/run-1"
	recs, ev, an := f.run(t, run, f.tables, f.paths)
	// A lost attempt left a half-written temporary file and a torn work file.
	folder := filepath.Join(f.dir, "audits", "audit-retry", "run-1")
	os.WriteFile(filepath.Join(folder, "records.jsonl.tmp-0123456789abcdef"), []byte(`{"table":"us`), 0o644)
	os.WriteFile(filepath.Join(folder, "evidence.jsonl"), []byte(`{"file":"evidence/users.csv","row":1,"tab`), 0o644)
	if _, err := f.a.AnalyzeAudit(ctx, activities.AnalyzeAuditInput{Run: run, Tables: f.tables, Records: recs, Evidence: ev}); errType(err) != activities.ErrTypeConflict {
		t.Errorf("analyze over a torn evidence file: %v, want a conflict", err)
	}
	recs2, ev2, an2 := f.run(t, run, f.tables, f.paths)
	if recs2 != recs || *ev2 != *ev || an2.SHA256 != an.SHA256 || an2.Count != an.Count {
		t.Errorf("run again: %+v %+v %+v, first %+v %+v %+v", recs2, *ev2, an2, recs, *ev, an)
	}
	if left := workFiles(t, f.dir, run); !slices.Equal(left, []string{"evidence.jsonl", "findings.jsonl", "records.jsonl"}) {
		t.Errorf("work folder holds %v", left)
	}
	// The records changed after they were collected: the analysis refuses them.
	os.WriteFile(filepath.Join(folder, "records.jsonl"), append(mustRead(t, filepath.Join(folder, "records.jsonl")), `{"table":"users","id":99,"key":"x@example.com","created_at":""}`+"\n"...), 0o644)
	_, err := f.a.AnalyzeAudit(ctx, activities.AnalyzeAuditInput{Run: run, Tables: f.tables, Records: recs, Evidence: ev})
	if errType(err) != activities.ErrTypeConflict || !strings.Contains(err.Error(), "is not what its step wrote") {
		t.Errorf("analyze over changed records: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuditWorkFilesStayInTheRunsFolder: the run's name cannot lead out of audits/, a
// step reads only its own run's files, and a work folder that is a symbolic link out of
// the sandbox is not written through.
func TestAuditWorkFilesStayInTheRunsFolder(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	for _, run := range []string{"", "..", "../reports", "a/../../b", "/etc", "a/b/c", "a b", "a\\b", ".hidden", "a/", strings.Repeat("x", 129)} {
		_, err := f.a.CollectAuditRecords(ctx, activities.AuditRecordsInput{Run: run, Tables: []string{"users"}})
		if errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("run %q: %v, want invalid input", run, err)
		}
	}
	recs, ev, _ := f.run(t, "audit-a/run-1", f.tables, f.paths)
	f.run(t, "audit-b/run-1", f.tables, f.paths)
	for _, ref := range []string{"audits/audit-b/run-1/records.jsonl", "evidence/users.csv", "../secret.json", "audits/audit-a/run-1/evidence.jsonl"} {
		bad := recs
		bad.File = ref
		_, err := f.a.AnalyzeAudit(ctx, activities.AnalyzeAuditInput{Run: "audit-a/run-1", Tables: f.tables, Records: bad, Evidence: ev})
		if errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("records from %q: %v, want invalid input", ref, err)
		}
	}
	// audits/escape is a link to the folder beside the sandbox.
	os.Symlink(f.outside, filepath.Join(f.dir, "audits", "escape"))
	if _, err := f.a.CollectAuditRecords(ctx, activities.AuditRecordsInput{Run: "escape/run-1", Tables: []string{"users"}}); err == nil {
		t.Error("wrote through a link out of the sandbox")
	}
	if _, err := os.Stat(filepath.Join(f.outside, "run-1")); err == nil {
		t.Error("a folder was created outside the sandbox")
	}
}

// TestAuditBudgetsAreRefusedUpFront: too many records, evidence files over the size limit
// or naming too many items are refused with the figures, and leave no work file.
func TestAuditBudgetsAreRefusedUpFront(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	f.a.MaxRecords, f.a.MaxEvidenceItems = 30, 5
	_, err := f.a.CollectAuditRecords(ctx, activities.AuditRecordsInput{Run: "big/1", Tables: []string{"users", "orders"}})
	if errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), "hold 61 records") || !strings.Contains(err.Error(), "users 21, orders 40") || !strings.Contains(err.Error(), "at most 30") {
		t.Errorf("too many records: %v", err)
	}
	_, err = f.a.ReadAuditEvidence(ctx, activities.AuditEvidenceInput{Run: "big/1", Paths: f.paths})
	if errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), "name 10 records") || !strings.Contains(err.Error(), "at most 5") {
		t.Errorf("too many evidence items: %v", err)
	}
	// Every file is checked before any is read: a missing second file stops it at once.
	_, err = f.a.ReadAuditEvidence(ctx, activities.AuditEvidenceInput{Run: "big/1", Paths: []string{"evidence/users.csv", "evidence/missing.csv"}})
	if errType(err) != activities.ErrTypeNotFound {
		t.Errorf("a missing file: %v", err)
	}
	f.files.MaxBytes = 100
	_, err = f.a.ReadAuditEvidence(ctx, activities.AuditEvidenceInput{Run: "big/1", Paths: f.paths})
	if errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), "the limit is 100 bytes") {
		t.Errorf("a file over the size limit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "audits", "big")); err == nil {
		if left := workFiles(t, f.dir, "big/1"); len(left) > 0 {
			t.Errorf("refused audits left %v", left)
		}
	}
}

// TestAnalyzeKeepsItsOrder: findings are sorted as the audit always sorted them, by
// Kind+"\x00"+Table+"\x00"+Key, also for keys that are prefixes of each other or hold
// NUL: a report's order does not change with the way it is computed.
func TestAnalyzeKeepsItsOrder(t *testing.T) {
	keys := []string{"a", "a\x00", "a\x00b", "A", "ab", "a b", "", "b", "\x00", "é", "z\x00a"}
	var records []activities.CollectedRecord
	var evidence []activities.EvidenceItem
	for i, k := range keys {
		records = append(records, activities.CollectedRecord{Table: []string{"users", "orders"}[i%2], ID: int64(i), Key: k})
		evidence = append(evidence, activities.EvidenceItem{File: "e.csv", Row: i, Table: []string{"orders", "users"}[i%2], Key: k + "x"})
		evidence = append(evidence, activities.EvidenceItem{File: "e.csv", Row: i, Table: "users", Key: strings.ToUpper(k)})
	}
	findings := activities.Analyze([]string{"users", "orders"}, records, evidence, true)
	if len(findings) < len(keys) {
		t.Fatalf("only %d findings", len(findings))
	}
	always := func(a, b activities.Finding) int {
		return strings.Compare(a.Kind+"\x00"+a.Table+"\x00"+a.Key, b.Kind+"\x00"+b.Table+"\x00"+b.Key)
	}
	if !slices.IsSortedFunc(findings, always) {
		t.Errorf("findings out of order: %q", findings)
	}
	again := slices.Clone(findings)
	slices.SortStableFunc(again, always)
	if !slices.Equal(again, findings) {
		t.Errorf("a stable sort the old way reorders them")
	}
}
