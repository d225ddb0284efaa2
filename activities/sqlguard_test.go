package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/activities"
)

// quotedFunctionBypasses call forbidden functions by quoted names, which the guard once
// skipped like any quoted name: "randomblob"(1e9) took 1.3 GiB and 11 s past a 5 s timeout.
var quotedFunctionBypasses = map[string]string{
	`SELECT "zeroblob"(1000000000)`:                                             "ZEROBLOB",
	`SELECT [randomblob](1e9)`:                                                  "RANDOMBLOB",
	"SELECT `printf`('%.*c', 1000000000, 'x')":                                  "PRINTF",
	`SELECT "ZeroBlob"(1000000000)`:                                             "ZEROBLOB",
	`SELECT [RandomBlob](1e9)`:                                                  "RANDOMBLOB",
	"SELECT `PrInTf`('%.*c', 1000000000, 'x')":                                  "PRINTF",
	`SELECT "zeroblob" /* a comment */ (1000000000)`:                            "ZEROBLOB",
	"SELECT [randomblob] -- a comment\n (1e9)":                                  "RANDOMBLOB",
	"SELECT `printf`\n\t/* one */ -- two\n\t('%.*c', 1000000000, 'x')":          "PRINTF",
	`SELECT length(hex("randomblob"(1000000000)))`:                              "RANDOMBLOB",
	`WITH b AS (SELECT [zeroblob](1000000000) AS v) SELECT length(v) FROM b`:    "ZEROBLOB",
	`SELECT "format"('%.*c', 1000000000, 'x')`:                                  "FORMAT",
	`SELECT "load_extension"('/tmp/x.so')`:                                      "LOAD_EXTENSION",
	`SELECT pg_catalog."repeat"('x', 1000000000)`:                               "REPEAT",
	`SELECT "lpad"('x', 1000000000)`:                                            "LPAD",
	`SELECT email FROM users WHERE "pg_sleep"(10) IS NOT NULL`:                  "PG_SLEEP",
	`SELECT 'a string' AS s, "zeroblob"(1000000000) AS z, 'another' AS t`:       "ZEROBLOB",
	`SELECT "email" AS e, [randomblob](1e9) AS r FROM users WHERE [name] <> ''`: "RANDOMBLOB",
}

// dialectBypasses hide a forbidden name in text that SQLite reads as a quoted name,
// string or comment and PostgreSQL reads as code, or use syntax only PostgreSQL reads.
var dialectBypasses = map[string]string{
	"SELECT (ARRAY[repeat('x', 100000000)])[1]":                    "REPEAT",
	"SELECT ARRAY[pg_read_file('/etc/passwd')] AS f":               "PG_READ_FILE",
	"SELECT $$/*$$ AS a, repeat('x', 100000000) AS n, $$*/$$ AS b": "$",
	"SELECT $$'$$ || repeat('x', 100000000) || $$'$$":              "$",
	"SELECT $1": "$",
	"SELECT E'\\'' AS a, repeat('x', 100000000) AS n --'":                          "backslash",
	"SELECT E'x'\n'\\'', repeat('x', 100000000) AS n --'":                          "backslash",
	"SELECT e'x' -- continued\n '\\'', repeat('x', 100000000) AS n --'":            "backslash",
	"SELECT /* /* */ ' */ repeat('x', 100000000) AS n --'":                         "REPEAT",
	"SELECT 1 AS a --\r, repeat('x', 100000000) AS n":                              "REPEAT",
	`SELECT U&"r\0065peat"('x', 100000000)`:                                        "Unicode-escaped",
	"SELECT query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')": "QUERY_TO_XML",
	"SELECT ts_stat('select to_tsvector(email) FROM users')":                       "TS_STAT",
	"SELECT pg_try_advisory_lock(726110)":                                          "PG_TRY_ADVISORY_LOCK",
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity":                       "PG_TERMINATE_BACKEND",
	"SELECT pg_sleep_for('1 hour')":                                                "PG_SLEEP_FOR",
}

func TestCheckReadOnlySQLRefusesQuotedFunctionNames(t *testing.T) {
	checkRefused(t, quotedFunctionBypasses)
}

func TestCheckReadOnlySQLReadsQueriesAsPostgreSQLToo(t *testing.T) {
	checkRefused(t, dialectBypasses)
}

