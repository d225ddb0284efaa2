package activities

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
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
// Rows and RowCount. Encoded, it is at most MaxResultBytes, with at most MaxParseRows rows.
type ParsedFile struct {
	Path      string              `json:"path"`
	Format    string              `json:"format"`
	SizeBytes int64               `json:"size_bytes"`
	Data      json.RawMessage     `json:"data,omitempty"`
	Header    []string            `json:"header,omitempty"`
	Rows      []map[string]string `json:"rows,omitempty"`
	RowCount  int                 `json:"row_count"`
}

// parsedFileOverhead bounds the JSON of a ParsedFile around its path, data, header and
// rows: {"path":,"format":"json","size_bytes":…,"data":,"header":[],"rows":[],"row_count":…}.
const parsedFileOverhead = 128

// ParseFile reads a JSON or CSV file from the sandbox. CSV is read a row at a time. A file
// whose result would be larger than MaxResultBytes of JSON, or hold more than MaxParseRows
// rows, is refused with its figures: it is to be read in chunks (ReadChunk).
func (f *Files) ParseFile(ctx context.Context, in ParseInput) (ParsedFile, error) {
	defer keepAlive(ctx)()
	file, _, clean, ext, err := f.openParsable(in.FilePath)
	if err != nil {
		return ParsedFile{}, err
	}
	defer file.Close()
	out := ParsedFile{Path: clean, Format: strings.TrimPrefix(ext, ".")}
	if ext == ".json" {
		raw, err := f.readAll(file, clean)
		if err != nil {
			return ParsedFile{}, err
		}
		out.SizeBytes = int64(len(raw))
		// Encoded as Temporal will encode it (compact, HTML characters escaped), to measure it.
		data, err := json.Marshal(json.RawMessage(raw))
		if err != nil || len(raw) == 0 {
			if jerr := checkJSON(raw); jerr != nil {
				err = jerr
			}
			return ParsedFile{}, invalidInput("file_path", "%q is not valid JSON: %v", clean, err)
		}
		if size := parsedFileOverhead + jsonStringLen(clean) + len(data); size > MaxResultBytes {
			return ParsedFile{}, invalidInput("file_path", "%q is %s of JSON, %s once encoded as a result; parse_file returns at most %s, below Temporal's 2 MB limit on one activity result. %s",
				clean, sizeText(out.SizeBytes), sizeText(int64(size)), sizeText(MaxResultBytes), chunkAdvice(clean))
		}
		out.Data = data
		return out, nil
	}
	// The size of the result as it is encoded: the header's names, and each row's keys and
	// values. Rows past a budget are counted, not kept, to report the file's figures.
	var keys []int
	size := parsedFileOverhead + jsonStringLen(clean)
	over := false
	rows, read, err := f.readCSV(file, clean, func(header, rec []string) {
		if rec == nil {
			out.Header = slices.Clone(header)
			out.Rows = []map[string]string{}
			keys = make([]int, len(header))
			for i, h := range header {
				keys[i] = jsonStringLen(h) + 1 // "name": in a row, the name and a comma in header
				size += keys[i]
			}
			return
		}
		size += 2 + len(rec) // {}, the commas between fields and the one after the row
		for i, v := range rec {
			size += keys[i] + jsonStringLen(v)
		}
		if over = over || size > MaxResultBytes || len(out.Rows) == MaxParseRows; over {
			out.Rows = nil
			return
		}
		row := make(map[string]string, len(rec))
		for i, v := range rec {
			row[out.Header[i]] = v
		}
		out.Rows = append(out.Rows, row)
	})
	if err != nil {
		return ParsedFile{}, err
	}
	out.SizeBytes = read
	if over {
		return ParsedFile{}, invalidInput("file_path", "%q has %d rows, %s of JSON as parse_file's result; parse_file returns at most %d rows and %s, below Temporal's 2 MB limit on one activity result. %s",
			clean, rows, sizeText(int64(size)), MaxParseRows, sizeText(MaxResultBytes), chunkAdvice(clean))
	}
	out.RowCount = len(out.Rows)
	return out, nil
}

// chunkAdvice tells how to read a file too large to parse.
func chunkAdvice(p string) string {
	return fmt.Sprintf("Read it in pieces with the file://%s/stream resource (read_chunk: offset and length, up to %d bytes a chunk), or split it into smaller files.", p, MaxChunkBytes)
}

