package activities

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// StatementInput is the input of RunStatement: a statement a process definition declares,
// never SQL an agent wrote.
type StatementInput struct {
	// Name is the statement's name in its definition, for errors and the record.
	Name string `json:"name"`
	// Mode is "read" (a read-only transaction, as execute_query) or "write".
	Mode string `json:"mode"`
	// Query uses ":name" placeholders; Args gives each its value.
	Query string         `json:"query"`
	Args  map[string]any `json:"args,omitempty"`
	// Key makes a write happen once: a retry with the same key (the run and the step)
	// changes nothing and answers as the first run did.
	Key string `json:"key,omitempty"`
}

// StatementResult is the output of RunStatement.
type StatementResult struct {
	Rows []map[string]any `json:"rows,omitempty"`
	// Row is the first row of a read, so later steps can name its columns
	// ({{steps.STEP.output.row.COLUMN}}).
	Row          map[string]any `json:"row,omitempty"`
	RowsReturned int            `json:"rows_returned"`
	RowsAffected int64          `json:"rows_affected"`
	// Replayed is true when a write's key had been applied before: nothing ran again.
	Replayed bool `json:"replayed,omitempty"`
}

// namedPlaceholder is a ":name" placeholder; "::" (a PostgreSQL cast) is not one.
var namedPlaceholder = regexp.MustCompile(`(^|[^:]):([a-z_][a-z0-9_]*)`)

// Placeholders lists the ":name" placeholders of a statement, in order, repeats included.
func Placeholders(query string) []string {
	var out []string
	for _, m := range namedPlaceholder.FindAllStringSubmatch(query, -1) {
		out = append(out, m[2])
	}
	return out
}

// bindNamed turns ":name" placeholders into "?" and returns the arguments in order.
func bindNamed(query string, args map[string]any) (string, []any, error) {
	var values []any
	var missing []string
	bound := namedPlaceholder.ReplaceAllStringFunc(query, func(m string) string {
		sub := namedPlaceholder.FindStringSubmatch(m)
		v, ok := args[sub[2]]
		if !ok {
			missing = append(missing, sub[2])
		}
		values = append(values, v)
		return sub[1] + "?"
	})
	if len(missing) > 0 {
		return "", nil, invalidInput("args", "has no value for :%s", strings.Join(missing, ", :"))
	}
	return bound, values, nil
}

// RunStatement runs a declared statement with bound arguments. A read statement runs in a
// read-only transaction after the same guard as execute_query; a write runs in a
// transaction that also records its key, so it is applied once however often it is retried.
func (d *Database) RunStatement(ctx context.Context, in StatementInput) (StatementResult, error) {
	bound, args, err := bindNamed(in.Query, in.Args)
	if err != nil {
		return StatementResult{}, err
	}
	switch in.Mode {
	case "read":
		if err := CheckReadOnlySQL(namedPlaceholder.ReplaceAllString(in.Query, "${1}NULL")); err != nil {
			return StatementResult{}, err
		}
		res, err := d.query(ctx, MaxQueryLimit, bound, args...)
		if err != nil {
			return StatementResult{}, err
		}
		out := StatementResult{Rows: res.Rows, RowsReturned: res.RowsReturned}
		if len(res.Rows) > 0 {
			out.Row = res.Rows[0]
		}
		return out, nil
	case "write":
		if strings.TrimSpace(in.Key) == "" {
			return StatementResult{}, invalidInput("key", "is empty; a write statement needs the key that makes it run once")
		}
		return d.writeOnce(ctx, in.Key, bound, args)
	}
	return StatementResult{}, invalidInput("mode", "is %q; allowed are read and write", in.Mode)
}

func (d *Database) writeOnce(ctx context.Context, key, stmt string, args []any) (StatementResult, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	if res, done, err := d.applied(ctx, key); done || err != nil {
		return res, err
	}
	tx, err := d.rw.BeginTx(ctx, nil)
	if err != nil {
		return StatementResult{}, fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	res, err := tx.ExecContext(ctx, d.rebind(stmt), args...)
	if err != nil {
		return StatementResult{}, writeError(ctx, err)
	}
	affected, _ := res.RowsAffected()
	// The key is recorded in the same transaction: the write and its key commit together.
	// When a concurrent retry recorded it first, this transaction is rolled back and the
	// first one's answer returned.
	_, err = tx.ExecContext(ctx, d.rebind(`INSERT INTO statement_runs (key, rows_affected, applied_at) VALUES (?, ?, ?)`),
		key, affected, time.Now().UTC().Format(time.RFC3339))
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		tx.Rollback()
		if res, done, aerr := d.applied(ctx, key); done {
			return res, aerr
		}
		return StatementResult{}, sqlError(ctx, err)
	}
	return StatementResult{RowsAffected: affected}, nil
}

// applied returns the answer of a write whose key was recorded before.
func (d *Database) applied(ctx context.Context, key string) (StatementResult, bool, error) {
	var affected int64
	err := d.queryRow(ctx, `SELECT rows_affected FROM statement_runs WHERE key = ?`, key).Scan(&affected)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return StatementResult{}, false, nil
	case err != nil:
		return StatementResult{}, false, sqlError(ctx, err)
	}
	return StatementResult{RowsAffected: affected, Replayed: true}, true, nil
}

// writeError explains a write the database refused: a constraint it breaks is a conflict
// no retry fixes.
func writeError(ctx context.Context, err error) error {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "constraint") || strings.Contains(msg, "violates") {
		return conflict("the statement breaks a constraint of the database: %v", err)
	}
	return sqlError(ctx, err)
}
