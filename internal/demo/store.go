package demo

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Kinds of entity the store keeps, one row each.
const (
	kindAccount  = "account"  // key: email
	kindDeployed = "deployed" // key: service/environment; value: version
	kindLedger   = "ledger"   // key: idempotency key
	kindMessage  = "message"  // key: zero-padded sequence
	kindOrder    = "order"    // key: zero-padded sequence
	kindMeta     = "meta"     // key: next_account
	kindRefund   = "refund"   // key: zero-padded sequence
)

// store keeps the backends' state in a SQLite file, one row per entity, written in the
// same transaction as the answer it backs. A restart of the backends, even after kill -9,
// changes nothing a workflow sees: accounts, deployed versions and the idempotency ledger
// are as they were.
type store struct{ db *sql.DB }

// row is one entity to save.
type row struct {
	kind, key string
	value     any
}

// ledgerRow is a LedgerEntry as stored, with the first answer it replays.
type ledgerRow struct {
	LedgerEntry
	Status int    `json:"status"`
	Body   []byte `json:"body"`
}

func openStore(path string) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("demo backends state %s: create folder: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(wal)")
	// WAL with synchronous=NORMAL survives a killed process; only power loss can cost the
	// last transactions, as with the embedded Temporal server's default.
	q.Add("_pragma", "synchronous(normal)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("demo backends state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS entities (
		kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key))`); err != nil {
		db.Close()
		return nil, fmt.Errorf("demo backends state %s: %w", path, err)
	}
	return &store{db: db}, nil
}

// save writes rows in one transaction.
func (s *store) save(rows []row) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, r := range rows {
		raw, err := json.Marshal(r.value)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO entities (kind, key, value) VALUES (?, ?, ?)
			ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value`, r.kind, r.key, string(raw)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// load replaces b's state with the stored one. The caller holds b.mu.
func (s *store) load(b *Backends) error {
	b.ledger = map[string]*LedgerEntry{}
	b.accounts = map[string]map[string]string{}
	b.deployed = map[string]string{}
	b.messages, b.orders, b.refunds, b.nextAccount = nil, nil, nil, 0
	rows, err := s.db.Query(`SELECT kind, key, value FROM entities ORDER BY kind, key`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, key, value string
		if err := rows.Scan(&kind, &key, &value); err != nil {
			return err
		}
		if err := b.restore(kind, key, []byte(value)); err != nil {
			return fmt.Errorf("%s %s: %w", kind, key, err)
		}
	}
	return rows.Err()
}

// restore puts one stored row back into b's maps.
func (b *Backends) restore(kind, key string, value []byte) error {
	switch kind {
	case kindAccount:
		var a map[string]string
		if err := json.Unmarshal(value, &a); err != nil {
			return err
		}
		b.accounts[key] = a
	case kindDeployed:
		var v string
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		b.deployed[key] = v
	case kindLedger:
		var r ledgerRow
		if err := json.Unmarshal(value, &r); err != nil {
			return err
		}
		e := r.LedgerEntry
		e.status, e.body = r.Status, r.Body
		b.ledger[key] = &e
	case kindMessage:
		var m map[string]string
		if err := json.Unmarshal(value, &m); err != nil {
			return err
		}
		b.messages = append(b.messages, m)
	case kindOrder:
		var o map[string]any
		if err := json.Unmarshal(value, &o); err != nil {
			return err
		}
		b.orders = append(b.orders, o)
	case kindRefund:
		var r map[string]any
		if err := json.Unmarshal(value, &r); err != nil {
			return err
		}
		b.refunds = append(b.refunds, r)
	case kindMeta:
		if key == "next_account" {
			return json.Unmarshal(value, &b.nextAccount)
		}
	}
	return nil
}

// seq is a sequence number as a key that sorts in order.
func seq(n int) string { return fmt.Sprintf("%012s", strconv.Itoa(n)) }
