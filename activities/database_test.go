package activities_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/flowgate/flowgate/activities"
)

func openDB(t testing.TB) (*activities.Database, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := activities.OpenDatabase(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// eachDatabase runs a test against a new SQLite file and, when FLOWGATE_TEST_POSTGRES
// names a PostgreSQL server (.ci/run starts one), against a new PostgreSQL database.
func eachDatabase(t *testing.T, test func(t *testing.T, db *activities.Database, target string)) {
	// Each has a database of its own: they run side by side.
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db, path := openDB(t)
		test(t, db, path)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db, dsn := openPostgres(t)
		test(t, db, dsn)
	})
}

var pgSeq atomic.Int64

// openPostgres creates a database of its own on the server FLOWGATE_TEST_POSTGRES names,
// and drops it after the test.
func openPostgres(t testing.TB) (*activities.Database, string) {
	t.Helper()
	admin := os.Getenv("FLOWGATE_TEST_POSTGRES")
	if admin == "" {
		t.Skip("PostgreSQL tests skipped: set FLOWGATE_TEST_POSTGRES to a postgres:// DSN of a server where databases may be created (.ci/run starts one)")
	}
	name := fmt.Sprintf("flowgate_test_%d_%d", os.Getpid(), pgSeq.Add(1))
	adminDB, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminDB.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	db, err := activities.OpenDatabase(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	var users int
	err = raw.QueryRow("SELECT count(*) FROM users").Scan(&users)
	raw.Close()
	if err != nil || users != 0 {
		t.Fatalf("a new PostgreSQL app database holds %d users (%v), want none: demo rows go into the demo database only", users, err)
	}
	if err := db.SeedDemoData(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		adminDB.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		adminDB.Close()
	})
	return db, u.String()
}

func errType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

// fingerprint is a digest of every table's content, to prove a payload changed nothing.
func fingerprint(t testing.TB, db *activities.Database) string {
	t.Helper()
	var b strings.Builder
	for _, table := range activities.RecordTables() {
		res, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: "SELECT * FROM " + table + " ORDER BY id", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%v;", table, res.Rows)
	}
	schema := "SELECT name, sql FROM sqlite_master ORDER BY name"
	if db.Dialect() == "postgres" {
		schema = "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
	}
	res, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: schema, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "schema:%v", res.Rows)
	return b.String()
}

func TestOpenSeedsAndMigratesOnce(t *testing.T) { eachDatabase(t, testOpenSeedsAndMigratesOnce) }

func testOpenSeedsAndMigratesOnce(t *testing.T, db *activities.Database, path string) {
	before := fingerprint(t, db)
	for table, want := range map[string]int{"users": 20, "products": 12, "orders": 40, "deployments": 0} {
		res, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: "SELECT count(*) AS n FROM " + table})
		if err != nil || res.Rows[0]["n"].(int64) != int64(want) {
			t.Errorf("%s: %v %v, want %d rows", table, res.Rows, err, want)
		}
	}
	again, err := activities.OpenDatabase(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if fingerprint(t, again) != before {
		t.Error("opening an existing database changed it")
	}
}

func TestExecuteQueryReturnsRowsAsObjects(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) { testExecuteQuery(t, db) })
}

func testExecuteQuery(t *testing.T, db *activities.Database) {
	res, err := db.ExecuteQuery(context.Background(), activities.QueryInput{
		Query: "SELECT u.email, count(o.id) AS orders FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id ORDER BY u.id", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsReturned != 3 || !res.Truncated || len(res.Columns) != 2 || res.Rows[0]["email"] != "ada.lovelace@example.com" || res.ExecutedAt.IsZero() {
		t.Errorf("result = %+v", res)
	}
}

// TestReadOnlyIsEnforcedByTheDatabase sends writes past the string guard (a WITH prefix)
// to show that SQLite itself refuses them on the read-only connection.
func TestReadOnlyIsEnforcedByTheDatabase(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) { testReadOnly(t, db) })
}

func testReadOnly(t *testing.T, db *activities.Database) {
	before := fingerprint(t, db)
	for _, q := range []string{
		"WITH x AS (SELECT 1) DELETE FROM users",
		"WITH x AS (SELECT 1) UPDATE users SET role = 'admin'",
		"WITH x AS (SELECT 1) INSERT INTO users (email, name, role, status, created_at) VALUES ('a@b.c', 'a', 'admin', 'active', '')",
	} {
		_, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: q})
		if err == nil || errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%q: %v", q, err)
		}
	}
	if fingerprint(t, db) != before {
		t.Fatal("a write got through")
	}
}

