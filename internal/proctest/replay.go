package proctest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flowgate/flowgate/worker"
)

// ReplayResult is what replaying one history against this build came to.
type ReplayResult struct {
	File string
	// Err is the replay's failure, such as a nondeterminism error naming the event where
	// this build's workflow code parts from the history; nil when it replayed.
	Err      error
	Duration time.Duration
}

// Replay replays every history JSON file of paths (files, or folders' *.json at any
// depth, sorted) against this build's workflows, registered as a worker registers them:
// a run in flight whose history fails here would fail on this build's workers.
func Replay(paths []string) ([]ReplayResult, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no history (*.json) in %s", strings.Join(paths, ", "))
	}
	slices.Sort(files)
	logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	var out []ReplayResult
	for _, f := range slices.Compact(files) {
		start := time.Now()
		r := sdkworker.NewWorkflowReplayer()
		worker.RegisterWorkflows(r)
		err := r.ReplayWorkflowHistoryFromJSONFile(logger, f)
		out = append(out, ReplayResult{File: f, Err: err, Duration: time.Since(start)})
	}
	return out, nil
}

// WriteReplay writes replay results as people read them: ok or FAIL per history with
// the failure under it, then the counts. It returns how many failed.
func WriteReplay(w io.Writer, results []ReplayResult) int {
	failed := 0
	var total time.Duration
	for _, r := range results {
		total += r.Duration
		if r.Err == nil {
			fmt.Fprintf(w, "ok   %s (%s)\n", r.File, ms(r.Duration))
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s (%s)\n     %s\n", r.File, ms(r.Duration), indentLines(r.Err.Error(), "     "))
	}
	fmt.Fprintf(w, "%d replayed, %d failed (%s)\n", len(results)-failed, failed, ms(total))
	return failed
}

// History is the history of a run (runID empty: the workflow's latest run) as JSON, in
// the form the web UI downloads and Replay reads.
func History(ctx context.Context, c client.Client, workflowID, runID string) ([]byte, error) {
	iter := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		h.Events = append(h.Events, e)
	}
	raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}