func checkRefused(t *testing.T, queries map[string]string) {
	t.Helper()
	for q, want := range queries {
		err := activities.CheckReadOnlySQL(q)
		if err == nil {
			t.Errorf("%q passed the guard", q)
			continue
		}
		if errType(err) != activities.ErrTypeInvalidInput || !strings.HasPrefix(err.Error(), "query: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v (type %q), want an InvalidInput error on query naming %q", q, err, errType(err), want)
		}
	}
}

func TestCheckReadOnlySQLAcceptsQuotedNamesAndLiterals(t *testing.T) {
	for _, q := range []string{
		`SELECT "email" FROM users`,
		`SELECT [name] FROM products`,
		"SELECT `sku`, \"name\" FROM products WHERE [category] = 'keyboards'",
		`SELECT "count"(*) AS n FROM users`,
		`SELECT "lower"([email]) FROM users`,
		`SELECT 'zeroblob(1000000000)' AS s`,
		`SELECT '"zeroblob"(1000000000)' AS s, '[randomblob](1e9)' AS t`,
		"SELECT '`printf`(''%d'', 1)' AS s",
		`SELECT 'zeroblob' AS "zeroblob", 1 AS [sku]`,
		"SELECT email FROM users -- \"zeroblob\"(1)",
		"SELECT 1 /* [zeroblob](1) */ AS one",
		`SELECT "a""b" FROM (SELECT 1 AS "a""b")`,
		`SELECT name FROM products WHERE name LIKE '%\%%' ESCAPE '\'`,
		`SELECT 'it''s' AS s, 'C:\temp' AS path`,
		`SELECT E'x' AS a, 'C:\temp' AS path`,
		`SELECT '1'::int AS n`,
		`SELECT (ARRAY[1, 2])[1] AS first`,
		"SELECT 1 AS a --\r\n",
		`SELECT u.email FROM users u WHERE u.name = 'Ada' AND u.status = "active"`,
	} {
		if err := activities.CheckReadOnlySQL(q); err != nil {
			t.Errorf("%q refused: %v", q, err)
		}
	}
}

// TestExecuteQueryRefusesQuotedFunctionNames: execute_query refuses the bypasses at
// once, before they run.
func TestExecuteQueryRefusesQuotedFunctionNames(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *activities.Database, _ string) {
		before := fingerprint(t, db)
		for q, want := range quotedFunctionBypasses {
			start := time.Now()
			_, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: q})
			if errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %v, want it refused naming %s", q, err, want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%q took %s to refuse", q, d)
			}
		}
		if fingerprint(t, db) != before {
			t.Fatal("a refused query changed the database")
		}
	})
}

// TestSQLiteLimitsTheLengthOfValues: functions the guard allows can still multiply a
// value (replace(replace(…)), s||s in a recursive CTE); SQLite's length limit on the
// read-only connections refuses such values at once instead of allocating gigabytes in
// one call the query timeout cannot interrupt.
func TestSQLiteLimitsTheLengthOfValues(t *testing.T) {
	db, _ := openDB(t)
	grow := func(levels int) string { // 10^levels characters
		s := "'x'"
		for range levels {
			s = "replace(" + s + ", 'x', 'xxxxxxxxxx')"
		}
		return "SELECT length(" + s + ") AS n"
	}
	for _, q := range []string{
		grow(9),
		"WITH RECURSIVE r(s, n) AS (SELECT 'x', 0 UNION ALL SELECT s || s, n + 1 FROM r WHERE n < 30) SELECT max(length(s)) AS n FROM r",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000) SELECT length(group_concat(" + grow(3)[len("SELECT length("):len(grow(3))-len(") AS n")] + ", '')) AS n FROM c",
	} {
		start := time.Now()
		_, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: q})
		if errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), "more memory") {
			t.Errorf("%q: %v, want it refused as too big", q, err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("%q took %s to refuse", q, d)
		}
	}
	// A value of 10^7 bytes is within the limit.
	res, err := db.ExecuteQuery(context.Background(), activities.QueryInput{Query: grow(7)})
	if err != nil || res.Rows[0]["n"] != int64(10_000_000) {
		t.Errorf("10 MB value: %v %v", res.Rows, err)
	}
}
