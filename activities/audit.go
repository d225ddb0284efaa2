package activities

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Finding is one discrepancy an audit found.
type Finding struct {
	Kind   string `json:"kind"`
	Table  string `json:"table"`
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

// Kinds of finding.
const (
	FindingMissingEvidence   = "record_without_evidence"
	FindingUnknownRecord     = "evidence_without_record"
	FindingDuplicateRecord   = "duplicate_record"
	FindingDuplicateEvidence = "duplicate_evidence"
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

// Analyze compares records with evidence and returns the findings in a stable order.
// Without evidence files only duplicate records are reported. It is pure: the audit's Go
// code runs it in the workflow, AnalyzeAudit in an activity.
func Analyze(tables []string, records []CollectedRecord, evidence []EvidenceItem, haveEvidence bool) []Finding {
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
			findings = append(findings, Finding{FindingDuplicateEvidence, ev.Table, ev.Key, fmt.Sprintf("listed %d times in the evidence", evidenceCount[k])})
		}
		seen[k] = true
	}
	// By kind, table and key: the order of comparing Kind+"\x00"+Table+"\x00"+Key, as the
	// audit always sorted (kinds and table names hold no NUL), without building a string
	// for each comparison.
	slices.SortStableFunc(findings, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Table, b.Table), strings.Compare(a.Key, b.Key))
	})
	return findings
}

// Bounds of an audit whose data travels by reference (the Audits activities).
const (
	// AuditsDir is the sandbox folder of the audits' work files: audits/RUN/records.jsonl,
	// evidence.jsonl and findings.jsonl, one JSON object a line.
	AuditsDir = "audits"
	// MaxAuditRecords is the most records one audit collects, all its tables together.
	// The analysis holds the records, the items and the findings in memory: at both
	// budgets, with no item matching a record (2 000 000 findings), about 1 GiB for 20 s.
	MaxAuditRecords = 1_000_000
	// MaxAuditEvidenceItems is the most items one audit's evidence files may name.
	MaxAuditEvidenceItems = 1_000_000
	// AuditSampleFindings is the most findings AnalyzeAudit returns as its sample; the
	// sample is kept within auditSampleBytes of JSON too, so the analysis stays small
	// enough for the run's record (4 KiB a step).
	AuditSampleFindings = 20
	auditSampleBytes    = 3 << 10
	// AuditAttemptTimeout is the least time an attempt of an Audits activity is given.
	AuditAttemptTimeout = 30 * time.Minute
	// AuditHeartbeatTimeout is how soon a worker lost in the middle of an Audits activity
	// is noticed (it heartbeats five times as often, keepAlive), and the activity retried.
	AuditHeartbeatTimeout = time.Minute
)

// Names of the work files in a run's folder.
const (
	auditRecordsFile  = "records.jsonl"
	auditEvidenceFile = "evidence.jsonl"
	auditFindingsFile = "findings.jsonl"
	auditReportTemp   = "report.json"
	// auditPublishedMark names the report the run published and its SHA-256.
	auditPublishedMark = "published.json"
)

// Audits are the activities of an audit whose records, evidence and findings do not travel
// through Temporal: each writes what it produced to a work file of the run in the sandbox
// (audits/RUN/) and returns the file's path, row count and SHA-256, which the next one
// checks before it reads the file. Payloads stay small whatever the data's size, so the
// limits are the budgets below, not Temporal's 2 MB on one payload.
type Audits struct {
	Database *Database
	Files    *Files
	// MaxRecords and MaxEvidenceItems lower the budgets of one audit below
	// MaxAuditRecords and MaxAuditEvidenceItems (tests); zero keeps them.
	MaxRecords, MaxEvidenceItems int
}

func (a *Audits) maxRecords() int {
	if a.MaxRecords <= 0 || a.MaxRecords > MaxAuditRecords {
		return MaxAuditRecords
	}
	return a.MaxRecords
}

func (a *Audits) maxEvidenceItems() int {
	if a.MaxEvidenceItems <= 0 || a.MaxEvidenceItems > MaxAuditEvidenceItems {
		return MaxAuditEvidenceItems
	}
	return a.MaxEvidenceItems
}

