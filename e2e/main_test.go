// Package e2e holds Flowgate's integration tests: each runs against a real Temporal server
// embedded in the test process (internal/testenv), real processes where a test is about
// processes, and real MCP clients.
package e2e

import (
	"context"
	"flag"
	"testing"

	"github.com/flowgate/flowgate/internal/testenv"
)

func TestMain(m *testing.M) {
	flag.Parse()
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	ctx, cancel := context.WithCancel(context.Background())
	if !given["test.run"] && !testing.Short() {
		// The whole suite: cmd/flowgate is built while the in-process tests run, so the
		// first process test finds it ready.
		go binaryOnce.Do(func() { binaryPath, binaryErr = buildFlowgate(ctx, "..") })
	}
	testenv.Main(m, cancel, removeBinaries)
}
