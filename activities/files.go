package activities

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds of the file activities.
const (
	DefaultMaxFileBytes = 10 << 20
	DefaultChunkBytes   = 64 << 10
	MaxChunkBytes       = 1 << 20
	MaxPathLength       = 1024
	// ReportsDir is the sandbox folder audit reports are written to.
	ReportsDir = "reports"
)

// SupportedFormats are the file extensions ParseFile understands.
var SupportedFormats = []string{".json", ".csv"}

// Files reads and writes inside one sandbox folder. Every path is resolved through an
// os.Root, so '..', absolute paths and symlinks that leave the sandbox cannot escape it.
type Files struct {
	root     *os.Root
	dir      string
	MaxBytes int64
}

// OpenFiles opens the sandbox at dir, creating it and its reports folder when missing.
func OpenFiles(dir string) (*Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sandbox %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("file sandbox %s: %w", dir, err)
	}
	if err := root.Mkdir(ReportsDir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		root.Close()
		return nil, fmt.Errorf("file sandbox %s: create %s: %w", dir, ReportsDir, err)
	}
	return &Files{root: root, dir: dir, MaxBytes: DefaultMaxFileBytes}, nil
}

// Dir is the sandbox folder on disk.
func (f *Files) Dir() string { return f.dir }

// Close releases the sandbox.
func (f *Files) Close() error { return f.root.Close() }

// CleanSandboxPath checks a path given relative to the sandbox and returns its clean form.
func CleanSandboxPath(field, p string) (string, error) {
	const allowed = "a path relative to the file sandbox, such as \"evidence/users.csv\""
	if p == "" {
		return "", invalidInput(field, "is empty; give %s", allowed)
	}
	if len(p) > MaxPathLength {
		return "", invalidInput(field, "is %d bytes long; at most %d are allowed", len(p), MaxPathLength)
	}
	if !utf8.ValidString(p) {
		return "", invalidInput(field, "is not valid UTF-8; give %s", allowed)
	}
	for i, r := range p {
		if unicode.IsControl(r) || r == '\\' {
			return "", invalidInput(field, "has a backslash or control character at offset %d; give %s", i, allowed)
		}
	}
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") || (len(p) > 1 && p[1] == ':') {
		return "", invalidInput(field, "%q is absolute; give %s", p, allowed)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", invalidInput(field, "%q has a '..' segment; give %s", p, allowed)
		}
	}
	clean := path.Clean(p)
	if clean == "." {
		return "", invalidInput(field, "%q names the sandbox itself; give %s", p, allowed)
	}
	return clean, nil
}

// open opens a regular file inside the sandbox; anything else is refused.
func (f *Files) open(field, p string) (*os.File, fs.FileInfo, string, error) {
	clean, err := CleanSandboxPath(field, p)
	if err != nil {
		return nil, nil, "", err
	}
	info, err := f.root.Lstat(clean)
	if err == nil && info.Mode()&fs.ModeSymlink != 0 {
		// Follow the link only through the root, which refuses targets outside it.
		info, err = f.root.Stat(clean)
	}
	if err != nil {
		return nil, nil, "", fileError(field, clean, err)
	}
	if !info.Mode().IsRegular() {
		return nil, nil, "", invalidInput(field, "%q is not a regular file (directories, devices, pipes and sockets are refused)", clean)
	}
	file, err := f.root.Open(clean)
	if err != nil {
		return nil, nil, "", fileError(field, clean, err)
	}
	return file, info, clean, nil
}

func fileError(field, p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notFound("%s: no file %q in the sandbox", field, p)
	case strings.Contains(err.Error(), "escapes") || strings.Contains(err.Error(), "outside"):
		return invalidInput(field, "%q leads outside the file sandbox", p)
	case errors.Is(err, fs.ErrPermission):
		return invalidInput(field, "%q cannot be read: permission denied", p)
	}
	return invalidInput(field, "%q cannot be opened: %v", p, errors.Unwrap(err))
}

// ParseInput is the input of ParseFile.
type ParseInput struct {
	FilePath string `json:"file_path"`
}

// ParsedFile is the output of ParseFile. JSON files fill Data; CSV files fill Header,
// Rows and RowCount.
type ParsedFile struct {
	Path      string              `json:"path"`
	Format    string              `json:"format"`
	SizeBytes int64               `json:"size_bytes"`
	Data      json.RawMessage     `json:"data,omitempty"`
	Header    []string            `json:"header,omitempty"`
	Rows      []map[string]string `json:"rows,omitempty"`
	RowCount  int                 `json:"row_count"`
}