// AuditFile names a work file an Audits activity wrote: its sandbox path, how many JSON
// lines it holds and the SHA-256 of its content (hex).
type AuditFile struct {
	File   string `json:"file"`
	Count  int    `json:"count"`
	SHA256 string `json:"sha256"`
}

// AuditRecordsInput is the input of CollectAuditRecords.
type AuditRecordsInput struct {
	// Run names the run's work folder, audits/RUN: {{run.key}}.
	Run    string   `json:"run"`
	Tables []string `json:"tables"`
	// Since, when set, keeps records created at or after it (RFC 3339 date or time).
	Since string `json:"since,omitempty"`
}

// CollectAuditRecords reads the natural keys of the records of the given tables,
// read-only, into audits/RUN/records.jsonl, a row at a time. More than MaxAuditRecords
// are refused before a row is read.
func (a *Audits) CollectAuditRecords(ctx context.Context, in AuditRecordsInput) (AuditFile, error) {
	dir, err := auditRunDir(in.Run)
	if err != nil {
		return AuditFile{}, err
	}
	if len(in.Tables) == 0 {
		return AuditFile{}, invalidInput("tables", "is empty; give one or more of %s", strings.Join(SearchableTables(), ", "))
	}
	defer keepAlive(ctx)()
	p := path.Join(dir, auditRecordsFile)
	n := 0
	sum, _, err := a.Files.writeAtomic(p, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		var err error
		n, err = a.Database.eachAuditRecord(ctx, in.Tables, in.Since, a.maxRecords(), func(r CollectedRecord) error {
			return enc.Encode(r)
		})
		return err
	})
	if err != nil {
		return AuditFile{}, err
	}
	return AuditFile{File: p, Count: n, SHA256: sum}, nil
}

// AuditEvidenceInput is the input of ReadAuditEvidence.
type AuditEvidenceInput struct {
	// Run names the run's work folder, audits/RUN: {{run.key}}.
	Run   string   `json:"run"`
	Paths []string `json:"paths"`
}

// ReadAuditEvidence reads the items of CSV or JSON evidence files (as ReadEvidence does)
// into audits/RUN/evidence.jsonl. Every file is checked before any is read: there, a CSV
// or JSON file and within the sandbox's file size limit. More than MaxAuditEvidenceItems
// items are refused with their count.
func (a *Audits) ReadAuditEvidence(ctx context.Context, in AuditEvidenceInput) (AuditFile, error) {
	dir, err := auditRunDir(in.Run)
	if err != nil {
		return AuditFile{}, err
	}
	if len(in.Paths) == 0 {
		return AuditFile{}, invalidInput("paths", "is empty; give one or more CSV or JSON files in the sandbox, such as \"evidence/users.csv\"")
	}
	for _, p := range in.Paths {
		file, _, _, _, err := a.Files.openParsable(p)
		if err != nil {
			return AuditFile{}, err
		}
		file.Close()
	}
	defer keepAlive(ctx)()
	p := path.Join(dir, auditEvidenceFile)
	n := 0
	sum, _, err := a.Files.writeAtomic(p, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		var werr error
		limit := a.maxEvidenceItems()
		add := func(item EvidenceItem) {
			if n++; n > limit || werr != nil {
				return // counted, to say how many there are
			}
			werr = enc.Encode(item)
		}
		for _, file := range in.Paths {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := a.Files.readEvidence(add, file); err != nil {
				return err
			}
		}
		if n > limit {
			return invalidInput("paths", "the evidence files (%s) name %d records; an audit reads at most %d. Split the evidence over several audits",
				strings.Join(in.Paths, ", "), n, limit)
		}
		return werr
	})
	if err != nil {
		return AuditFile{}, err
	}
	return AuditFile{File: p, Count: n, SHA256: sum}, nil
}

// AnalyzeAuditInput is the input of AnalyzeAudit.
type AnalyzeAuditInput struct {
	// Run names the run's work folder, audits/RUN: {{run.key}}.
	Run    string   `json:"run"`
	Tables []string `json:"tables"`
	// Records is what CollectAuditRecords returned.
	Records AuditFile `json:"records"`
	// Evidence is what ReadAuditEvidence returned; nil when no evidence files were given
	// (only duplicate records are reported then).
	Evidence *AuditFile `json:"evidence"`
}

