package activities_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowgate/flowgate/activities"
)

// FuzzCheckReadOnlySQL: whatever the guard accepts, the read-only connection runs without
// changing the database.
func FuzzCheckReadOnlySQL(f *testing.F) {
	for _, s := range sqlInjection {
		f.Add(s)
		f.Add("SELECT * FROM users WHERE email = '" + s + "'")
	}
	f.Add("WITH x AS (SELECT 1) DELETE FROM users")
	// Quoted names: as columns, and as (forbidden) function names the guard must see.
	for _, q := range []string{
		`SELECT "email" FROM users`, `SELECT [name] FROM products`, "SELECT `sku` FROM products",
		`SELECT "zeroblob"(10)`, `SELECT [randomblob](10)`, "SELECT `printf`('%d', 1)",
		`SELECT "ZeroBlob" /* c */ (10)`, "SELECT [randomblob] -- c\n(10)", `SELECT "a""b"(1)`,
		`SELECT "count"(*) FROM users`, `SELECT (ARRAY[1])[1]`, `SELECT $$'$$`, `SELECT E'\''`,
		"SELECT 1 --\r, 2", `SELECT /* /* */ 1 */ 2`,
	} {
		f.Add(q)
	}
	db, _ := openDB(f)
	before := fingerprint(f, db)
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > activities.MaxQueryLength {
			return
		}
		if activities.CheckReadOnlySQL(q) != nil {
			return
		}
		_, _ = db.ExecuteQuery(context.Background(), activities.QueryInput{Query: q, Limit: 5})
		if fingerprint(t, db) != before {
			t.Fatalf("query %q changed the database", q)
		}
	})
}

// FuzzSandboxPath: a path the resolver accepts is relative, has no '..' segment, and
// reading it never returns content from outside the sandbox.
func FuzzSandboxPath(f *testing.F) {
	for _, p := range traversal {
		f.Add(p)
	}
	f.Add("data/people.csv")
	files, _, _ := sandbox(f)
	f.Fuzz(func(t *testing.T, p string) {
		clean, err := activities.CleanSandboxPath("path", p)
		if err == nil {
			if strings.HasPrefix(clean, "/") || strings.Contains("/"+clean+"/", "/../") || !utf8.ValidString(clean) {
				t.Fatalf("accepted %q as %q", p, clean)
			}
		}
		if c, err := files.ReadChunk(context.Background(), activities.ChunkInput{Path: p}); err == nil && strings.Contains(c.Data, "hunter2") {
			t.Fatalf("%q read the secret outside the sandbox", p)
		}
	})
}
