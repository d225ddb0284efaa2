package activities_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/activities"
)

func TestStatementsBindNamedArgumentsAndWriteOnce(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) {
		ctx := context.Background()
		read := activities.StatementInput{Name: "find_order", Mode: "read",
			Query: "SELECT reference, status FROM orders WHERE reference = :ref OR reference = :ref",
			Args:  map[string]any{"ref": "ORD-01001"}}
		res, err := db.RunStatement(ctx, read)
		if err != nil || res.RowsReturned != 1 || res.Row["reference"] != "ORD-01001" {
			t.Fatalf("read: %+v %v", res, err)
		}
		// A value is a value, never SQL.
		read.Args["ref"] = "x' OR '1'='1"
		if res, err := db.RunStatement(ctx, read); err != nil || res.RowsReturned != 0 {
			t.Fatalf("injection through an argument: %+v %v", res, err)
		}
		if _, err := db.RunStatement(ctx, activities.StatementInput{Mode: "read", Query: "DELETE FROM orders WHERE reference = :ref", Args: map[string]any{"ref": "x"}}); errType(err) != activities.ErrTypeInvalidInput {
			t.Fatalf("a write marked read ran: %v", err)
		}
		if _, err := db.RunStatement(ctx, activities.StatementInput{Mode: "read", Query: "SELECT 1 WHERE :a = 1"}); errType(err) != activities.ErrTypeInvalidInput {
			t.Fatalf("missing argument: %v", err)
		}

		write := activities.StatementInput{Name: "mark", Mode: "write", Key: "refund-1/mark_refunded",
			Query: "UPDATE orders SET note = note || :suffix WHERE reference = :ref",
			Args:  map[string]any{"ref": "ORD-01002", "suffix": "+refunded"}}
		var wg sync.WaitGroup
		results := make([]activities.StatementResult, 6)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := db.RunStatement(ctx, write)
				if err != nil {
					t.Error(err)
				}
				results[i] = r
			}()
		}
		wg.Wait()
		applied := 0
		for _, r := range results {
			if r.RowsAffected != 1 {
				t.Errorf("rows affected %d, want 1 on every answer", r.RowsAffected)
			}
			if !r.Replayed {
				applied++
			}
		}
		if applied != 1 {
			t.Errorf("the write was applied %d times, want once", applied)
		}
		got, _ := db.RunStatement(ctx, activities.StatementInput{Mode: "read", Query: "SELECT note FROM orders WHERE reference = :ref", Args: map[string]any{"ref": "ORD-01002"}})
		if got.Row["note"] != "+refunded" {
			t.Errorf("note after six retries of one write: %q", got.Row["note"])
		}
		if _, err := db.RunStatement(ctx, activities.StatementInput{Mode: "write", Query: "UPDATE orders SET note = ''"}); errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("a write without a key ran: %v", err)
		}
	})
}

func TestPlaceholdersSkipCasts(t *testing.T) {
	got := activities.Placeholders("SELECT :a::text, :b FROM t WHERE x = :a")
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "a" {
		t.Errorf("placeholders %v", got)
	}
}

// TestAWriteReturningAnswersTheSameRowsWhenRetried: a write with RETURNING answers with
// its rows, and a retry of the same key answers with the same rows without writing again;
// :now is the time it ran.
func TestAWriteReturningAnswersTheSameRowsWhenRetried(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) {
		ctx := context.Background()
		insert := activities.StatementInput{Name: "record", Mode: "write", Key: "deployment-x/record_deployment",
			Query: `INSERT INTO deployments (request_id, service, version, environment, previous_version, status, requested_by, approved_by, created_at)
				VALUES (:id, 'orders', '1.0.0', 'dev', '', 'deployed', 'alice', '', :now) RETURNING id`,
			Args: map[string]any{"id": "deployment-x"}}
		first, err := db.RunStatement(ctx, insert)
		if err != nil || first.Replayed || first.RowsReturned != 1 || first.Row["id"] == nil {
			t.Fatalf("first write: %+v %v", first, err)
		}
		again, err := db.RunStatement(ctx, insert)
		if err != nil || !again.Replayed || again.RowsReturned != 1 || fmt.Sprint(again.Row["id"]) != fmt.Sprint(first.Row["id"]) {
			t.Fatalf("retried write: %+v %v, want the first one's row %v", again, err, first.Row)
		}
		rows, _ := db.RunStatement(ctx, activities.StatementInput{Mode: "read",
			Query: "SELECT count(*) AS n, max(created_at) AS at FROM deployments WHERE request_id = :id", Args: map[string]any{"id": "deployment-x"}})
		if fmt.Sprint(rows.Row["n"]) != "1" || !strings.HasPrefix(fmt.Sprint(rows.Row["at"]), time.Now().UTC().Format("2006-01-02")) {
			t.Errorf("rows after a retried write: %v", rows.Row)
		}
	})
}