// AuditAnalysis is the output of AnalyzeAudit: the findings file and what to show of it.
type AuditAnalysis struct {
	// Count is the number of findings; File holds them all, one a line.
	Count  int    `json:"count"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// Records and EvidenceItems are the numbers of records and evidence items compared.
	Records       int `json:"records"`
	EvidenceItems int `json:"evidence_items"`
	// ByKind counts the findings of each kind.
	ByKind map[string]int `json:"by_kind"`
	// Sample is the first findings, in the report's order: at most AuditSampleFindings.
	Sample []Finding `json:"sample"`
}

// AnalyzeAudit compares the collected records with the evidence items, as Analyze does,
// and writes the findings, in the report's order, to audits/RUN/findings.jsonl. It reads
// only the files Records and Evidence name, in the run's folder, and only when their
// content is what the steps that wrote them reported.
func (a *Audits) AnalyzeAudit(ctx context.Context, in AnalyzeAuditInput) (AuditAnalysis, error) {
	dir, err := auditRunDir(in.Run)
	if err != nil {
		return AuditAnalysis{}, err
	}
	defer keepAlive(ctx)()
	// What every row repeats (its table, its file) is kept once, and what Analyze does not
	// read (a record's time) not at all: at the budgets this is a good part of the memory.
	names := map[string]string{}
	intern := func(s string) string {
		if v, ok := names[s]; ok {
			return v
		}
		names[s] = s
		return s
	}
	records := make([]CollectedRecord, 0, min(max(in.Records.Count, 0), a.maxRecords()))
	err = readWorkFile(ctx, a.Files, "records", path.Join(dir, auditRecordsFile), in.Records, func(r CollectedRecord) {
		r.Table, r.CreatedAt = intern(r.Table), ""
		records = append(records, r)
	})
	if err != nil {
		return AuditAnalysis{}, err
	}
	var evidence []EvidenceItem
	if in.Evidence != nil {
		evidence = make([]EvidenceItem, 0, min(max(in.Evidence.Count, 0), a.maxEvidenceItems()))
		err = readWorkFile(ctx, a.Files, "evidence", path.Join(dir, auditEvidenceFile), *in.Evidence, func(e EvidenceItem) {
			e.File, e.Table = intern(e.File), intern(e.Table)
			evidence = append(evidence, e)
		})
		if err != nil {
			return AuditAnalysis{}, err
		}
	}
	findings := Analyze(in.Tables, records, evidence, in.Evidence != nil)
	out := AuditAnalysis{Count: len(findings), File: path.Join(dir, auditFindingsFile), Records: len(records), EvidenceItems: len(evidence),
		ByKind: map[string]int{}, Sample: []Finding{}}
	sampleSize, sampling := len("[]"), true
	for _, f := range findings {
		out.ByKind[f.Kind]++
		if sampling = sampling && len(out.Sample) < AuditSampleFindings; sampling {
			raw, _ := json.Marshal(f)
			if sampling = sampleSize+len(raw)+1 <= auditSampleBytes; sampling {
				sampleSize += len(raw) + 1
				out.Sample = append(out.Sample, f)
			}
		}
	}
	out.SHA256, _, err = a.Files.writeAtomic(out.File, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i, f := range findings {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return AuditAnalysis{}, err
	}
	return out, nil
}

// AuditReportArgs are what PublishAuditReport writes into the report besides the
// findings, which it reads from the analysis's file, and the time.
type AuditReportArgs struct {
	// Name is the report's file name without folder or extension: reports/NAME.json.
	Name string `json:"name"`
	// Run names the run's work folder, audits/RUN: {{run.key}}.
	Run        string   `json:"run"`
	WorkflowID string   `json:"workflow_id"`
	Tables     []string `json:"tables"`
	Since      string   `json:"since,omitempty"`
	Evidence   []string `json:"evidence"`
	// Analysis is what AnalyzeAudit returned: the findings file and the counts.
	Analysis    AuditAnalysis `json:"analysis"`
	RequestedBy string        `json:"requested_by"`
	SignedOffBy string        `json:"signed_off_by"`
	Comment     string        `json:"comment,omitempty"`
}

// PublishAuditInput is the input of PublishAuditReport.
type PublishAuditInput struct {
	AuditReportArgs
	// GeneratedAt is the report's time, the workflow's when it asked: the same on a retry.
	GeneratedAt time.Time `json:"generated_at"`
}

// PublishAuditReport writes the audit report, with every finding of the analysis's file,
// to reports/NAME.json, in the format WriteReport is given by the audit's Go code
// (json.MarshalIndent of an AuditReport), a finding at a time. The report is written
// beside the work files first and then linked into place: it never overwrites a report
// and is never seen half-written; the same report again (a retry) returns the existing
// file, another report of that name is a Conflict.
func (a *Audits) PublishAuditReport(ctx context.Context, in PublishAuditInput) (ReportFile, error) {
	dir, err := auditRunDir(in.Run)
	if err != nil {
		return ReportFile{}, err
	}
	if !reportName.MatchString(in.Name) || strings.Contains(in.Name, "..") {
		return ReportFile{}, invalidInput("name", "%q is not a report name; use 1 to 128 letters, digits, '.', '_' or '-'", in.Name)
	}
	defer keepAlive(ctx)()
	p := path.Join(ReportsDir, in.Name+".json")
	if out, ok := a.published(dir, p); ok {
		// This run published it already: a retry, or the step run again (continue) after
		// a later action failed, whose report would differ only in its time.
		return out, nil
	}
	an := in.Analysis
	report := AuditReport{
		WorkflowID: in.WorkflowID, Tables: in.Tables, Since: in.Since, Evidence: in.Evidence,
		RecordsCount: an.Records, EvidenceCount: an.EvidenceItems, Findings: []Finding{},
		RequestedBy: in.RequestedBy, SignedOffBy: in.SignedOffBy, Comment: in.Comment, GeneratedAt: in.GeneratedAt,
	}
	if report.Evidence == nil {
		report.Evidence = []string{}
	}
	head, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return ReportFile{}, err
	}
	// The findings go where the empty list is: the key's quotes cannot occur unescaped in
	// a string value, so this is the key.
	const empty = "\n  \"findings\": []"
	at := strings.Index(string(head), empty)
	if at < 0 {
		return ReportFile{}, fmt.Errorf("report of %s: no findings list in %s", in.Name, head)
	}
	ref := AuditFile{File: an.File, Count: an.Count, SHA256: an.SHA256}
	tmp, sum, size, err := a.Files.writeTemp(path.Join(dir, auditReportTemp), func(w io.Writer) error {
		if _, err := io.WriteString(w, string(head[:at])+"\n  \"findings\": ["); err != nil {
			return err
		}
		n := 0
		var werr error
		err := readWorkFile(ctx, a.Files, "analysis", path.Join(dir, auditFindingsFile), ref, func(f Finding) {
			if werr != nil {
				return
			}
			raw, err := json.MarshalIndent(f, "    ", "  ")
			if err != nil {
				werr = err
				return
			}
			sep := ",\n    "
			if n == 0 {
				sep = "\n    "
			}
			n++
			if _, err := io.WriteString(w, sep); err != nil {
				werr = err
				return
			}
			_, werr = w.Write(raw)
		})
		if err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		end := "]"
		if n > 0 {
			end = "\n  ]"
		}
		_, err = io.WriteString(w, end+string(head[at+len(empty):]))
		return err
	})
	if err != nil {
		return ReportFile{}, err
	}
	defer a.Files.root.Remove(tmp)
	out := ReportFile{Path: p, SizeBytes: int(size)}
	err = a.Files.root.Link(tmp, p)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// A file system without hard links: create the report exclusively and copy.
		cerr := a.Files.copyExclusive(tmp, p)
		if cerr != nil && !errors.Is(cerr, fs.ErrExist) {
			return ReportFile{}, fmt.Errorf("publish report %s: link: %v; copy: %w", p, err, cerr)
		}
		err = cerr
	}
	if err != nil { // the name is taken
		if existing, _, herr := a.Files.hashFile(p); herr != nil || existing != sum {
			return ReportFile{}, conflict("report %s already exists with other content; reports are never overwritten", p)
		}
		// This report, written by an earlier attempt.
	}
	a.Files.syncDir(ReportsDir)
	// Best effort: without the mark, a retry writes the same report and finds it there.
	a.Files.writeAtomic(path.Join(dir, auditPublishedMark), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(publishedReport{ReportFile: out, SHA256: sum})
	})
	return out, nil
}

// publishedReport is what a run's work folder remembers of the report it published.
type publishedReport struct {
	ReportFile
	SHA256 string `json:"sha256"`
}

// published returns the report p when this run (its work folder dir) published it and it
// is still as it was written.
func (a *Audits) published(dir, p string) (ReportFile, bool) {
	raw, err := a.Files.root.ReadFile(path.Join(dir, auditPublishedMark))
	if err != nil {
		return ReportFile{}, false
	}
	var mark publishedReport
	if json.Unmarshal(raw, &mark) != nil || mark.Path != p {
		return ReportFile{}, false
	}
	if sum, _, err := a.Files.hashFile(p); err != nil || sum != mark.SHA256 {
		return ReportFile{}, false
	}
	return mark.ReportFile, true
}

// copyExclusive copies the sandbox file from to a new file to, which must not exist; a
// failed copy leaves no file.
func (f *Files) copyExclusive(from, to string) error {
	src, err := f.root.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := f.root.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.root.Remove(to)
	}
	return err
}

// auditRun is the shape of a run's name: {{run.key}}, its workflow id and first run id,
// each as a report name is.
var auditRun = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$`)

