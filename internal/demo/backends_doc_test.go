package demo

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
)

// patternRoutes are the endpoints answered outside route's switch of fixed routes (the
// health check of every service, a deployment's version and health by path, and the
// ledger ServeHTTP answers itself), each with a path that reaches it.
var patternRoutes = map[string]string{
	"GET /{service}/health":                                  "/notifications/health",
	"GET /deploy/deployments/{service}/{environment}":        "/deploy/deployments/orders/staging",
	"GET /deploy/deployments/{service}/{environment}/health": "/deploy/deployments/orders/staging/health",
	"GET /_ledger": "/_ledger",
}

// TestBackendsDocListsEveryEndpoint: every endpoint the demo backends route has a row in
// docs/backends.md whose first cell is `METHOD /service/path`, so an endpoint added to
// route without its row fails here. The fixed routes are read from the case labels of
// route's switch in backends.go, the code that answers them.
func TestBackendsDocListsEveryEndpoint(t *testing.T) {
	raw, err := os.ReadFile("../../docs/backends.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	routes := switchRoutes(t, "backends.go")
	if len(routes) < 10 {
		t.Fatalf("found %d routes in route's switch in backends.go, want at least 10: has the switch changed shape?", len(routes))
	}
	for _, label := range routes {
		service, rest, _ := strings.Cut(label, " ")
		method, path, _ := strings.Cut(rest, " ")
		if want := "\n| `" + method + " /" + service + "/" + path + "` |"; !strings.Contains(doc, want) {
			t.Errorf("backends.go routes %q; docs/backends.md has no row %s", label, strings.TrimSpace(want))
		}
	}
	// The pattern routes are written by hand here: each must still be answered, by a 200.
	b := New()
	b.Latency = 0
	post(t, b, "/deploy/deployments", "", map[string]string{"service": "orders", "version": "1.0.0", "environment": "staging"})
	for r, path := range patternRoutes {
		if want := "\n| `" + r + "` |"; !strings.Contains(doc, want) {
			t.Errorf("docs/backends.md has no row %s", strings.TrimSpace(want))
		}
		w := httptest.NewRecorder()
		b.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Errorf("%s (GET %s) answered %d %s; is it still routed?", r, path, w.Code, w.Body)
		}
	}
}

// switchRoutes returns the string case labels ("users POST accounts") of the switch in
// the method route of file.
func switchRoutes(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "route" || fn.Recv == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			sw, ok := n.(*ast.SwitchStmt)
			if !ok || sw.Tag == nil {
				return true
			}
			for _, s := range sw.Body.List {
				for _, e := range s.(*ast.CaseClause).List {
					lit, ok := e.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("route's switch has a case %T that is not a string literal: read its routes some other way", e)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					labels = append(labels, v)
				}
			}
			return false
		})
	}
	return labels
}

// TestEmptyListsAnswerAnEmptyArray: a list that has had no entry yet answers [], as the
// others do, not null (a client that ranges over the answer would fail on null).
func TestEmptyListsAnswerAnEmptyArray(t *testing.T) {
	b := New()
	for _, path := range []string{"/orders/orders", "/notifications/messages", "/orders/refunds"} {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Errorf("GET %s answered %d %s, want 200 []", path, rec.Code, rec.Body)
		}
	}
}
