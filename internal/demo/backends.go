// Package demo serves the demo backends that `flowgate dev` points the gateway at: users,
// products, orders, deploy and notifications services that keep their state in a SQLite
// file in the data folder (or in memory for tests), answer like real services (4xx on bad
// input, some latency), remember every idempotency key they saw, and fail on purpose at an
// injectable rate for tests.
package demo

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/activities"
)

// LedgerEntry is what the backends remember of one idempotency key.
type LedgerEntry struct {
	// Requests counts the requests that carried the key.
	Requests int `json:"requests"`
	// Applied counts the side effects the key caused: 1 for a key handled correctly.
	Applied int    `json:"applied"`
	Service string `json:"service"`
	Path    string `json:"path"`
	status  int
	body    []byte
}

// Backends is the state of every demo service.
type Backends struct {
	// FailureRate is the share of requests (0 to 1) answered 503 before doing anything.
	FailureRate float64
	// Latency is the most a request waits before it is handled (uniformly random).
	Latency time.Duration

	mu sync.Mutex
	// store, when set, persists every change; pending holds the rows a request changed.
	store       *store
	pending     []row
	ledger      map[string]*LedgerEntry
	accounts    map[string]map[string]string
	deployed    map[string]string
	messages    []map[string]string
	orders      []map[string]any
	refunds     []map[string]any
	nextAccount int
}

// New returns empty backends that keep their state in memory, with a few milliseconds of
// latency.
func New() *Backends {
	return &Backends{
		Latency:  3 * time.Millisecond,
		ledger:   map[string]*LedgerEntry{},
		accounts: map[string]map[string]string{},
		deployed: map[string]string{},
	}
}

// Open returns backends whose state lives in the SQLite file at path (created when
// missing), loaded as it was when the last process stopped, however it stopped.
func Open(path string) (*Backends, error) {
	st, err := openStore(path)
	if err != nil {
		return nil, err
	}
	b := New()
	b.store = st
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := st.load(b); err != nil {
		st.db.Close()
		return nil, fmt.Errorf("demo backends state %s: %w", path, err)
	}
	return b, nil
}

// Close closes the state file of backends made by Open.
func (b *Backends) Close() error {
	if b.store == nil {
		return nil
	}
	return b.store.db.Close()
}

// Services returns the gateway configuration for backends served at baseURL.
func Services(baseURL string) map[string]activities.Service {
	out := map[string]activities.Service{}
	for _, name := range activities.DefaultServiceNames {
		out[name] = activities.Service{BaseURL: strings.TrimSuffix(baseURL, "/") + "/" + name, Timeout: 10 * time.Second}
	}
	return out
}

// Serve listens on addr (port 0 for a free one) and serves the backends until stop is
// called. It returns the base URL.
func (b *Backends) Serve(addr string) (baseURL string, stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("demo backends on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// Ledger returns a copy of the idempotency ledger, keyed by idempotency key.
func (b *Backends) Ledger() map[string]LedgerEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]LedgerEntry, len(b.ledger))
	for k, v := range b.ledger {
		out[k] = *v
	}
	return out
}

// Deployed returns the version running for a service in an environment.
func (b *Backends) Deployed(service, env string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deployed[service+"/"+env]
}

// Refunds returns the refunds the orders service issued, in order.
func (b *Backends) Refunds() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]map[string]any, len(b.refunds))
	for i, rf := range b.refunds {
		out[i] = maps.Clone(rf)
	}
	return out
}

// Messages returns the messages the notifications service took, in order.
func (b *Backends) Messages() []map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]map[string]string, len(b.messages))
	for i, m := range b.messages {
		out[i] = maps.Clone(m)
	}
	return out
}

// Account returns the account of an email, or nil.
func (b *Backends) Account(email string) map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.accounts[email]; ok {
		return maps.Clone(a)
	}
	return nil
}

type answer struct {
	status int
	body   any
}

func reply(status int, body any) answer { return answer{status, body} }

func fail(status int, format string, args ...any) answer {
	return answer{status, map[string]string{"error": fmt.Sprintf(format, args...)}}
}

