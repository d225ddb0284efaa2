package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/flowgate/flowgate/activities"
)

// sandbox returns a sandbox with sample files, and a secret file beside it (outside).
func sandbox(t testing.TB) (*activities.Files, string, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "sandbox")
	secret := filepath.Join(base, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"password":"hunter2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := activities.OpenFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("data/people.csv", "email,name\nada@example.com,Ada\ngrace@example.com,Grace\n")
	write("data/config.json", `{"replicas": 3, "tags": ["a", "b"]}`)
	write("data/broken.json", "{\n  \"a\": 1,\n  \"b\": ,\n}")
	write("data/ragged.csv", "a,b\n1,2\n3\n")
	write("data/binary.csv", "\xff\xfe\x00\x01")
	// Symlinks: one out of the sandbox, one inside it.
	os.Symlink(secret, filepath.Join(dir, "data/escape.json"))
	os.Symlink("/etc", filepath.Join(dir, "etc"))
	os.Symlink("config.json", filepath.Join(dir, "data/alias.json"))
	return f, dir, secret
}

func TestParseFile(t *testing.T) {
	f, _, _ := sandbox(t)
	ctx := context.Background()
	csv, err := f.ParseFile(ctx, activities.ParseInput{FilePath: "data/people.csv"})
	if err != nil || csv.RowCount != 2 || csv.Rows[1]["name"] != "Grace" || strings.Join(csv.Header, ",") != "email,name" {
		t.Errorf("csv = %+v, %v", csv, err)
	}
	js, err := f.ParseFile(ctx, activities.ParseInput{FilePath: "data/alias.json"})
	if err != nil || !strings.Contains(string(js.Data), "replicas") {
		t.Errorf("json through an inside symlink = %+v, %v", js, err)
	}
	for path, want := range map[string]string{
		"data/broken.json": "line 3, column",
		"data/ragged.csv":  "line 3",
		"notes.txt":        "supported formats are .json, .csv",
		"data/missing.csv": "no file",
		"data":             "supported formats",
	} {
		_, err := f.ParseFile(ctx, activities.ParseInput{FilePath: path})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	f.MaxBytes = 10
	if _, err := f.ParseFile(ctx, activities.ParseInput{FilePath: "data/people.csv"}); err == nil || !strings.Contains(err.Error(), "limit is 10 bytes") {
		t.Errorf("size limit: %v", err)
	}
}

var traversal = []string{
	"../secret.json", "../../etc/passwd", "/etc/passwd", "/", "data/../../secret.json", "data/../../../etc/shadow",
	"..", "../", "./../secret.json", "data/./../../secret.json", "%2e%2e/secret.json", "..%2fsecret.json",
	"..\\secret.json", "data\\..\\..\\secret.json", "~/.ssh/id_rsa", "~root/.bashrc", "C:\\Windows\\win.ini", "c:/windows/win.ini",
	"data/escape.json", "etc/passwd", "etc/hostname", "data/people.csv\x00.json", "\x00", "data/\n../secret.json",
	"//etc/passwd", "/proc/self/environ", "/dev/zero.json", "....//secret.json", ".../secret.json", strings.Repeat("../", 40) + "etc/passwd.json",
	"data/%00/../../secret.json", "", ".", "./", "reports/../../secret.json",
}

func TestPathTraversalPayloadsAreHarmless(t *testing.T) {
	f, dir, _ := sandbox(t)
	if len(traversal) < 30 {
		t.Fatalf("only %d payloads", len(traversal))
	}
	ctx := context.Background()
	listing := func() string {
		var b strings.Builder
		filepath.Walk(filepath.Dir(dir), func(p string, info os.FileInfo, err error) error {
			if err == nil {
				b.WriteString(p + "\n")
			}
			return nil
		})
		return b.String()
	}
	before := listing()
	for _, p := range traversal {
		if res, err := f.ParseFile(ctx, activities.ParseInput{FilePath: p}); err == nil || strings.Contains(string(res.Data), "hunter2") {
			t.Errorf("parse %q: read %s (err %v)", p, res.Data, err)
		}
		if res, err := f.ReadChunk(ctx, activities.ChunkInput{Path: p}); err == nil && (strings.Contains(res.Data, "hunter2") || strings.Contains(res.Data, "root:")) {
			t.Errorf("chunk %q read outside the sandbox: %q", p, res.Data)
		} else if err == nil && !strings.HasPrefix(res.Path, "data/") {
			t.Errorf("chunk %q read %s", p, res.Path)
		}
		if _, err := f.WriteReport(ctx, activities.ReportInput{Name: p, Content: json.RawMessage(`{}`)}); err == nil {
			t.Errorf("report named %q was written", p)
		}
	}
	if after := listing(); after != before {
		t.Errorf("files changed:\nbefore %s\nafter %s", before, after)
	}
}

func TestDeviceFilesAreRefused(t *testing.T) {
	f, dir, _ := sandbox(t)
	fifo := filepath.Join(dir, "data", "pipe.csv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := f.ParseFile(context.Background(), activities.ParseInput{FilePath: "data/pipe.csv"})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v", err)
	}
}

