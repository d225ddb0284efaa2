package activities_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flowgate/flowgate/activities"
)

// Cost per call of each activity, outside Temporal: go test ./activities -bench . -benchmem

func BenchmarkExecuteQuery(b *testing.B) {
	db, _ := openDB(b)
	in := activities.QueryInput{Query: "SELECT id, email, role FROM users WHERE status = 'active' ORDER BY id", Limit: 20}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.ExecuteQuery(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSearchTable(b *testing.B) {
	db, _ := openDB(b)
	in := activities.SearchInput{Table: "products", SearchTerm: "monitor"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.SearchTable(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetRecord(b *testing.B) {
	db, _ := openDB(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.GetRecord(context.Background(), activities.RecordInput{Table: "orders", ID: 7}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckReadOnlySQL(b *testing.B) {
	q := "WITH recent AS (SELECT * FROM orders WHERE created_at > '2026-02-01') SELECT u.email, sum(r.total_cents) FROM users u JOIN recent r ON r.user_id = u.id GROUP BY u.email"
	b.ReportAllocs()
	for b.Loop() {
		if err := activities.CheckReadOnlySQL(q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCallService(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	g := &activities.Gateway{Client: srv.Client(), Services: map[string]activities.Service{"orders": {BaseURL: srv.URL}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.CallService(context.Background(), activities.CallInput{Service: "orders", Endpoint: "health"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFileCSV(b *testing.B) {
	f, _, _ := sandbox(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ParseFile(context.Background(), activities.ParseInput{FilePath: "data/people.csv"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadChunk(b *testing.B) {
	f, _, _ := sandbox(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ReadChunk(context.Background(), activities.ChunkInput{Path: "data/config.json", Length: 16}); err != nil {
			b.Fatal(err)
		}
	}
}
