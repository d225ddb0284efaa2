package activities

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migrations are applied in order, each once, recorded in schema_migrations. Never edit
// one that has shipped: add a new one.
var migrations = []struct {
	name  string
	apply func(ctx context.Context, tx dialectTx) error
}{
	{"0001_schema", execAll(
		`CREATE TABLE users (
			id INTEGER PRIMARY KEY,
			email TEXT NOT NULL,
			name TEXT NOT NULL,
			role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
			team TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
			created_at TEXT NOT NULL,
			request_id TEXT UNIQUE,
			deactivated_reason TEXT
		)`,
		`CREATE UNIQUE INDEX users_active_email ON users (lower(email)) WHERE status = 'active'`,
		`CREATE TABLE products (
			id INTEGER PRIMARY KEY,
			sku TEXT NOT NULL UNIQUE,
			name TEXT NOT NULL,
			category TEXT NOT NULL,
			price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
			stock INTEGER NOT NULL CHECK (stock >= 0),
			created_at TEXT NOT NULL
		)`,
		`CREATE TABLE orders (
			id INTEGER PRIMARY KEY,
			reference TEXT NOT NULL UNIQUE,
			user_id INTEGER NOT NULL REFERENCES users (id),
			product_id INTEGER NOT NULL REFERENCES products (id),
			quantity INTEGER NOT NULL CHECK (quantity > 0),
			total_cents INTEGER NOT NULL,
			status TEXT NOT NULL,
			shipping_city TEXT NOT NULL,
			note TEXT NOT NULL DEFAULT '',
			created_at TEXT NOT NULL
		)`,
		`CREATE TABLE deployments (
			id INTEGER PRIMARY KEY,
			request_id TEXT NOT NULL UNIQUE,
			service TEXT NOT NULL,
			version TEXT NOT NULL,
			environment TEXT NOT NULL,
			previous_version TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL,
			requested_by TEXT NOT NULL,
			approved_by TEXT NOT NULL DEFAULT '',
			created_at TEXT NOT NULL
		)`,
		`CREATE TABLE audits (
			id INTEGER PRIMARY KEY,
			request_id TEXT NOT NULL UNIQUE,
			tables TEXT NOT NULL,
			findings INTEGER NOT NULL,
			report_path TEXT NOT NULL,
			requested_by TEXT NOT NULL,
			signed_off_by TEXT NOT NULL,
			created_at TEXT NOT NULL
		)`,
	)},
	{"0002_demo_data", demoDataOnSQLite},
	{"0003_users_pending", allowPendingUsers},
	// statement_runs remembers the key of every write statement a process ran, so a
	// retried write is applied once.
	{"0004_statement_runs", execAll(
		`CREATE TABLE statement_runs (
			key TEXT PRIMARY KEY,
			rows_affected INTEGER NOT NULL,
			applied_at TEXT NOT NULL
		)`,
	)},
	// A write statement with RETURNING answers with its rows; they are kept with its key,
	// so a retry answers with the same rows.
	{"0005_statement_results", execAll(
		`ALTER TABLE statement_runs ADD COLUMN result_rows TEXT NOT NULL DEFAULT ''`,
	)},
	// A production deployment is approved under a change ticket, which its record keeps;
	// rows written before, and other environments', have none.
	{"0006_deployments_change_ticket", execAll(
		`ALTER TABLE deployments ADD COLUMN change_ticket TEXT NOT NULL DEFAULT ''`,
	)},
}

// foreignKeysOff lists the migrations that rebuild a table other tables reference.
var foreignKeysOff = map[string]bool{"0003_users_pending": true}

// allowPendingUsers lets a user record wait as 'pending' until its onboarding is approved.
// SQLite cannot change a CHECK constraint, so the table is rebuilt under the same name;
// PostgreSQL swaps the constraint.
func allowPendingUsers(ctx context.Context, tx dialectTx) error {
	if tx.d.pg {
		return execAll(
			`ALTER TABLE users DROP CONSTRAINT IF EXISTS users_status_check`,
			`ALTER TABLE users ADD CONSTRAINT users_status_check CHECK (status IN ('active', 'inactive', 'pending'))`,
		)(ctx, tx)
	}
	// migrate turns foreign keys off around this migration (SQLite's documented way to
	// rebuild a parent table); the check below proves the rebuilt table still satisfies them.
	return execAll(
		`CREATE TABLE users_new (
			id INTEGER PRIMARY KEY,
			email TEXT NOT NULL,
			name TEXT NOT NULL,
			role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
			team TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'pending')),
			created_at TEXT NOT NULL,
			request_id TEXT UNIQUE,
			deactivated_reason TEXT
		)`,
		`INSERT INTO users_new (id, email, name, role, team, status, created_at, request_id, deactivated_reason)
		 SELECT id, email, name, role, team, status, created_at, request_id, deactivated_reason FROM users`,
		`DROP TABLE users`,
		`ALTER TABLE users_new RENAME TO users`,
		`CREATE UNIQUE INDEX users_active_email ON users (lower(email)) WHERE status = 'active'`,
	)(ctx, tx)
}

// dialectTx runs a migration's statements in the database's SQL dialect.
type dialectTx struct {
	tx *sql.Tx
	d  *Database
}

