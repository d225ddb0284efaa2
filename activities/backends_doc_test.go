package activities_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/activities"
)

// TestBackendsDocListsEveryTableAndColumn: every table of a freshly migrated app database
// has a section in docs/backends.md ("### name") with a row per column giving its type
// ("| `column` | TYPE |"), and every migration applied is named there, so a migration that
// adds a table or a column without its line fails here.
func TestBackendsDocListsEveryTableAndColumn(t *testing.T) {
	raw, err := os.ReadFile("../docs/backends.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := activities.OpenDatabase(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The migrated file, read as it is: the read tools refuse PRAGMA.
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	tables := strings.Fields(queryColumn(t, conn, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`))
	if len(tables) < 7 {
		t.Fatalf("the migrated database has %d tables (%v), want at least 7", len(tables), tables)
	}
	for _, table := range tables {
		section, ok := docSection(doc, "### "+table)
		if !ok {
			t.Errorf("table %s has no section \"### %s\" in docs/backends.md", table, table)
			continue
		}
		rows, err := conn.Query(`SELECT name, type FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			n++
			if want := "\n| `" + name + "` | " + typ + " |"; !strings.Contains(section, want) {
				t.Errorf("column %s.%s (%s): the section of %s in docs/backends.md has no row %s", table, name, typ, table, strings.TrimSpace(want))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n == 0 {
			t.Errorf("table %s has no columns", table)
		}
	}
	for _, m := range strings.Fields(queryColumn(t, conn, `SELECT name FROM schema_migrations ORDER BY name`)) {
		if want := "| `" + m + "` |"; !strings.Contains(doc, want) {
			t.Errorf("migration %s has no row %s in docs/backends.md", m, want)
		}
	}
}

// queryColumn returns the values of a one-column query, separated by spaces.
func queryColumn(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

// docSection returns the text from the line heading to the next heading of any level.
func docSection(doc, heading string) (string, bool) {
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		return "", false
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n#"); j >= 0 {
		rest = rest[:j]
	}
	return "\n" + rest, true
}