// sqlInjection lists hostile inputs: classic injections, stacked statements, comments,
// ATTACH and PRAGMA, encoding tricks, LIKE wildcards and oversized input.
var sqlInjection = []string{
	"' OR '1'='1", "' OR 1=1 --", "'; DROP TABLE users; --", "\" OR \"\"=\"", "admin'--", "admin' #",
	"' UNION SELECT sql, name, 1, 1, 1, 1, 1, 1, 1 FROM sqlite_master --", "1; DELETE FROM orders",
	"1 OR 1=1", "1) OR (1=1", "'); INSERT INTO users (email) VALUES ('x'); --", "%' AND 1=0 UNION SELECT * FROM users --",
	"' AND (SELECT count(*) FROM sqlite_master) > 0 --", "'||(SELECT group_concat(email) FROM users)||'",
	"\\'; DROP TABLE products; --", "'/**/OR/**/1=1/**/--", "' oR 'a'='a", "%", "_", "%%%", "___",
	"\\", "\\%", "'; ATTACH DATABASE '/tmp/evil.db' AS evil; --", "'; PRAGMA writable_schema=1; --",
	"'; VACUUM INTO '/tmp/copy.db'; --", "' ; UPDATE users SET role='admin' WHERE '1'='1",
	"\x00' OR 1=1", "' OR 1=1\x00", "%27%20OR%201%3D1", "&#39; OR 1=1", "＇ OR 1=1 --",
	"' OR sleep(5) --", "'; SELECT load_extension('/tmp/x.so'); --", "' AND 1=CAST((SELECT email FROM users) AS INT) --",
	"'||randomblob(1000000000)||'", "' OR EXISTS(SELECT 1 FROM users WHERE role='admin') --",
	"`users`", "[users]", "users; --", "users WHERE 1=1", "1e309", "-1", "9223372036854775808",
	strings.Repeat("A", 201), strings.Repeat("' OR 1=1 ", 30), "Robert'); DROP TABLE students;--",
	"' GLOB '*", "' REGEXP '.*", "' COLLATE NOCASE --", "'/*", "*/'", "--", ";", "';'",
}

func TestSQLInjectionPayloadsAreHarmless(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) { testSQLInjection(t, db) })
}

func testSQLInjection(t *testing.T, db *activities.Database) {
	if len(sqlInjection) < 50 {
		t.Fatalf("only %d payloads", len(sqlInjection))
	}
	before := fingerprint(t, db)
	ctx := context.Background()
	for _, p := range sqlInjection {
		// search_table: the payload is a bound parameter; it can only match literally.
		res, err := db.SearchTable(ctx, activities.SearchInput{Table: "users", SearchTerm: p})
		if err == nil {
			for _, row := range res.Rows {
				if !rowContains(row, strings.ToLower(strings.TrimSpace(p)), "email", "name", "role", "team", "status") {
					t.Errorf("search %q matched a row that does not contain it: %v", p, row)
				}
			}
		} else if errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("search %q: unexpected error %v", p, err)
		}
		// search_table with the payload as the table name: refused by the allowlist.
		if _, err := db.SearchTable(ctx, activities.SearchInput{Table: p, SearchTerm: "ada"}); errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("table %q: %v", p, err)
		}
		// get_record with the payload as table: refused.
		if _, err := db.GetRecord(ctx, activities.RecordInput{Table: p, ID: 1}); errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("get_record table %q: %v", p, err)
		}
		// execute_query with the payload appended to a SELECT: refused or read-only.
		q := "SELECT * FROM users WHERE email = '" + p
		if _, err := db.ExecuteQuery(ctx, activities.QueryInput{Query: q}); err != nil && errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("query %q: %v", q, err)
		}
		if _, err := db.ExecuteQuery(ctx, activities.QueryInput{Query: p}); err != nil && errType(err) != activities.ErrTypeInvalidInput {
			t.Errorf("query %q: %v", p, err)
		}
	}
	if fingerprint(t, db) != before {
		t.Fatal("a payload changed the database")
	}
}

func rowContains(row map[string]any, term string, cols ...string) bool {
	for _, c := range cols {
		if s, ok := row[c].(string); ok && strings.Contains(strings.ToLower(s), term) {
			return true
		}
	}
	return false
}

func TestCheckReadOnlySQL(t *testing.T) {
	ok := []string{"SELECT 1", "select * from users;", "  WITH a AS (SELECT 1) SELECT * FROM a ; ", "VALUES (1)",
		"SELECT ';' AS semi", "SELECT 'attach' AS word", "SELECT \"pragma\" FROM (SELECT 1 AS \"pragma\")", "SELECT 1 -- ; DROP\n"}
	for _, q := range ok {
		if err := activities.CheckReadOnlySQL(q); err != nil {
			t.Errorf("%q refused: %v", q, err)
		}
	}
	bad := map[string]string{
		"DELETE FROM users":          "starts with DELETE",
		"SELECT 1; SELECT 2":         "2 statements",
		"SELECT 1; DROP TABLE users": "2 statements",
		"ATTACH 'x.db' AS x":         "starts with ATTACH",
		"SELECT * FROM pragma_table_info('users') WHERE 0 UNION SELECT 1 PRAGMA": "PRAGMA",
		"PRAGMA query_only = 0":              "starts with PRAGMA",
		"SELECT 'unterminated":               "unterminated",
		"SELECT 1 /* open":                   "unterminated",
		"":                                   "no statement",
		"SELECT 1\x00":                       "control character",
		"SELECT randomblob(1000000000)":      "RANDOMBLOB",
		"SELECT printf('%.999999999c', 'x')": "PRINTF",
	}
	for q, want := range bad {
		err := activities.CheckReadOnlySQL(q)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", q, err, want)
		}
	}
}