// ServeHTTP routes /{service}/{path...}. A POST with an Idempotency-Key seen before gets
// the first answer again, without a second side effect.
func (b *Backends) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.Latency > 0 {
		time.Sleep(rand.N(b.Latency + 1))
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 1 && parts[0] == "_ledger" {
		write(w, reply(200, b.Ledger()))
		return
	}
	if b.FailureRate > 0 && rand.Float64() < b.FailureRate {
		write(w, fail(503, "injected failure, try again"))
		return
	}
	service, rest := parts[0], parts[1:]
	var body map[string]any
	if r.Method == http.MethodPost {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		if err := dec.Decode(&body); err != nil {
			write(w, fail(400, "body must be a JSON object: %v", err))
			return
		}
	}
	key := r.Header.Get("Idempotency-Key")
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.Method == http.MethodPost && key != "" {
		if e, ok := b.ledger[key]; ok {
			e.Requests++
			b.pending = b.pending[:0]
			b.changed(kindLedger, key, ledgerRow{LedgerEntry: *e, Status: e.status, Body: e.body})
			_ = b.persist() // a lost count is harmless: the replayed answer is what matters
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(e.status)
			_, _ = w.Write(e.body)
			return
		}
	}
	b.pending = b.pending[:0]
	a := b.route(r.Method, service, rest, body)
	raw, _ := json.Marshal(a.body)
	if r.Method == http.MethodPost && key != "" && a.status < 500 {
		applied := 0
		if a.status < 300 {
			applied = 1
		}
		e := &LedgerEntry{Requests: 1, Applied: applied, Service: service, Path: strings.Join(rest, "/"), status: a.status, body: raw}
		b.ledger[key] = e
		b.changed(kindLedger, key, ledgerRow{LedgerEntry: *e, Status: e.status, Body: e.body})
	}
	if err := b.persist(); err != nil {
		write(w, fail(503, "the demo backends could not save this change, nothing was applied: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(raw)
}

// changed records a row the current request changed. The caller holds b.mu.
func (b *Backends) changed(kind, key string, value any) {
	if b.store != nil {
		b.pending = append(b.pending, row{kind, key, value})
	}
}

// persist saves what the current request changed, in one transaction. When that fails the
// in-memory state goes back to the stored one, so the answer and the state agree. The
// caller holds b.mu.
func (b *Backends) persist() error {
	if b.store == nil || len(b.pending) == 0 {
		return nil
	}
	err := b.store.save(b.pending)
	b.pending = b.pending[:0]
	if err != nil {
		if lerr := b.store.load(b); lerr != nil {
			return fmt.Errorf("%w (and reloading failed: %v)", err, lerr)
		}
	}
	return err
}

func write(w http.ResponseWriter, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
}

func str(body map[string]any, k string) string {
	s, _ := body[k].(string)
	return strings.TrimSpace(s)
}

var products = []map[string]any{
	{"sku": "KB-100", "name": "Mechanical keyboard", "price_cents": 12900},
	{"sku": "MS-200", "name": "Wireless mouse", "price_cents": 4900},
	{"sku": "MN-270", "name": "27-inch monitor", "price_cents": 32900},
	{"sku": "HD-010", "name": "Noise-cancelling headset", "price_cents": 19900},
}

// route handles one request with the lock held.
func (b *Backends) route(method, service string, p []string, body map[string]any) answer {
	path := strings.Join(p, "/")
	if !slices.Contains(activities.DefaultServiceNames, service) {
		return fail(404, "no service %q", service)
	}
	if method == http.MethodGet && path == "health" {
		return reply(200, map[string]string{"service": service, "status": "ok"})
	}
	switch service + " " + method + " " + path {
	case "users POST accounts":
		email, role := str(body, "email"), str(body, "role")
		if !strings.Contains(email, "@") || !slices.Contains([]string{"viewer", "editor", "admin"}, role) {
			return fail(400, "email and role (viewer, editor, admin) are required")
		}
		if a, ok := b.accounts[email]; ok && a["status"] == "active" {
			return fail(409, "an active account for %s exists", email)
		}
		b.nextAccount++
		acc := map[string]string{"account_id": fmt.Sprintf("acc-%04d", b.nextAccount), "email": email, "role": role,
			"name": str(body, "name"), "status": "active", "access": "none"}
		b.accounts[email] = acc
		b.changed(kindAccount, email, acc)
		b.changed(kindMeta, "next_account", b.nextAccount)
		return reply(201, maps.Clone(acc))
	case "users POST accounts/deprovision":
		email := str(body, "email")
		if a, ok := b.accounts[email]; ok {
			a["status"], a["access"] = "deprovisioned", "none"
			b.changed(kindAccount, email, a)
		}
		return reply(200, map[string]string{"email": email, "status": "deprovisioned"})
	case "users POST access":
		email := str(body, "email")
		a, ok := b.accounts[email]
		if !ok || a["status"] != "active" {
			return fail(404, "no active account for %s", email)
		}
		a["access"] = str(body, "role")
		b.changed(kindAccount, email, a)
		return reply(200, maps.Clone(a))
	case "users GET accounts":
		list := []map[string]string{}
		for _, a := range b.accounts {
			list = append(list, maps.Clone(a))
		}
		slices.SortFunc(list, func(x, y map[string]string) int { return strings.Compare(x["account_id"], y["account_id"]) })
		return reply(200, list)
	case "products GET items":
		return reply(200, products)
	case "orders GET orders":
		return reply(200, orEmpty(b.orders))
	case "orders POST orders":
		qty, _ := body["quantity"].(float64)
		if str(body, "sku") == "" || qty < 1 || qty != float64(int(qty)) {
			return fail(422, "sku and a whole quantity of at least 1 are required")
		}
		o := map[string]any{"order_id": fmt.Sprintf("DEMO-%d", len(b.orders)+1), "sku": str(body, "sku"), "quantity": int(qty), "status": "processing"}
		b.orders = append(b.orders, o)
		b.changed(kindOrder, seq(len(b.orders)), o)
		return reply(201, o)
	case "orders POST refunds":
		amount, _ := body["amount_cents"].(float64)
		order := str(body, "order_id")
		if order == "" || amount < 1 || amount != float64(int64(amount)) {
			return fail(422, "order_id and a whole amount_cents of at least 1 are required")
		}
		rf := map[string]any{"refund_id": fmt.Sprintf("RF-%04d", len(b.refunds)+1), "order_id": order,
			"amount_cents": int64(amount), "reason": str(body, "reason"), "status": "refunded"}
		b.refunds = append(b.refunds, rf)
		b.changed(kindRefund, seq(len(b.refunds)), rf)
		return reply(201, maps.Clone(rf))
	case "orders POST refunds/reverse":
		id := str(body, "refund_id")
		for i, rf := range b.refunds {
			if rf["refund_id"] == id {
				rf["status"] = "reversed"
				b.changed(kindRefund, seq(i+1), rf)
				return reply(200, maps.Clone(rf))
			}
		}
		return fail(404, "no refund %q", id)
	case "orders GET refunds":
		list := []map[string]any{}
		for _, rf := range b.refunds {
			list = append(list, maps.Clone(rf))
		}
		return reply(200, list)
	case "notifications POST messages":
		to := str(body, "to")
		if !strings.Contains(to, "@") {
			return fail(400, "to must be an email address")
		}
		m := map[string]string{"message_id": fmt.Sprintf("msg-%d", len(b.messages)+1), "to": to, "template": str(body, "template")}
		b.messages = append(b.messages, m)
		b.changed(kindMessage, seq(len(b.messages)), m)
		return reply(202, m)
	case "notifications GET messages":
		return reply(200, orEmpty(b.messages))
	case "deploy POST deployments":
		svc, ver, env := str(body, "service"), str(body, "version"), str(body, "environment")
		if svc == "" || ver == "" || env == "" {
			return fail(400, "service, version and environment are required")
		}
		prev := b.deployed[svc+"/"+env]
		b.deployed[svc+"/"+env] = ver
		b.changed(kindDeployed, svc+"/"+env, ver)
		return reply(201, map[string]string{"service": svc, "environment": env, "version": ver, "previous_version": prev, "status": "deployed"})
	case "deploy POST rollbacks":
		svc, env := str(body, "service"), str(body, "environment")
		b.deployed[svc+"/"+env] = str(body, "version")
		b.changed(kindDeployed, svc+"/"+env, str(body, "version"))
		return reply(200, map[string]string{"service": svc, "environment": env, "version": str(body, "version"), "status": "rolled_back"})
	}
	// deploy GET deployments/{service}/{environment}[/health]
	if service == "deploy" && method == http.MethodGet && len(p) >= 3 && p[0] == "deployments" {
		ver, ok := b.deployed[p[1]+"/"+p[2]]
		if !ok {
			return fail(404, "nothing deployed for %s in %s", p[1], p[2])
		}
		if len(p) == 4 && p[3] == "health" {
			// A version whose pre-release names "unhealthy" never becomes healthy: the
			// demo's way to exercise verification failure and rollback.
			if strings.Contains(ver, "unhealthy") {
				return fail(503, "%s %s is not healthy", p[1], ver)
			}
			return reply(200, map[string]string{"service": p[1], "environment": p[2], "version": ver, "status": "healthy"})
		}
		return reply(200, map[string]string{"service": p[1], "environment": p[2], "version": ver})
	}
	return fail(404, "no endpoint %s %s on service %s", method, path, service)
}

// orEmpty is list, or an empty list where it has had no entry yet, so a GET answers [] and
// never null.
func orEmpty[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
