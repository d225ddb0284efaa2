package activities_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flowgate/flowgate/activities"
)

// TestWorkersOpeningOneFileTogetherAllStart: workers started together on one data folder
// (the separate-processes topology) open and migrate the same SQLite file at once. Each
// must wait its turn, not fail with "database is locked": a deferred transaction that
// read before another committed cannot become a writer, whatever the busy timeout.
func TestWorkersOpeningOneFileTogetherAllStart(t *testing.T) {
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "app.db")
		const workers = 4
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				db, err := activities.OpenDatabase(context.Background(), path)
				if err == nil {
					db.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, worker %d: %v", round, i, err)
			}
		}
	}
}
