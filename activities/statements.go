package activities

import (
	"context"
	"database/sql"
	"encoding/json"
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

// NowPlaceholder is the placeholder a statement may use, with no argument, for the time
// it runs.
const NowPlaceholder = "now"

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
// A ":now" placeholder without an argument is the current time (UTC, RFC 3339).
func bindNamed(query string, args map[string]any) (string, []any, error) {
	var values []any
	var missing []string
	now := time.Now().UTC().Format(time.RFC3339)
	bound := namedPlaceholder.ReplaceAllStringFunc(query, func(m string) string {
		sub := namedPlaceholder.FindStringSubmatch(m)
		v, ok := args[sub[2]]
		if !ok && sub[2] == NowPlaceholder {
			v, ok = now, true
		}
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
	defer keepAlive(ctx)()
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

// returning finds a RETURNING clause: the statement's rows are its answer.
var returning = regexp.MustCompile(`(?i)\breturning\b`)

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
	var out StatementResult
	if returning.MatchString(stmt) {
		rows, err := tx.QueryContext(ctx, d.rebind(stmt), args...)
		if err != nil {
			return StatementResult{}, writeError(ctx, err)
		}
		res, err := scanRows(ctx, rows, MaxQueryLimit)
		rows.Close()
		if err != nil {
			return StatementResult{}, writeError(ctx, err)
		}
		out = StatementResult{Rows: res.Rows, RowsReturned: len(res.Rows), RowsAffected: int64(len(res.Rows))}
		if len(res.Rows) > 0 {
			out.Row = res.Rows[0]
		}
	} else {
		res, err := tx.ExecContext(ctx, d.rebind(stmt), args...)
		if err != nil {
			return StatementResult{}, writeError(ctx, err)
		}
		out.RowsAffected, _ = res.RowsAffected()
	}
	// The key and the answer are recorded in the same transaction: the write and its key
	// commit together, and a retry answers as the first run did. When a concurrent retry
	// recorded the key first, this transaction is rolled back and the first one's answer
	// returned.
	var rows []byte
	if out.Rows != nil {
		if rows, err = json.Marshal(out.Rows); err != nil {
			return StatementResult{}, err
		}
	}
	_, err = tx.ExecContext(ctx, d.rebind(`INSERT INTO statement_runs (key, rows_affected, applied_at, result_rows) VALUES (?, ?, ?, ?)`),
		key, out.RowsAffected, time.Now().UTC().Format(time.RFC3339), string(rows))
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
	return out, nil
}

// applied returns the answer of a write whose key was recorded before.
func (d *Database) applied(ctx context.Context, key string) (StatementResult, bool, error) {
	var affected int64
	var rows string
	err := d.queryRow(ctx, `SELECT rows_affected, result_rows FROM statement_runs WHERE key = ?`, key).Scan(&affected, &rows)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return StatementResult{}, false, nil
	case err != nil:
		return StatementResult{}, false, sqlError(ctx, err)
	}
	res := StatementResult{RowsAffected: affected, Replayed: true}
	if rows != "" {
		if err := json.Unmarshal([]byte(rows), &res.Rows); err != nil {
			return StatementResult{}, false, fmt.Errorf("statement %s: its recorded answer cannot be read: %w", key, err)
		}
		res.RowsReturned = len(res.Rows)
		if len(res.Rows) > 0 {
			res.Row = res.Rows[0]
		}
	}
	return res, true, nil
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