// openParsable opens a file ParseFile understands, within the size limit.
func (f *Files) openParsable(p string) (*os.File, fs.FileInfo, string, string, error) {
	ext := strings.ToLower(path.Ext(p))
	if ext != ".json" && ext != ".csv" {
		return nil, nil, "", "", invalidInput("file_path", "has extension %q; supported formats are %s", ext, strings.Join(SupportedFormats, ", "))
	}
	file, info, clean, err := f.open("file_path", p)
	if err != nil {
		return nil, nil, "", "", err
	}
	if info.Size() > f.maxBytes() {
		file.Close()
		return nil, nil, "", "", invalidInput("file_path", "%q is %d bytes; the limit is %d bytes", clean, info.Size(), f.maxBytes())
	}
	return file, info, clean, ext, nil
}

// readAll reads a whole file, within the size limit even when it grew after it was opened.
func (f *Files) readAll(file *os.File, clean string) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(file, f.maxBytes()+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", clean, err)
	}
	if int64(len(raw)) > f.maxBytes() {
		return nil, invalidInput("file_path", "%q is larger than the limit of %d bytes", clean, f.maxBytes())
	}
	return raw, nil
}

// readCSV reads a CSV file a record at a time, within the size limit even when the file
// grew after it was opened. It calls row with the header and nil first, then with the
// header and each record; the record's slice is reused between calls. It returns the
// number of records after the header and the number of bytes read.
func (f *Files) readCSV(file *os.File, clean string, row func(header, rec []string)) (int, int64, error) {
	limited := &io.LimitedReader{R: file, N: f.maxBytes() + 1}
	r := csv.NewReader(limited)
	r.ReuseRecord = true
	rec, err := r.Read()
	if errors.Is(err, io.EOF) {
		return 0, 0, invalidInput("file_path", "%q is empty; a CSV file needs a header row", clean)
	}
	if err != nil {
		return 0, 0, csvError(clean, err)
	}
	header := slices.Clone(rec)
	row(header, nil)
	n := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, csvError(clean, err)
		}
		n++
		row(header, rec)
	}
	if limited.N <= 0 {
		return 0, 0, invalidInput("file_path", "%q is larger than the limit of %d bytes", clean, f.maxBytes())
	}
	return n, f.maxBytes() + 1 - limited.N, nil
}

// csvError explains a CSV syntax error; a failed read may be retried.
func csvError(clean string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return invalidInput("file_path", "%q is not valid CSV: %v", clean, err)
	}
	return fmt.Errorf("read %s: %w", clean, err)
}