// ParseFile reads a JSON or CSV file from the sandbox.
func (f *Files) ParseFile(_ context.Context, in ParseInput) (ParsedFile, error) {
	ext := strings.ToLower(path.Ext(in.FilePath))
	if ext != ".json" && ext != ".csv" {
		return ParsedFile{}, invalidInput("file_path", "has extension %q; supported formats are %s", ext, strings.Join(SupportedFormats, ", "))
	}
	file, info, clean, err := f.open("file_path", in.FilePath)
	if err != nil {
		return ParsedFile{}, err
	}
	defer file.Close()
	if info.Size() > f.maxBytes() {
		return ParsedFile{}, invalidInput("file_path", "%q is %d bytes; the limit is %d bytes", clean, info.Size(), f.maxBytes())
	}
	raw, err := io.ReadAll(io.LimitReader(file, f.maxBytes()+1))
	if err != nil {
		return ParsedFile{}, fmt.Errorf("read %s: %w", clean, err)
	}
	if int64(len(raw)) > f.maxBytes() {
		return ParsedFile{}, invalidInput("file_path", "%q is larger than the limit of %d bytes", clean, f.maxBytes())
	}
	out := ParsedFile{Path: clean, Format: strings.TrimPrefix(ext, "."), SizeBytes: int64(len(raw))}
	if ext == ".json" {
		if err := checkJSON(raw); err != nil {
			return ParsedFile{}, invalidInput("file_path", "%q is not valid JSON: %v", clean, err)
		}
		out.Data = json.RawMessage(raw)
		return out, nil
	}
	r := csv.NewReader(bytes.NewReader(raw))
	records, err := r.ReadAll()
	if err != nil {
		return ParsedFile{}, invalidInput("file_path", "%q is not valid CSV: %v", clean, err)
	}
	if len(records) == 0 {
		return ParsedFile{}, invalidInput("file_path", "%q is empty; a CSV file needs a header row", clean)
	}
	out.Header = records[0]
	out.Rows = make([]map[string]string, 0, len(records)-1)
	for _, rec := range records[1:] {
		row := make(map[string]string, len(rec))
		for i, v := range rec {
			row[out.Header[i]] = v
		}
		out.Rows = append(out.Rows, row)
	}
	out.RowCount = len(out.Rows)
	return out, nil
}

// checkJSON reports the line, column and offset of the first syntax error.
func checkJSON(raw []byte) error {
	var v any
	err := json.Unmarshal(raw, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(raw[:se.Offset], []byte("\n"))
		col := int(se.Offset) - bytes.LastIndexByte(raw[:se.Offset], '\n')
		return fmt.Errorf("%s at line %d, column %d (offset %d)", se.Error(), line, col, se.Offset)
	}
	return err
}

func (f *Files) maxBytes() int64 {
	if f.MaxBytes <= 0 {
		return DefaultMaxFileBytes
	}
	return f.MaxBytes
}

// Bounds of ListFiles.
const (
	DefaultListFiles = 200
	MaxListFiles     = 1000
)

// ListInput is the input of ListFiles.
type ListInput struct {
	// Folder is a folder relative to the sandbox; empty lists the whole sandbox.
	Folder string `json:"folder,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// FileEntry is one file of the sandbox.
type FileEntry struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

// FileList is the output of ListFiles.
type FileList struct {
	Folder    string      `json:"folder"`
	Files     []FileEntry `json:"files"`
	Count     int         `json:"count"`
	Truncated bool        `json:"truncated"`
}

// ListFiles lists the regular files under a sandbox folder, in path order, at most Limit.
// Symbolic links are left out: the listing shows what the other file tools can open.
func (f *Files) ListFiles(_ context.Context, in ListInput) (FileList, error) {
	if in.Limit == 0 {
		in.Limit = DefaultListFiles
	}
	if in.Limit < 1 || in.Limit > MaxListFiles {
		return FileList{}, invalidInput("limit", "is %d; allowed is 1 to %d (default %d)", in.Limit, MaxListFiles, DefaultListFiles)
	}
	folder := "."
	if strings.TrimSpace(in.Folder) != "" {
		clean, err := CleanSandboxPath("folder", in.Folder)
		if err != nil {
			return FileList{}, err
		}
		info, err := f.root.Lstat(clean)
		if err != nil {
			return FileList{}, fileError("folder", clean, err)
		}
		if !info.IsDir() {
			return FileList{}, invalidInput("folder", "%q is a file, not a folder; read it with parse_file", clean)
		}
		folder = clean
	}
	out := FileList{Folder: folder, Files: []FileEntry{}}
	err := fs.WalkDir(f.root.FS(), folder, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if len(out.Files) == in.Limit {
			out.Truncated = true
			return fs.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out.Files = append(out.Files, FileEntry{Path: p, Size: info.Size(), Modified: info.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return FileList{}, fmt.Errorf("list %s: %w", folder, err)
	}
	out.Count = len(out.Files)
	return out, nil
}

// ChunkInput is the input of ReadChunk.
type ChunkInput struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset,omitempty"`
	Length int    `json:"length,omitempty"`
}

// Chunk is the output of ReadChunk: UTF-8 text as is, anything else base64-encoded.
type Chunk struct {
	Path     string `json:"path"`
	Offset   int64  `json:"offset"`
	Length   int    `json:"length"`
	Size     int64  `json:"size"`
	EOF      bool   `json:"eof"`
	Encoding string `json:"encoding"`
	Data     string `json:"data"`
}

// ReadChunk returns up to Length bytes of a file from Offset, for streaming large files.
func (f *Files) ReadChunk(_ context.Context, in ChunkInput) (Chunk, error) {
	if in.Length == 0 {
		in.Length = DefaultChunkBytes
	}
	if in.Length < 1 || in.Length > MaxChunkBytes {
		return Chunk{}, invalidInput("length", "is %d; allowed is 1 to %d (default %d)", in.Length, MaxChunkBytes, DefaultChunkBytes)
	}
	if in.Offset < 0 {
		return Chunk{}, invalidInput("offset", "is %d; it must be 0 or more", in.Offset)
	}
	file, info, clean, err := f.open("path", in.Path)
	if err != nil {
		return Chunk{}, err
	}
	defer file.Close()
	if in.Offset > info.Size() {
		return Chunk{}, invalidInput("offset", "is %d, past the end of %q (%d bytes)", in.Offset, clean, info.Size())
	}
	buf := make([]byte, in.Length)
	n, err := file.ReadAt(buf, in.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return Chunk{}, fmt.Errorf("read %s: %w", clean, err)
	}
	buf = buf[:n]
	c := Chunk{Path: clean, Offset: in.Offset, Length: n, Size: info.Size(), EOF: in.Offset+int64(n) >= info.Size()}
	if utf8.Valid(buf) {
		c.Encoding, c.Data = "utf-8", string(buf)
	} else {
		c.Encoding, c.Data = "base64", base64.StdEncoding.EncodeToString(buf)
	}
	return c, nil
}

// ReportInput is the input of WriteReport.
type ReportInput struct {
	// Name is the report's file name without folder or extension: letters, digits, '.', '_', '-'.
	Name    string          `json:"name"`
	Content json.RawMessage `json:"content"`
}

// ReportFile is the output of WriteReport.
type ReportFile struct {
	Path      string `json:"path"`
	SizeBytes int    `json:"size_bytes"`
}

var reportName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// WriteReport writes a JSON report to reports/<name>.json. It never overwrites another
// report; writing the same content again (a retry) returns the existing file.
func (f *Files) WriteReport(_ context.Context, in ReportInput) (ReportFile, error) {
	if !reportName.MatchString(in.Name) || strings.Contains(in.Name, "..") {
		return ReportFile{}, invalidInput("name", "%q is not a report name; use 1 to 128 letters, digits, '.', '_' or '-'", in.Name)
	}
	if !json.Valid(in.Content) {
		return ReportFile{}, invalidInput("content", "is not valid JSON")
	}
	p := path.Join(ReportsDir, in.Name+".json")
	file, err := f.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		existing, rerr := f.root.ReadFile(p)
		if rerr == nil && bytes.Equal(existing, in.Content) {
			return ReportFile{Path: p, SizeBytes: len(existing)}, nil
		}
		return ReportFile{}, conflict("report %s already exists with other content; reports are never overwritten", p)
	}
	if err != nil {
		return ReportFile{}, fmt.Errorf("create report %s: %w", p, err)
	}
	_, werr := file.Write(in.Content)
	serr := file.Sync()
	cerr := file.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		f.root.Remove(p) // no half-written report
		return ReportFile{}, fmt.Errorf("write report %s: %w", p, err)
	}
	return ReportFile{Path: p, SizeBytes: len(in.Content)}, nil
}

// EvidenceInput is the input of ReadEvidence.
type EvidenceInput struct {
	Paths []string `json:"paths"`
}

// EvidenceItem is one record an evidence file vouches for, by table and natural key.
type EvidenceItem struct {
	File  string `json:"file"`
	Row   int    `json:"row"`
	Table string `json:"table"`
	Key   string `json:"key"`
}

// EvidenceResult is the output of ReadEvidence.
type EvidenceResult struct {
	Items []EvidenceItem `json:"items"`
}

// evidenceColumns maps the natural-key column an evidence row may carry to its table.
var evidenceColumns = []struct{ column, table string }{{"email", "users"}, {"sku", "products"}, {"reference", "orders"}}

// ReadEvidence parses CSV or JSON evidence files and returns the records they refer to:
// every row (CSV) or object of a top-level array (JSON) with an email, sku or reference field.
func (f *Files) ReadEvidence(ctx context.Context, in EvidenceInput) (EvidenceResult, error) {
	res := EvidenceResult{Items: []EvidenceItem{}}
	for _, p := range in.Paths {
		parsed, err := f.ParseFile(ctx, ParseInput{FilePath: p})
		if err != nil {
			return res, err
		}
		rows := parsed.Rows
		if parsed.Format == "json" {
			var objs []map[string]any
			if err := json.Unmarshal(parsed.Data, &objs); err != nil {
				return res, invalidInput("evidence", "%q must hold a JSON array of objects: %v", parsed.Path, err)
			}
			rows = make([]map[string]string, len(objs))
			for i, o := range objs {
				rows[i] = map[string]string{}
				for k, v := range o {
					rows[i][k] = fmt.Sprint(v)
				}
			}
		}
		for i, row := range rows {
			for _, c := range evidenceColumns {
				if v := strings.TrimSpace(row[c.column]); v != "" {
					res.Items = append(res.Items, EvidenceItem{File: parsed.Path, Row: i + 1, Table: c.table, Key: v})
				}
			}
		}
	}
	return res, nil
}
