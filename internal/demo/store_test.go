package demo

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
)

func post(t *testing.T, b *Backends, path, key string, body any) *httptest.ResponseRecorder {
	t.Helper()
	raw, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(raw))
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	b.ServeHTTP(w, r)
	return w
}

// TestStateSurvivesReopen is what a restart of flowgate dev does to the backends: every
// account, deployed version, message, order and idempotency key is there again, so a
// workflow approved after the restart finds what it created before.
func TestStateSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Latency = 0
	steps := []struct {
		path, key string
		body      any
		want      int
	}{
		{"/users/accounts", "run-1/provision", map[string]string{"email": "ada@example.com", "role": "editor", "name": "Ada"}, 201},
		{"/deploy/deployments", "run-2/deploy", map[string]string{"service": "orders", "version": "1.0.0", "environment": "staging"}, 201},
		{"/deploy/deployments", "run-3/deploy", map[string]string{"service": "orders", "version": "1.1.0", "environment": "staging"}, 201},
		{"/notifications/messages", "run-1/welcome", map[string]string{"to": "ada@example.com", "template": "welcome"}, 202},
		{"/orders/orders", "", map[string]any{"sku": "KB-100", "quantity": 2}, 201},
		{"/orders/refunds", "run-5/issue_refund", map[string]any{"order_id": "ORD-01001", "amount_cents": 2500}, 201},
	}
	for _, s := range steps {
		if w := post(t, b, s.path, s.key, s.body); w.Code != s.want {
			t.Fatalf("POST %s = %d %s", s.path, w.Code, w.Body)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Latency = 0
	if a := b.Account("ada@example.com"); a == nil || a["status"] != "active" || a["account_id"] != "acc-0001" {
		t.Fatalf("account after reopen = %v", a)
	}
	// grant_access after the restart finds the account it needs.
	if w := post(t, b, "/users/access", "run-1/grant", map[string]string{"email": "ada@example.com", "role": "editor"}); w.Code != 200 {
		t.Fatalf("grant after reopen = %d %s", w.Code, w.Body)
	}
	if got := b.Deployed("orders", "staging"); got != "1.1.0" {
		t.Fatalf("deployed after reopen = %q", got)
	}
	// A retried POST replays its first answer: no second deployment, same previous version.
	w := post(t, b, "/deploy/deployments", "run-3/deploy", map[string]string{"service": "orders", "version": "1.1.0", "environment": "staging"})
	if w.Code != 201 || w.Header().Get("Idempotent-Replayed") != "true" || !bytes.Contains(w.Body.Bytes(), []byte(`"previous_version":"1.0.0"`)) {
		t.Fatalf("replayed deploy = %d %s %v", w.Code, w.Body, w.Header())
	}
	if e := b.Ledger()["run-3/deploy"]; e.Requests != 2 || e.Applied != 1 {
		t.Fatalf("ledger = %+v", e)
	}
	// New accounts continue the numbering instead of reusing an id.
	if w := post(t, b, "/users/accounts", "run-4/provision", map[string]string{"email": "bob@example.com", "role": "viewer"}); w.Code != 201 || !bytes.Contains(w.Body.Bytes(), []byte("acc-0002")) {
		t.Fatalf("second account = %d %s", w.Code, w.Body)
	}
	// A refund issued before the restart can be reversed after it.
	if w := post(t, b, "/orders/refunds/reverse", "run-5/issue_refund/undo", map[string]string{"refund_id": "RF-0001"}); w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"reversed"`)) {
		t.Fatalf("reverse after reopen = %d %s", w.Code, w.Body)
	}
	for _, get := range []struct{ path, want string }{{"/notifications/messages", "msg-1"}, {"/orders/orders", "DEMO-1"}, {"/orders/refunds", "RF-0001"}} {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, get.path, nil))
		if !bytes.Contains(rec.Body.Bytes(), []byte(get.want)) {
			t.Errorf("GET %s after reopen = %s", get.path, rec.Body)
		}
	}
}

// BenchmarkPost measures one idempotent POST (a new account) with the state in memory and
// in the SQLite file: the price of surviving a restart.
func BenchmarkPost(b *testing.B) {
	for _, mode := range []string{"memory", "file"} {
		b.Run(mode, func(b *testing.B) {
			back := New()
			if mode == "file" {
				var err error
				if back, err = Open(filepath.Join(b.TempDir(), "demo.db")); err != nil {
					b.Fatal(err)
				}
				defer back.Close()
			}
			back.Latency = 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				raw := []byte(`{"email":"u` + strconv.Itoa(i) + `@example.com","role":"viewer"}`)
				r := httptest.NewRequest(http.MethodPost, "/users/accounts", bytes.NewReader(raw))
				r.Header.Set("Idempotency-Key", "bench/"+strconv.Itoa(i))
				w := httptest.NewRecorder()
				back.ServeHTTP(w, r)
				if w.Code != 201 {
					b.Fatalf("POST = %d %s", w.Code, w.Body)
				}
			}
		})
	}
}