func TestReadChunk(t *testing.T) {
	f, _, _ := sandbox(t)
	ctx := context.Background()
	c, err := f.ReadChunk(ctx, activities.ChunkInput{Path: "data/people.csv", Offset: 6, Length: 4})
	if err != nil || c.Data != "name" || c.Encoding != "utf-8" || c.EOF || c.Size != 55 {
		t.Errorf("chunk = %+v, %v", c, err)
	}
	c, err = f.ReadChunk(ctx, activities.ChunkInput{Path: "data/binary.csv"})
	if err != nil || c.Encoding != "base64" || !c.EOF || c.Data != "//4AAQ==" {
		t.Errorf("binary chunk = %+v, %v", c, err)
	}
	for _, in := range []activities.ChunkInput{{Path: "data/people.csv", Offset: -1}, {Path: "data/people.csv", Length: activities.MaxChunkBytes + 1}, {Path: "data/people.csv", Offset: 1000}} {
		if _, err := f.ReadChunk(ctx, in); err == nil {
			t.Errorf("%+v accepted", in)
		}
	}
}

func TestWriteReportNeverOverwrites(t *testing.T) {
	f, dir, _ := sandbox(t)
	ctx := context.Background()
	content := json.RawMessage(`{"findings": []}`)
	r, err := f.WriteReport(ctx, activities.ReportInput{Name: "audit-1", Content: content})
	if err != nil || r.Path != "reports/audit-1.json" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := f.WriteReport(ctx, activities.ReportInput{Name: "audit-1", Content: content}); err != nil {
		t.Errorf("a retry with the same content failed: %v", err)
	}
	_, err = f.WriteReport(ctx, activities.ReportInput{Name: "audit-1", Content: json.RawMessage(`{"findings": [1]}`)})
	if errType(err) != activities.ErrTypeConflict {
		t.Errorf("overwrite: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "reports", "audit-1.json"))
	if !bytes.Equal(got, content) {
		t.Errorf("report content = %s", got)
	}
	if _, err := f.WriteReport(ctx, activities.ReportInput{Name: "x", Content: json.RawMessage(`{`)}); err == nil {
		t.Error("invalid JSON written")
	}
}

// TestListFilesShowsTheSandboxOnly: list_files lists regular files under a folder in path
// order, bounded by limit; nothing outside the sandbox is listed or reachable.
func TestListFilesShowsTheSandboxOnly(t *testing.T) {
	f, dir, secret := sandbox(t)
	if err := os.Symlink(secret, filepath.Join(dir, "data", "link.json")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	all, err := f.ListFiles(ctx, activities.ListInput{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range all.Files {
		paths = append(paths, e.Path)
		if strings.Contains(e.Path, "link") || strings.Contains(e.Path, "secret") {
			t.Errorf("listed %s", e.Path)
		}
	}
	if !slices.IsSorted(paths) || !slices.Contains(paths, "data/people.csv") || all.Count != len(paths) || all.Truncated {
		t.Errorf("whole sandbox = %+v", all)
	}
	some, err := f.ListFiles(ctx, activities.ListInput{Folder: "data", Limit: 2})
	if err != nil || some.Count != 2 || !some.Truncated || some.Folder != "data" {
		t.Errorf("data limited to 2 = %+v, %v", some, err)
	}
	for _, tc := range []struct {
		in   activities.ListInput
		want string
	}{
		{activities.ListInput{Folder: "../"}, "'..'"},
		{activities.ListInput{Folder: "/etc"}, "absolute"},
		{activities.ListInput{Folder: "data/people.csv"}, "is a file, not a folder"},
		{activities.ListInput{Folder: "nowhere"}, "nowhere"},
		{activities.ListInput{Limit: 5000}, "limit: is 5000"},
	} {
		if _, err := f.ListFiles(ctx, tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ListFiles(%+v) = %v, want %q", tc.in, err, tc.want)
		}
	}
}
