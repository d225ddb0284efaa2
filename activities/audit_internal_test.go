package activities

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteAtomicKeepsTheOldFileWhole: a write that fails half-way (a worker stopped
// mid-activity) leaves the previous content whole and no temporary file.
func TestWriteAtomicKeepsTheOldFileWhole(t *testing.T) {
	dir := t.TempDir()
	f, err := OpenFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const p = "audits/run/records.jsonl"
	sum, size, err := f.writeAtomic(p, func(w io.Writer) error {
		_, err := io.WriteString(w, "{\"a\":1}\n")
		return err
	})
	if err != nil || size != 8 || len(sum) != 64 {
		t.Fatalf("first write: %s %d %v", sum, size, err)
	}
	lost := errors.New("worker lost")
	_, _, err = f.writeAtomic(p, func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("{\"b\":2}\n", 1<<17)) // past the buffer: on disk
		return lost
	})
	if !errors.Is(err, lost) {
		t.Errorf("failed write: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, p)); string(got) != "{\"a\":1}\n" {
		t.Errorf("after a failed write the file holds %d bytes", len(got))
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "audits", "run"))
	if len(entries) != 1 {
		t.Errorf("the folder holds %d files, want the work file alone", len(entries))
	}
	if again, _, err := f.hashFile(p); err != nil || again != sum {
		t.Errorf("hash %s %v, want %s", again, err, sum)
	}
}