func TestRunawayQueryTimesOut(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) { testRunaway(t, db) })
}

func testRunaway(t *testing.T, db *activities.Database) {
	start := time.Now()
	_, err := db.ExecuteQuery(context.Background(), activities.QueryInput{
		Query: "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"})
	if errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), "did not finish within") {
		t.Errorf("runaway query: %v", err)
	}
	// The query timeout is 5 s: the database stops the query near it, not long after.
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("runaway query stopped after %s", d)
	}
}

func TestGetRecordNamesTableAndID(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) { testGetRecord(t, db) })
}

func testGetRecord(t *testing.T, db *activities.Database) {
	rec, err := db.GetRecord(context.Background(), activities.RecordInput{Table: "products", ID: 1})
	if err != nil || rec.Fields["sku"] != "KB-100" {
		t.Fatalf("%+v %v", rec, err)
	}
	_, err = db.GetRecord(context.Background(), activities.RecordInput{Table: "orders", ID: 4242})
	if errType(err) != activities.ErrTypeNotFound || !strings.Contains(err.Error(), "id 4242 in table orders") {
		t.Errorf("missing record: %v", err)
	}
}

func TestWritesAreIdempotent(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) { testWritesIdempotent(t, db) })
}

func testWritesIdempotent(t *testing.T, db *activities.Database) {
	ctx := context.Background()
	in := activities.CreateUserInput{RequestID: "onboarding-1", Email: "x@example.com", Name: "X", Role: "viewer"}
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := db.CreateUser(ctx, in)
			if err != nil {
				t.Error(err)
			}
			ids[i] = u.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("retried inserts returned ids %v", ids)
		}
	}
	if err := db.CheckEmailAvailable(ctx, activities.CheckEmailInput{Email: "X@example.com", RequestID: "onboarding-1"}); err != nil {
		t.Errorf("its own request sees the email as taken: %v", err)
	}
	if err := db.CheckEmailAvailable(ctx, activities.CheckEmailInput{Email: "X@example.com", RequestID: "onboarding-2"}); errType(err) != activities.ErrTypeConflict {
		t.Errorf("another request: %v", err)
	}
	if _, err := db.CreateUser(ctx, activities.CreateUserInput{RequestID: "onboarding-2", Email: "x@example.com", Name: "X", Role: "viewer"}); errType(err) != activities.ErrTypeConflict {
		t.Errorf("duplicate active email: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := db.DeactivateUser(ctx, activities.DeactivateUserInput{RequestID: "onboarding-1", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	d := activities.DeploymentRecord{RequestID: "deployment-1", Service: "orders", Version: "1.0.0", Environment: "dev", Status: "deployed", RequestedBy: "alice"}
	r1, err1 := db.RecordDeployment(ctx, d)
	r2, err2 := db.RecordDeployment(ctx, d)
	if err1 != nil || err2 != nil || r1.ID != r2.ID {
		t.Errorf("record deployment twice: %v %v %v %v", r1, r2, err1, err2)
	}
}

// TestSchemaMatchesTheMigratedDatabase: the tables and columns that execute_query's
// description lists are exactly those the migrations create, so the description cannot
// drift from the database.
func TestSchemaMatchesTheMigratedDatabase(t *testing.T) {
	db, _ := openDB(t)
	for _, table := range activities.Schema {
		res, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: "SELECT * FROM " + table.Name + " LIMIT 1"})
		if err != nil {
			t.Fatalf("%s: %v", table.Name, err)
		}
		if !slices.Equal(res.Columns, table.Columns) {
			t.Errorf("%s columns = %v, Schema says %v", table.Name, res.Columns, table.Columns)
		}
	}
	res, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('schema_migrations', 'statement_runs') ORDER BY name"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, row := range res.Rows {
		names = append(names, row["name"].(string))
	}
	var declared []string
	for _, table := range activities.Schema {
		declared = append(declared, table.Name)
	}
	slices.Sort(declared)
	if !slices.Equal(names, declared) {
		t.Errorf("database tables %v, Schema declares %v", names, declared)
	}
}