// auditRunDir is the work folder of the run named run: audits/RUN.
func auditRunDir(run string) (string, error) {
	if !auditRun.MatchString(run) || strings.Contains(run, "..") {
		return "", invalidInput("run", "%q cannot name a work folder; give {{run.key}}: one or two names of 1 to 128 letters, digits, '.', '_' or '-', separated by '/'", run)
	}
	return path.Join(AuditsDir, run), nil
}

// readWorkFile calls each with every JSON line of the work file p, which ref names as
// field: the file must be p and hold ref.Count lines whose SHA-256 is ref.SHA256, or it
// is not what the step that wrote it reported (a Conflict: a step ran again since, or the
// file was changed), and nothing later is done with it.
func readWorkFile[T any](ctx context.Context, f *Files, field, p string, ref AuditFile, each func(T)) error {
	if clean, err := CleanSandboxPath(field+".file", ref.File); err != nil {
		return err
	} else if clean != p {
		return invalidInput(field+".file", "is %q; this run's work file is %q", ref.File, p)
	}
	file, _, _, err := f.open(field+".file", p)
	if err != nil {
		return err
	}
	defer file.Close()
	h := newHashingReader(file)
	dec := json.NewDecoder(bufio.NewReaderSize(h, 256<<10))
	changed := func(detail string) error {
		return conflict("%s: %s is not what its step wrote (%d lines, sha256 %s): %s. Start the audit again", field, p, ref.Count, ref.SHA256, detail)
	}
	n := 0
	for {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var v T
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if h.err != nil {
			return fmt.Errorf("read %s: %w", p, h.err) // an I/O error: a retry may pass
		}
		if err != nil {
			return changed(fmt.Sprintf("line %d is not a JSON object of the kind it holds: %v", n+1, err))
		}
		n++
		each(v)
	}
	if h.err != nil {
		return fmt.Errorf("read %s: %w", p, h.err)
	}
	if sum := h.sum(); n != ref.Count || sum != ref.SHA256 {
		return changed(fmt.Sprintf("it holds %d lines, sha256 %s", n, sum))
	}
	return nil
}

// hashingReader hashes what it reads and keeps the first read error other than EOF.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	err error
}

func newHashingReader(r io.Reader) *hashingReader { return &hashingReader{r: r, h: sha256.New()} }

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	if err != nil && !errors.Is(err, io.EOF) && h.err == nil {
		h.err = err
	}
	return n, err
}

func (h *hashingReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }
