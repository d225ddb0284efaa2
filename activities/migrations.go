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
	apply func(ctx context.Context, tx *sql.Tx) error
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
	{"0002_demo_data", seedDemoData},
}

func execAll(stmts ...string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, m.name).Scan(&n); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if n > 0 {
			tx.Rollback()
			continue
		}
		if err := m.apply(ctx, tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, m.name, now()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// seedDemoData fills users, products and orders with a small, fixed, realistic data set,
// the same on every machine.
func seedDemoData(ctx context.Context, tx *sql.Tx) error {
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
