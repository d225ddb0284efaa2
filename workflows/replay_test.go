package workflows_test

import (
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/flowgate/flowgate/worker"
)

// TestReplayRecordedHistories replays histories recorded from real runs on the embedded
// server (go test ./e2e -run Lifecycle -record-histories). A change to workflow code that
// would break a running workflow fails here: gate it with workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkHistoryNames(t, files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// recordedLifecycles are the lifecycles whose histories are recorded: X.json is the
// current recording, X_vN.json the earlier ones, kept so runs started on older code keep
// replaying.
var recordedLifecycles = []string{
	"audit_approved", "deployment_approved", "deployment_rejected",
	"deployment_continued_first_run", "deployment_continued_next_run",
	"onboarding_approved", "onboarding_rejected",
	"refund_approval_approved", "refund_approval_undone",
	"refund_approval_revised", "refund_approval_withdrawn", "refund_approval_approved_less",
	"refund_approval_quorum_one_timer", // bundle version 3: one deadline timer through the approvals
	"vendor_access_revoked", "vendor_access_stopped",
	"event_wait_sent", "ci_deployment_called_back", "event_wait_timed_out",
	"gate_or_event_won_by_event", "gate_or_event_at_once", "gate_or_event_during_changes",
}

var historyName = regexp.MustCompile(`^(.+?)(?:_v(\d+))?\.json$`)

// checkHistoryNames fails unless every lifecycle has its current history, every file is
// a history of a named lifecycle, and each one's earlier versions run from _v0 or _v1
// without a gap: a history
// deleted or misnamed would otherwise just stop being replayed.
func checkHistoryNames(t *testing.T, files []string) {
	t.Helper()
	versions := map[string][]int{}
	current := map[string]bool{}
	for _, f := range files {
		m := historyName.FindStringSubmatch(filepath.Base(f))
		if m == nil || !slices.Contains(recordedLifecycles, m[1]) {
			t.Errorf("%s is not a history of a recorded lifecycle (%s)", f, strings.Join(recordedLifecycles, ", "))
			continue
		}
		if m[2] == "" {
			current[m[1]] = true
			continue
		}
		n, _ := strconv.Atoi(m[2])
		versions[m[1]] = append(versions[m[1]], n)
	}
	for _, l := range recordedLifecycles {
		if !current[l] {
			t.Errorf("no current history %s.json", l)
		}
		v := versions[l]
		slices.Sort(v)
		if len(v) > 0 && v[0] > 1 {
			t.Errorf("%s: earlier histories start at _v%d, not _v0 or _v1", l, v[0])
		}
		for i := 1; i < len(v); i++ {
			if v[i] != v[i-1]+1 {
				t.Errorf("%s: earlier histories %v have a gap after _v%d", l, v, v[i-1])
			}
		}
	}
}
