// Package e2e holds Flowgate's integration tests: each runs against a real Temporal server
// embedded in the test process (internal/testenv), real processes where a test is about
// processes, and real MCP clients.
package e2e

import (
	"context"
	"flag"
	"runtime"
	"strconv"
	"testing"

	"github.com/flowgate/flowgate/internal/testenv"
)

// parallelProcessTests is how many tests marked parallel run at once unless -parallel
// says otherwise. They are the process tests, which spend most of their time waiting on
// Temporal's timeouts (30 s for an activity a SIGKILLed worker held) rather than
// computing: at the default of one per core, two of them waiting held up the rest.
const parallelProcessTests = 4

func TestMain(m *testing.M) {
	flag.Parse()
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["test.parallel"] {
		flag.Set("test.parallel", strconv.Itoa(max(parallelProcessTests, runtime.GOMAXPROCS(0))))
	}
	ctx, cancel := context.WithCancel(context.Background())
	if !given["test.run"] && !testing.Short() {
		// The whole suite: cmd/flowgate is built while the in-process tests run, so the
		// first process test finds it ready.
		go binaryOnce.Do(func() { binaryPath, binaryErr = buildFlowgate(ctx, "..") })
	}
	testenv.Main(m, cancel, removeBinaries)
}