// checkJSON reports the line, column and offset of the first syntax error.
func checkJSON(raw []byte) error {
	if json.Valid(raw) {
		return nil // without decoding it
	}
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
func (f *Files) ListFiles(ctx context.Context, in ListInput) (FileList, error) {
	defer keepAlive(ctx)()
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
func (f *Files) ReadChunk(ctx context.Context, in ChunkInput) (Chunk, error) {
	defer keepAlive(ctx)()
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
func (f *Files) WriteReport(ctx context.Context, in ReportInput) (ReportFile, error) {
	defer keepAlive(ctx)()
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
// every row (CSV) or object of a top-level array (JSON) with an email, sku or reference
// field. CSV files are read a row at a time and only the items are kept; the items may
// come to at most MaxResultBytes of JSON.
func (f *Files) ReadEvidence(ctx context.Context, in EvidenceInput) (EvidenceResult, error) {
	defer keepAlive(ctx)()
	ev := evidence{res: EvidenceResult{Items: []EvidenceItem{}}, size: len(`{"items":[]}`)}
	for _, p := range in.Paths {
		if err := f.readEvidence(ev.add, p); err != nil {
			return ev.res, err
		}
	}
	if ev.size > MaxResultBytes {
		return EvidenceResult{Items: []EvidenceItem{}}, invalidInput("paths", "the evidence files name %d records, %s of JSON as the result; at most %s may travel as one activity result, below Temporal's 2 MB limit. Split the evidence over several audits, each with fewer or smaller files",
			ev.count, sizeText(int64(ev.size)), sizeText(MaxResultBytes))
	}
	return ev.res, nil
}

// evidence collects ReadEvidence's items within MaxResultBytes; past it, they are counted.
type evidence struct {
	res   EvidenceResult
	size  int
	count int
}

func (ev *evidence) add(item EvidenceItem) {
	var buf [20]byte
	// {"file":…,"row":…,"table":…,"key":…} and a comma
	ev.size += 33 + jsonStringLen(item.File) + len(strconv.AppendInt(buf[:0], int64(item.Row), 10)) + jsonStringLen(item.Table) + jsonStringLen(item.Key)
	ev.count++
	if ev.size > MaxResultBytes {
		ev.res.Items = nil
		return
	}
	ev.res.Items = append(ev.res.Items, item)
}

// addEvidenceRow adds the items of one evidence row: value gives a field's value, "" when
// absent.
func addEvidenceRow(add func(EvidenceItem), file string, row int, value func(column string) string) {
	for _, c := range evidenceColumns {
		if v := strings.TrimSpace(value(c.column)); v != "" {
			add(EvidenceItem{File: file, Row: row, Table: c.table, Key: v})
		}
	}
}

// readEvidence calls add with the items of one evidence file, in file order.
func (f *Files) readEvidence(add func(EvidenceItem), p string) error {
	file, _, clean, ext, err := f.openParsable(p)
	if err != nil {
		return err
	}
	defer file.Close()
	if ext == ".csv" {
		// A column named twice counts with its last value, as in parse_file's row objects.
		index := map[string]int{}
		n := 0
		_, _, err := f.readCSV(file, clean, func(header, rec []string) {
			if rec == nil {
				for i, h := range header {
					index[h] = i
				}
				return
			}
			n++
			addEvidenceRow(add, clean, n, func(column string) string {
				if i, ok := index[column]; ok {
					return rec[i]
				}
				return ""
			})
		})
		return err
	}
	raw, err := f.readAll(file, clean)
	if err != nil {
		return err
	}
	if err := checkJSON(raw); err != nil {
		return invalidInput("file_path", "%q is not valid JSON: %v", clean, err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(raw, &objs); err != nil {
		return invalidInput("evidence", "%q must hold a JSON array of objects: %v", clean, err)
	}
	for i, o := range objs {
		addEvidenceRow(add, clean, i+1, func(column string) string {
			if v, ok := o[column]; ok {
				return fmt.Sprint(v)
			}
			return ""
		})
	}
	return nil
}

// tempMark separates a file's name from the suffix of its temporary files.
const tempMark = ".tmp-"

// writeTemp writes a new temporary file beside the sandbox file p through write, synced
// to disk, and returns its path, the SHA-256 of its content (hex) and its size. Temporary
// files of p that earlier attempts left (a worker killed mid-write) are removed first; a
// writer still working on one (a lost attempt that goes on) then fails to commit it.
// Errors of write are returned as they are, so their type survives.
func (f *Files) writeTemp(p string, write func(w io.Writer) error) (string, string, int64, error) {
	dir := path.Dir(p)
	if err := f.root.MkdirAll(dir, 0o755); err != nil {
		return "", "", 0, fmt.Errorf("create %s: %w", dir, err)
	}
	if entries, err := fs.ReadDir(f.root.FS(), dir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), path.Base(p)+tempMark) {
				f.root.Remove(path.Join(dir, e.Name()))
			}
		}
	}
	var random [8]byte
	rand.Read(random[:])
	tmp := p + tempMark + hex.EncodeToString(random[:])
	file, err := f.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", "", 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	h := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(file, h)}
	buf := bufio.NewWriterSize(counter, 256<<10)
	werr := write(buf)
	var ioErr error
	if werr == nil {
		ioErr = buf.Flush()
	}
	if ioErr == nil {
		ioErr = file.Sync()
	}
	if cerr := file.Close(); ioErr == nil {
		ioErr = cerr
	}
	if werr != nil || ioErr != nil {
		f.root.Remove(tmp)
		if werr != nil {
			return "", "", 0, werr
		}
		return "", "", 0, fmt.Errorf("write %s: %w", p, ioErr)
	}
	return tmp, hex.EncodeToString(h.Sum(nil)), counter.n, nil
}

// writeAtomic writes the sandbox file p through write: into a temporary file beside it,
// then renamed over p. p is always whole, the old content or the new, however an attempt
// ends, and writing it again (a retry) replaces it whole. It returns the SHA-256 of the
// content (hex) and its size.
func (f *Files) writeAtomic(p string, write func(w io.Writer) error) (string, int64, error) {
	tmp, sum, size, err := f.writeTemp(p, write)
	if err != nil {
		return "", 0, err
	}
	if err := f.root.Rename(tmp, p); err != nil {
		f.root.Remove(tmp)
		return "", 0, fmt.Errorf("replace %s: %w", p, err)
	}
	f.syncDir(path.Dir(p))
	return sum, size, nil
}

// syncDir makes a rename or link in dir durable; it is best effort.
func (f *Files) syncDir(dir string) {
	if d, err := f.root.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// hashFile returns the SHA-256 (hex) and size of the sandbox file p.
func (f *Files) hashFile(p string) (string, int64, error) {
	file, err := f.root.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer file.Close()
	h := sha256.New()
	n, err := io.Copy(h, file)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
