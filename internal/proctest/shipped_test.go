package proctest_test

import (
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/proctest"
)

// shippedTests are the folders whose definitions ship with test files: the examples and
// the built-in processes.
var shippedTests = []string{"../../examples/processes", "../../workflows/processes"}

// TestShippedProcessesPassTheirTests runs every shipped *.test.yaml through the same code
// path as `flowgate processes test`, so `go test ./...` proves the shipped definitions.
// Run with -v to see each case's time.
func TestShippedProcessesPassTheirTests(t *testing.T) {
	paths, err := proctest.Find(shippedTests)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no shipped test files")
	}
	start := time.Now()
	var cases int
	for _, path := range paths {
		f, err := proctest.Load(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for i := range f.Cases {
			cases++
			res := f.RunCase(&f.Cases[i])
			t.Logf("%s: %s: %s", path, res.Case, res.Duration.Round(time.Millisecond))
			for _, p := range res.Problems {
				t.Errorf("%s:%d: %s: %s", path, res.Line, res.Case, p)
			}
		}
	}
	t.Logf("%d files, %d cases in %s", len(paths), cases, time.Since(start).Round(time.Millisecond))
}