// ExecContext rebinds placeholders and, on PostgreSQL, turns SQLite's rowid primary keys
// into identity columns.
func (t dialectTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if t.d.pg {
		q = strings.ReplaceAll(q, "INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
	}
	return t.tx.ExecContext(ctx, t.d.rebind(q), args...)
}

func execAll(stmts ...string) func(context.Context, dialectTx) error {
	return func(ctx context.Context, tx dialectTx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

func (d *Database) migrate(ctx context.Context) error {
	// One connection for every migration, so a connection setting made around one (SQLite's
	// foreign_keys) applies to that migration's transaction.
	db, err := d.rw.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if err := d.apply(ctx, db, m.name, m.apply); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration in a transaction of its own, unless it ran before.
func (d *Database) apply(ctx context.Context, db *sql.Conn, name string, migration func(context.Context, dialectTx) error) error {
	if foreignKeysOff[name] && !d.pg {
		if _, err := db.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		defer db.ExecContext(ctx, `PRAGMA foreign_keys = ON`)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	if d.pg {
		// Workers starting together take turns: one applies, the others see it applied.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(726110)`); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, d.rebind(`SELECT count(*) FROM schema_migrations WHERE name = ?`), name).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	if err := migration(ctx, dialectTx{tx, d}); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if foreignKeysOff[name] && !d.pg {
		var violations int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil || violations > 0 {
			return fmt.Errorf("migration %s: foreign keys broken (%d violations): %v", name, violations, err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`), name, now()); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	return nil
}

// demoDataOnSQLite seeds the demo's rows into the demo database, the SQLite file a laptop
// runs on. A PostgreSQL app database is the operator's: Flowgate makes its tables and
// never writes made-up people, products and orders into it (SeedDemoData does, on
// request).
func demoDataOnSQLite(ctx context.Context, tx dialectTx) error {
	if tx.d.pg {
		return nil
	}
	return seedDemoData(ctx, tx)
}

// SeedDemoData writes the demo's rows (users, products, orders), as the demo database has
// them, into this database's empty tables: for a PostgreSQL database that plays the demo.
func (d *Database) SeedDemoData(ctx context.Context) error {
	tx, err := d.rw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after Commit, a no-op
	if err := seedDemoData(ctx, dialectTx{tx, d}); err != nil {
		return err
	}
	return tx.Commit()
}

// seedDemoData fills users, products and orders with a small, fixed, realistic data set,
// the same on every machine.
func seedDemoData(ctx context.Context, tx dialectTx) error {
	first := []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Guido", "Radia",
		"Edsger", "Katherine", "Donald", "Shafi", "Leslie", "Hedy", "Alan", "Sophie", "Niklaus", "Jean"}
	last := []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "van Rossum",
		"Perlman", "Dijkstra", "Johnson", "Knuth", "Goldwasser", "Lamport", "Lamarr", "Turing", "Wilson", "Wirth", "Sammet"}
	roles := []string{"viewer", "editor", "admin", "viewer", "editor"}
	teams := []string{"platform", "payments", "growth", "support", "data"}
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for i := range first {
		email := fmt.Sprintf("%s.%s@example.com", lower(first[i]), lower(last[i]))
		_, err := tx.ExecContext(ctx,
			`INSERT INTO users (email, name, role, team, status, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			email, first[i]+" "+last[i], roles[i%len(roles)], teams[i%len(teams)],
			map[bool]string{true: "inactive", false: "active"}[i%9 == 8], base.AddDate(0, 0, i*7).Format(time.RFC3339))
		if err != nil {
			return fmt.Errorf("seed user %s: %w", email, err)
		}
	}
	products := []struct {
		sku, name, category string
		price, stock        int
	}{
		{"KB-100", "Mechanical keyboard", "peripherals", 12900, 42},
		{"MS-200", "Wireless mouse", "peripherals", 4900, 120},
		{"MN-270", "27-inch monitor", "displays", 32900, 18},
		{"MN-340", "34-inch ultrawide monitor", "displays", 54900, 7},
		{"HD-010", "Noise-cancelling headset", "audio", 19900, 35},
		{"DK-500", "USB-C docking station", "peripherals", 21900, 26},
		{"CH-900", "Ergonomic office chair", "furniture", 48900, 9},
		{"DS-120", "Standing desk", "furniture", 69900, 5},
		{"CM-080", "4K webcam", "video", 15900, 51},
		{"LP-140", "14-inch laptop", "computers", 149900, 12},
		{"LP-160", "16-inch laptop", "computers", 219900, 6},
		{"CB-030", "Thunderbolt cable", "cables", 3900, 300},
	}
	for i, p := range products {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO products (sku, name, category, price_cents, stock, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.sku, p.name, p.category, p.price, p.stock, base.AddDate(0, 0, i).Format(time.RFC3339))
		if err != nil {
			return fmt.Errorf("seed product %s: %w", p.sku, err)
		}
	}
	statuses := []string{"delivered", "shipped", "processing", "delivered", "cancelled", "delivered"}
	cities := []string{"Berlin", "Lisbon", "Toronto", "Osaka", "Nairobi", "Austin", "Melbourne"}
	for i := 0; i < 40; i++ {
		user, product, qty := i%len(first)+1, (i*7)%len(products)+1, i%3+1
		note := ""
		if i%11 == 0 {
			note = "gift wrap requested"
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO orders (reference, user_id, product_id, quantity, total_cents, status, shipping_city, note, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			fmt.Sprintf("ORD-%05d", 1001+i), user, product, qty, products[product-1].price*qty,
			statuses[i%len(statuses)], cities[i%len(cities)], note, base.AddDate(0, 1, i*3).Format(time.RFC3339))
		if err != nil {
			return fmt.Errorf("seed order %d: %w", i, err)
		}
	}
	return nil
}

func lower(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }
