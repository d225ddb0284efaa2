package activities

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
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for PostgreSQL
	"go.temporal.io/sdk/temporal"
	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Tables that the read tools may name. Table names never come from input: input picks one
// of these constants.
var (
	searchableTables = map[string][]string{
		"users":    {"email", "name", "role", "team", "status"},
		"products": {"sku", "name", "category"},
		"orders":   {"status", "shipping_city", "note"},
	}
	recordTables = []string{"users", "products", "orders", "deployments", "audits"}
)

// Table is a table of the application database and its columns, in schema order.
type Table struct {
	Name    string
	Columns []string
}

// Schema lists every table of the application database that agents may read, with its
// columns, as the migrations create them (a test compares it with the migrated schema),
// so tool descriptions never drift from the database.
var Schema = []Table{
	{"users", []string{"id", "email", "name", "role", "team", "status", "created_at", "request_id", "deactivated_reason"}},
	{"products", []string{"id", "sku", "name", "category", "price_cents", "stock", "created_at"}},
	{"orders", []string{"id", "reference", "user_id", "product_id", "quantity", "total_cents", "status", "shipping_city", "note", "created_at"}},
	{"deployments", []string{"id", "request_id", "service", "version", "environment", "previous_version", "status", "requested_by", "approved_by", "created_at", "change_ticket"}},
	{"audits", []string{"id", "request_id", "tables", "findings", "report_path", "requested_by", "signed_off_by", "created_at"}},
}

// DescribeSchema renders Schema as "users(id, email, …), products(…)".
func DescribeSchema() string {
	parts := make([]string, len(Schema))
	for i, t := range Schema {
		parts[i] = t.Name + "(" + strings.Join(t.Columns, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

// SearchableTables lists the tables search_table accepts, in a stable order.
func SearchableTables() []string { return []string{"users", "products", "orders"} }

// RecordTables lists the tables get_record accepts, in a stable order.
func RecordTables() []string { return append([]string(nil), recordTables...) }

// Bounds of the database activities' inputs.
const (
	MaxQueryLength     = 500
	DefaultQueryLimit  = 20
	MaxQueryLimit      = 1000
	MinSearchTermLen   = 3
	MaxSearchTermLen   = 200
	DefaultSearchLimit = 50
	MaxSearchLimit     = 100
	queryTimeout       = 5 * time.Second
	// maxSQLiteValueBytes is SQLite's length limit (SQLITE_LIMIT_LENGTH) on the read-only
	// connections: no string, blob or row a query reads or builds may be longer, so a
	// value-amplifying expression the guard lets through (replace(replace(…)), s||s in a
	// recursive CTE) fails at once with "string or blob too big" instead of allocating
	// gigabytes in one call that the query timeout cannot interrupt.
	maxSQLiteValueBytes = 10 << 20
)

// Database runs Flowgate's SQL activities against the application database: a SQLite
// file, or PostgreSQL when given a postgres:// DSN, created, migrated and seeded with demo
// data on first open. Reads from agents go through a separate read-only connection pool
// in read-only transactions, so read-only is enforced by the database itself.
type Database struct {
	rw *sql.DB
	ro *sql.DB
	pg bool
}

// Dialect is "postgres" or "sqlite".
func (d *Database) Dialect() string {
	if d.pg {
		return "postgres"
	}
	return "sqlite"
}

// IsPostgresDSN reports whether target names a PostgreSQL database rather than a file.
func IsPostgresDSN(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// OpenDatabase opens (creating, migrating and seeding when needed) the application
// database: a SQLite file path, or a postgres:// DSN.
func OpenDatabase(ctx context.Context, target string) (*Database, error) {
	if IsPostgresDSN(target) {
		return openPostgres(ctx, target)
	}
	path := target
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("app database %s: create folder: %w", path, err)
	}
	rw, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("app database %s: %w", path, err)
	}
	rw.SetMaxOpenConns(1) // SQLite has one writer; one connection avoids lock errors.
	if err := openWhileBusy(ctx, rw); err != nil {
		rw.Close()
		return nil, fmt.Errorf("app database %s: %w", path, err)
	}
	d := &Database{rw: rw}
	if err := d.migrate(ctx); err != nil {
		rw.Close()
		return nil, fmt.Errorf("app database %s: %w", path, err)
	}
	d.ro, err = sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		rw.Close()
		return nil, fmt.Errorf("app database %s: %w", path, err)
	}
	d.ro.SetMaxOpenConns(4)
	return d, nil
}

func openPostgres(ctx context.Context, dsn string) (*Database, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("app database DSN is not a URL: %w", errors.Unwrap(err))
	}
	where := u.Host + u.Path // never the password
	rw, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("app database %s: %w", where, err)
	}
	rw.SetMaxOpenConns(8)
	d := &Database{rw: rw, pg: true}
	if err := rw.PingContext(ctx); err != nil {
		rw.Close()
		return nil, fmt.Errorf("app database %s: %w", where, err)
	}
	if err := d.migrate(ctx); err != nil {
		rw.Close()
		return nil, fmt.Errorf("app database %s: %w", where, err)
	}
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	u.RawQuery = q.Encode()
	d.ro, err = sql.Open("pgx", u.String())
	if err != nil {
		rw.Close()
		return nil, fmt.Errorf("app database %s: %w", where, err)
	}
	d.ro.SetMaxOpenConns(4)
	return d, nil
}

// rebind turns the ? and ?N placeholders Flowgate's statements use into PostgreSQL's $N.
func (d *Database) rebind(q string) string {
	if !d.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		if j > i+1 {
			b.WriteString("$" + q[i+1:j])
		} else {
			n++
			fmt.Fprintf(&b, "$%d", n)
		}
		i = j - 1
	}
	return b.String()
}

func (d *Database) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.rw.ExecContext(ctx, d.rebind(q), args...)
}

func (d *Database) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.rw.QueryRowContext(ctx, d.rebind(q), args...)
}

// Close releases both connection pools.
func (d *Database) Close() error {
	var roErr error
	if d.ro != nil {
		roErr = d.ro.Close()
	}
	return errors.Join(roErr, d.rw.Close())
}

// QueryInput is the input of ExecuteQuery.
type QueryInput struct {
	Query string `json:"query"`
	Limit int    `json:"limit,omitempty"`
}

// QueryResult is the output of ExecuteQuery and SearchTable.
type QueryResult struct {
	Columns      []string         `json:"columns"`
	Rows         []map[string]any `json:"rows"`
	RowsReturned int              `json:"rows_returned"`
	Truncated    bool             `json:"truncated"`
	ExecutedAt   time.Time        `json:"executed_at"`
}

// ValidateQuery checks a read-only query's input without touching the database.
func (in *QueryInput) Validate() error {
	q := strings.TrimSpace(in.Query)
	if q == "" {
		return invalidInput("query", "is empty; give one SELECT statement of 1 to %d characters", MaxQueryLength)
	}
	if n := len([]rune(in.Query)); n > MaxQueryLength {
		return invalidInput("query", "is %d characters long; at most %d are allowed", n, MaxQueryLength)
	}
	if in.Limit == 0 {
		in.Limit = DefaultQueryLimit
	}
	if in.Limit < 1 || in.Limit > MaxQueryLimit {
		return invalidInput("limit", "is %d; allowed is 1 to %d (default %d)", in.Limit, MaxQueryLimit, DefaultQueryLimit)
	}
	return CheckReadOnlySQL(q)
}

// ExecuteQuery runs one read-only SQL statement and returns up to Limit rows.
func (d *Database) ExecuteQuery(ctx context.Context, in QueryInput) (QueryResult, error) {
	defer keepAlive(ctx)()
	if err := in.Validate(); err != nil {
		return QueryResult{}, err
	}
	return d.query(ctx, in.Limit, strings.TrimSpace(in.Query))
}

// SearchInput is the input of SearchTable.
type SearchInput struct {
	Table      string `json:"table"`
	SearchTerm string `json:"search_term"`
	Limit      int    `json:"limit,omitempty"`
}

// Validate checks the table against the allowlist and the term's and limit's bounds.
func (in *SearchInput) Validate() error {
	if _, ok := searchableTables[in.Table]; !ok {
		return invalidInput("table", "%q is not searchable; allowed are %s", in.Table, strings.Join(SearchableTables(), ", "))
	}
	term := strings.TrimSpace(in.SearchTerm)
	if i := strings.IndexFunc(term, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return invalidInput("search_term", "has a control character at offset %d; give printable text", i)
	}
	if n := len([]rune(term)); n < MinSearchTermLen || n > MaxSearchTermLen {
		return invalidInput("search_term", "is %d characters long; allowed is %d to %d", n, MinSearchTermLen, MaxSearchTermLen)
	}
	if in.Limit == 0 {
		in.Limit = DefaultSearchLimit
	}
	if in.Limit < 1 || in.Limit > MaxSearchLimit {
		return invalidInput("limit", "is %d; allowed is 1 to %d (default %d)", in.Limit, MaxSearchLimit, DefaultSearchLimit)
	}
	return nil
}

// SearchTable finds rows of an allowlisted table whose text columns contain the term,
// case-insensitively. The term is a bound parameter; LIKE wildcards in it match literally.
func (d *Database) SearchTable(ctx context.Context, in SearchInput) (QueryResult, error) {
	defer keepAlive(ctx)()
	if err := in.Validate(); err != nil {
		return QueryResult{}, err
	}
	cols := searchableTables[in.Table]
	conds := make([]string, len(cols))
	for i, c := range cols {
		conds[i] = "lower(coalesce(" + c + ", '')) LIKE ?1 ESCAPE '\\'"
	}
	stmt := "SELECT * FROM " + in.Table + " WHERE " + strings.Join(conds, " OR ") + " ORDER BY id"
	pattern := "%" + likeEscaper.Replace(strings.ToLower(strings.TrimSpace(in.SearchTerm))) + "%"
	return d.query(ctx, in.Limit, stmt, pattern)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// RecordInput is the input of GetRecord.
type RecordInput struct {
	Table string `json:"table"`
	ID    int64  `json:"id"`
}

// Validate checks the table against the allowlist and the id's range.
func (in RecordInput) Validate() error {
	ok := false
	for _, t := range recordTables {
		ok = ok || t == in.Table
	}
	if !ok {
		return invalidInput("table", "%q is unknown; allowed are %s", in.Table, strings.Join(recordTables, ", "))
	}
	if in.ID < 1 {
		return invalidInput("id", "is %d; record ids are positive integers", in.ID)
	}
	return nil
}

// Record is the output of GetRecord.
type Record struct {
	Table  string         `json:"table"`
	ID     int64          `json:"id"`
	Fields map[string]any `json:"fields"`
}

// GetRecord returns one row by id, or a NotFound error naming table and id.
func (d *Database) GetRecord(ctx context.Context, in RecordInput) (Record, error) {
	defer keepAlive(ctx)()
	if err := in.Validate(); err != nil {
		return Record{}, err
	}
	res, err := d.query(ctx, 1, "SELECT * FROM "+in.Table+" WHERE id = ?", in.ID)
	if err != nil {
		return Record{}, err
	}
	if len(res.Rows) == 0 {
		return Record{}, notFound("no record with id %d in table %s", in.ID, in.Table)
	}
	return Record{Table: in.Table, ID: in.ID, Fields: res.Rows[0]}, nil
}

// RecordIDsInput asks for the ids of a table's records that begin with Prefix (digits),
// for completing db://{table}/{record_id}.
type RecordIDsInput struct {
	Table  string `json:"table"`
	Prefix string `json:"prefix,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// RecordIDs is the output of RecordIDs: the ids in order, and whether there are more.
type RecordIDs struct {
	IDs  []int64 `json:"ids"`
	More bool    `json:"more"`
}

// MaxRecordIDs is the most ids one RecordIDs call returns.
const MaxRecordIDs = 100

// RecordIDs lists the ids of an allowlisted table that begin with the prefix, read-only.
func (d *Database) RecordIDs(ctx context.Context, in RecordIDsInput) (RecordIDs, error) {
	defer keepAlive(ctx)()
	if !slices.Contains(recordTables, in.Table) {
		return RecordIDs{}, invalidInput("table", "%q is unknown; allowed are %s", in.Table, strings.Join(recordTables, ", "))
	}
	if len(in.Prefix) > 19 || strings.Trim(in.Prefix, "0123456789") != "" {
		return RecordIDs{}, invalidInput("prefix", "%q is not the start of a record id; allowed: up to 19 digits", in.Prefix)
	}
	limit := in.Limit
	if limit <= 0 || limit > MaxRecordIDs {
		limit = MaxRecordIDs
	}
	res, err := d.query(ctx, limit+1, "SELECT id FROM "+in.Table+" WHERE CAST(id AS TEXT) LIKE ? ORDER BY id", in.Prefix+"%")
	if err != nil {
		return RecordIDs{}, err
	}
	out := RecordIDs{IDs: []int64{}}
	for i, row := range res.Rows {
		if i == limit {
			out.More = true
			break
		}
		switch v := row["id"].(type) {
		case int64:
			out.IDs = append(out.IDs, v)
		case float64:
			out.IDs = append(out.IDs, int64(v))
		}
	}
	return out, nil
}

// query runs a statement on the read-only pool inside a read-only transaction, within
// queryTimeout and, on SQLite, maxSQLiteValueBytes per value.
func (d *Database) query(ctx context.Context, limit int, stmt string, args ...any) (QueryResult, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	tx, done, err := d.readOnly(ctx, queryTimeout)
	if err != nil {
		return QueryResult{}, err
	}
	defer done()
	rows, err := tx.QueryContext(ctx, d.rebind(stmt), args...)
	if err != nil {
		return QueryResult{}, sqlError(ctx, err)
	}
	defer rows.Close()
	res, err := scanRows(ctx, rows, limit)
	if err != nil {
		return QueryResult{}, err
	}
	res.RowsReturned = len(res.Rows)
	res.ExecutedAt = time.Now().UTC()
	return res, nil
}

// readOnly begins a read-only transaction on a connection of the read-only pool, its
// statements bounded by timeout on PostgreSQL (ctx bounds them on SQLite); done ends the
// transaction and returns the connection.
func (d *Database) readOnly(ctx context.Context, timeout time.Duration) (*sql.Tx, func(), error) {
	conn, err := d.ro.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read-only connection: %w", err)
	}
	if !d.pg {
		// Limits belong to a connection; setting it on every use costs one call and
		// covers connections the pool opens later.
		if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, maxSQLiteValueBytes); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("limit value length: %w", err)
		}
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("begin read-only transaction: %w", err)
	}
	done := func() {
		tx.Rollback()
		conn.Close()
	}
	if d.pg {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
			done()
			return nil, nil, fmt.Errorf("set statement timeout: %w", err)
		}
	}
	return tx, done, nil
}

// scanRows reads up to limit rows as maps from column to value (text as strings), within
// MaxResultBytes of JSON: every row's encoded size is added as it is read, and a result
// that would outgrow the budget is refused at the row that crosses it, before Temporal
// would refuse it after retries.
func scanRows(ctx context.Context, rows *sql.Rows, limit int) (QueryResult, error) {
	cols, err := rows.Columns()
	if err != nil {
		return QueryResult{}, sqlError(ctx, err)
	}
	res := QueryResult{Columns: cols, Rows: []map[string]any{}}
	// The result's fields around the rows, its column names, and each row's keys.
	size := queryResultOverhead
	keys := make([]int, len(cols))
	for i, c := range cols {
		keys[i] = jsonStringLen(c) + 1 // "name":
		size += keys[i]
	}
	for rows.Next() {
		if len(res.Rows) == limit {
			res.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return QueryResult{}, sqlError(ctx, err)
		}
		row := make(map[string]any, len(cols))
		size += 2 + len(cols) // {}, the commas between fields and the one after the row
		for i, c := range cols {
			if v, ok := vals[i].([]byte); ok {
				vals[i] = string(v)
			}
			size += keys[i] + jsonValueLen(vals[i])
			row[c] = vals[i]
		}
		if size > MaxResultBytes {
			return QueryResult{}, resultTooLarge(size, len(res.Rows)+1, limit)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return QueryResult{}, sqlError(ctx, err)
	}
	return res, nil
}

// queryResultOverhead bounds the JSON of a QueryResult around its columns and rows:
// {"columns":[],"rows":[],"rows_returned":…,"truncated":false,"executed_at":"…"}.
const queryResultOverhead = 128

// resultTooLarge refuses a query result of more than MaxResultBytes of JSON.
func resultTooLarge(size, row, limit int) error {
	return invalidInput("query", "its result reaches %s of JSON at row %d (of up to %d asked for); "+
		"a result may hold at most %s, below Temporal's 2 MB limit on one activity result. "+
		"Select fewer or shorter columns (substr(column, 1, 200)), narrow the WHERE clause or lower limit, and page with WHERE id > last id",
		sizeText(int64(size)), row, limit, sizeText(MaxResultBytes))
}

// sqlError turns a driver error into one an agent can act on. Errors of the statement
// itself (syntax, unknown column, a write refused by the read-only connection) are not
// retryable; a timeout is.
func sqlError(ctx context.Context, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return err // already explained, e.g. a result over MaxResultBytes
	}
	if ctx.Err() != nil || strings.Contains(err.Error(), "statement timeout") {
		// Not retried: the same query would run out of time again.
		return invalidInput("query", "did not finish within %s; narrow it down (a WHERE clause, a LIMIT, no unbounded recursion)", queryTimeout)
	}
	msg := err.Error()
	if strings.Contains(msg, "readonly") || strings.Contains(msg, "read-only") || strings.Contains(msg, "query_only") {
		return invalidInput("query", "tries to change data; this tool is read-only: use SELECT")
	}
	if strings.Contains(msg, "out of memory") || strings.Contains(msg, "too big") {
		return invalidInput("query", "needs more memory than a query may use; select less data")
	}
	if strings.Contains(msg, "locked") || strings.Contains(msg, "busy") {
		return fmt.Errorf("database busy: %w", err)
	}
	return invalidInput("query", "was refused by the database: %s", msg)
}

// CheckEmailInput is the input of CheckEmailAvailable.
type CheckEmailInput struct {
	Email     string `json:"email"`
	RequestID string `json:"request_id"`
}

// CheckEmailAvailable fails with a Conflict error when an active user other than the one
// created by RequestID already has the email.
func (d *Database) CheckEmailAvailable(ctx context.Context, in CheckEmailInput) error {
	defer keepAlive(ctx)()
	var id int64
	err := d.queryRow(ctx,
		`SELECT id FROM users WHERE lower(email) = lower(?) AND status = 'active' AND coalesce(request_id, '') <> ?`,
		in.Email, in.RequestID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check email %s: %w", in.Email, err)
	}
	return conflict("email %s already belongs to active user %d", in.Email, id)
}

// CreateUserInput is the input of CreateUser. RequestID makes the insert idempotent.
type CreateUserInput struct {
	RequestID string `json:"request_id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Team      string `json:"team,omitempty"`
	// Pending creates the record 'pending' (until ActivateUser) instead of 'active'.
	Pending bool `json:"pending,omitempty"`
}

// UserRecord is the output of CreateUser.
type UserRecord struct {
	ID     int64  `json:"id"`
	Email  string `json:"email"`
	Status string `json:"status"`
}

// CreateUser inserts a user, active or pending, once per RequestID; a retry returns the
// same row.
func (d *Database) CreateUser(ctx context.Context, in CreateUserInput) (UserRecord, error) {
	defer keepAlive(ctx)()
	if in.RequestID == "" {
		return UserRecord{}, invalidInput("request_id", "is empty; it makes the insert idempotent")
	}
	status := "active"
	if in.Pending {
		status = "pending"
	}
	_, err := d.exec(ctx,
		`INSERT INTO users (email, name, role, team, status, created_at, request_id)
		 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
		in.Email, in.Name, in.Role, in.Team, status, now(), in.RequestID)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "unique") {
			return UserRecord{}, conflict("email %s already belongs to an active user", in.Email)
		}
		return UserRecord{}, fmt.Errorf("create user %s: %w", in.Email, err)
	}
	var u UserRecord
	err = d.queryRow(ctx, `SELECT id, email, status FROM users WHERE request_id = ?`, in.RequestID).
		Scan(&u.ID, &u.Email, &u.Status)
	if err != nil {
		return UserRecord{}, fmt.Errorf("read created user %s: %w", in.Email, err)
	}
	return u, nil
}

// ActivateUserInput is the input of ActivateUser.
type ActivateUserInput struct {
	RequestID string `json:"request_id"`
}

// ActivateUser makes the pending user created by RequestID active, once its onboarding is
// approved. Activating an active user again is not an error, so a retry is safe; a user
// that is not pending or active (deactivated, or never created) is.
func (d *Database) ActivateUser(ctx context.Context, in ActivateUserInput) (UserRecord, error) {
	defer keepAlive(ctx)()
	if in.RequestID == "" {
		return UserRecord{}, invalidInput("request_id", "is empty; it names the user to activate")
	}
	_, err := d.exec(ctx, `UPDATE users SET status = 'active' WHERE request_id = ? AND status = 'pending'`, in.RequestID)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "unique") {
			return UserRecord{}, conflict("another active user has the email of the user created by %s", in.RequestID)
		}
		return UserRecord{}, fmt.Errorf("activate user of %s: %w", in.RequestID, err)
	}
	var u UserRecord
	err = d.queryRow(ctx, `SELECT id, email, status FROM users WHERE request_id = ?`, in.RequestID).Scan(&u.ID, &u.Email, &u.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return UserRecord{}, notFound("no user record was created by %s", in.RequestID)
	}
	if err != nil {
		return UserRecord{}, fmt.Errorf("read user of %s: %w", in.RequestID, err)
	}
	if u.Status != "active" {
		return UserRecord{}, conflict("the user record of %s is %s and cannot be activated", u.Email, u.Status)
	}
	return u, nil
}

// DeactivateUserInput is the input of DeactivateUser.
type DeactivateUserInput struct {
	RequestID string `json:"request_id"`
	Reason    string `json:"reason"`
}

// DeactivateUser marks the user created by RequestID inactive. Deactivating twice, or a
// user that was never created, is not an error: it is a compensation and must be safe to retry.
func (d *Database) DeactivateUser(ctx context.Context, in DeactivateUserInput) error {
	defer keepAlive(ctx)()
	_, err := d.exec(ctx,
		`UPDATE users SET status = 'inactive', deactivated_reason = ? WHERE request_id = ?`, in.Reason, in.RequestID)
	if err != nil {
		return fmt.Errorf("deactivate user of %s: %w", in.RequestID, err)
	}
	return nil
}

// DeploymentRecord is the input of RecordDeployment.
type DeploymentRecord struct {
	RequestID       string `json:"request_id"`
	Service         string `json:"service"`
	Version         string `json:"version"`
	Environment     string `json:"environment"`
	PreviousVersion string `json:"previous_version,omitempty"`
	Status          string `json:"status"`
	RequestedBy     string `json:"requested_by"`
	ApprovedBy      string `json:"approved_by,omitempty"`
}

// RecordedRow is the output of the write activities: the id of the row written.
type RecordedRow struct {
	ID int64 `json:"id"`
}

// RecordDeployment writes one deployments row per RequestID; a retry returns the same row.
func (d *Database) RecordDeployment(ctx context.Context, in DeploymentRecord) (RecordedRow, error) {
	defer keepAlive(ctx)()
	_, err := d.exec(ctx,
		`INSERT INTO deployments (request_id, service, version, environment, previous_version, status, requested_by, approved_by, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
		in.RequestID, in.Service, in.Version, in.Environment, in.PreviousVersion, in.Status, in.RequestedBy, in.ApprovedBy, now())
	if err != nil {
		return RecordedRow{}, fmt.Errorf("record deployment %s: %w", in.RequestID, err)
	}
	return d.rowID(ctx, "deployments", in.RequestID)
}

// AuditRecord is the input of RecordAudit.
type AuditRecord struct {
	RequestID   string `json:"request_id"`
	Tables      string `json:"tables"`
	Findings    int    `json:"findings"`
	ReportPath  string `json:"report_path"`
	RequestedBy string `json:"requested_by"`
	SignedOffBy string `json:"signed_off_by"`
}

// RecordAudit writes one audits row per RequestID; a retry returns the same row.
func (d *Database) RecordAudit(ctx context.Context, in AuditRecord) (RecordedRow, error) {
	defer keepAlive(ctx)()
	_, err := d.exec(ctx,
		`INSERT INTO audits (request_id, tables, findings, report_path, requested_by, signed_off_by, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
		in.RequestID, in.Tables, in.Findings, in.ReportPath, in.RequestedBy, in.SignedOffBy, now())
	if err != nil {
		return RecordedRow{}, fmt.Errorf("record audit %s: %w", in.RequestID, err)
	}
	return d.rowID(ctx, "audits", in.RequestID)
}

func (d *Database) rowID(ctx context.Context, table, requestID string) (RecordedRow, error) {
	var r RecordedRow
	if err := d.queryRow(ctx, "SELECT id FROM "+table+" WHERE request_id = ?", requestID).Scan(&r.ID); err != nil {
		return r, fmt.Errorf("read %s row of %s: %w", table, requestID, err)
	}
	return r, nil
}

// CollectInput is the input of CollectRecords.
type CollectInput struct {
	Tables []string `json:"tables"`
	// Since, when set, keeps records created at or after it (RFC 3339 date or time).
	Since string `json:"since,omitempty"`
}

// CollectedRecord identifies one record for an audit: its table, id and natural key
// (email, SKU or order reference), the value evidence files refer to.
type CollectedRecord struct {
	Table     string `json:"table"`
	ID        int64  `json:"id"`
	Key       string `json:"key"`
	CreatedAt string `json:"created_at"`
}

// CollectResult is the output of CollectRecords.
type CollectResult struct {
	Records []CollectedRecord `json:"records"`
}

var auditKeys = map[string]string{"users": "email", "products": "sku", "orders": "reference"}

// CollectRecords reads the natural keys of every record of the given tables, read-only.
func (d *Database) CollectRecords(ctx context.Context, in CollectInput) (CollectResult, error) {
	defer keepAlive(ctx)()
	res := CollectResult{Records: []CollectedRecord{}}
	for _, t := range in.Tables {
		key, ok := auditKeys[t]
		if !ok {
			return res, invalidInput("tables", "%q is not auditable; allowed are %s", t, strings.Join(SearchableTables(), ", "))
		}
		rows, err := d.query(ctx, 100000,
			"SELECT id, "+key+" AS key, created_at FROM "+t+" WHERE created_at >= ? ORDER BY id", in.Since)
		if err != nil {
			return res, err
		}
		for _, r := range rows.Rows {
			id, _ := r["id"].(int64)
			res.Records = append(res.Records, CollectedRecord{
				Table: t, ID: id, Key: fmt.Sprint(r["key"]), CreatedAt: fmt.Sprint(r["created_at"]),
			})
		}
	}
	return res, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// sqliteBusyTimeout is how long a SQLite connection waits for a lock another holds.
const sqliteBusyTimeout = 5 * time.Second

// openWhileBusy opens db's first connection. Switching a new file to WAL does not wait the
// busy timeout: while another process switches the same file (workers starting together
// on a new data folder), SQLite answers SQLITE_BUSY at once. It is asked again, for as
// long as the busy timeout would have waited.
func openWhileBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(wal)")
		q.Add("_pragma", "synchronous(normal)")
		// A writer's transactions take the write lock as they begin, waiting the busy
		// timeout for it: a deferred one that read first fails at once when another
		// process wrote meanwhile (workers starting together on one data folder).
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// collectTimeout bounds reading the records of an audit (CollectAuditRecords): a million
// rows of three columns take seconds; a query still running after this is refused.
const collectTimeout = 10 * time.Minute

// eachAuditRecord calls emit with every record of the tables created at or after since,
// table by table in id order, in one read-only transaction. The records are counted
// first: more than limit are refused with the figures before a row is read.
func (d *Database) eachAuditRecord(ctx context.Context, tables []string, since string, limit int, emit func(CollectedRecord) error) (int, error) {
	keys := make([]string, len(tables))
	for i, t := range tables {
		key, ok := auditKeys[t]
		if !ok {
			return 0, invalidInput("tables", "%q is not auditable; allowed are %s", t, strings.Join(SearchableTables(), ", "))
		}
		keys[i] = key
	}
	ctx, cancel := context.WithTimeout(ctx, collectTimeout)
	defer cancel()
	tx, done, err := d.readOnly(ctx, collectTimeout)
	if err != nil {
		return 0, err
	}
	defer done()
	total := 0
	counts := make([]string, len(tables))
	for i, t := range tables {
		var n int
		if err := tx.QueryRowContext(ctx, d.rebind("SELECT COUNT(*) FROM "+t+" WHERE created_at >= ?"), since).Scan(&n); err != nil {
			return 0, fmt.Errorf("count the records of %s: %w", t, err)
		}
		total += n
		counts[i] = fmt.Sprintf("%s %d", t, n)
	}
	tooMany := func(n int) error {
		created := ""
		if since != "" {
			created = fmt.Sprintf(" created since %s", since)
		}
		return invalidInput("tables", "%s hold %d records%s (%s); an audit reads at most %d. Audit fewer tables at a time, or give a later since",
			strings.Join(tables, ", "), n, created, strings.Join(counts, ", "), limit)
	}
	if total > limit {
		return 0, tooMany(total)
	}
	n := 0
	for i, t := range tables {
		rows, err := tx.QueryContext(ctx, d.rebind("SELECT id, "+keys[i]+", created_at FROM "+t+" WHERE created_at >= ? ORDER BY id"), since)
		if err != nil {
			return n, fmt.Errorf("read the records of %s: %w", t, err)
		}
		for rows.Next() {
			var id, key, created any
			if err := rows.Scan(&id, &key, &created); err != nil {
				rows.Close()
				return n, fmt.Errorf("read the records of %s: %w", t, err)
			}
			if n++; n > limit {
				rows.Close()
				return n, tooMany(n) // rows added since they were counted
			}
			// As CollectRecords renders them: text as strings, NULL as <nil>.
			rec := CollectedRecord{Table: t, Key: fmt.Sprint(textValue(key)), CreatedAt: fmt.Sprint(textValue(created))}
			rec.ID, _ = id.(int64)
			if err := emit(rec); err != nil {
				rows.Close()
				return n, err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return n, fmt.Errorf("read the records of %s: %w", t, err)
		}
	}
	return n, nil
}

// textValue is a scanned value with bytes as a string.
func textValue(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}
