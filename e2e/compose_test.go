package e2e

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeFileNamesEveryServiceAndItsSettings checks docker-compose.yml without a
// Docker engine: every service is there, with the variables each needs, health checks
// and the ordering conditions that make `docker compose up` start cleanly. (.ci/run
// also validates the file with docker-compose config.)
func TestComposeFileNamesEveryServiceAndItsSettings(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck map[string]any `yaml:"healthcheck"`
			Volumes     []string       `yaml:"volumes"`
			Ports       []string       `yaml:"ports"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	need := map[string][]string{
		"postgresql":      {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
		"temporal":        {"DB", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD"},
		"temporal-setup":  {"TEMPORAL_ADDRESS"},
		"temporal-ui":     {"TEMPORAL_ADDRESS"},
		"flowgate-demo":   nil,
		"flowgate-worker": {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "FLOWGATE_APP_DB", "FLOWGATE_DATA_DIR", "FLOWGATE_GATEWAY_URL", "FLOWGATE_DECISION_KEYS_FILE"},
		"flowgate-mcp":    {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "FLOWGATE_API_KEYS_FILE", "FLOWGATE_UI_URL", "FLOWGATE_RESOURCE_URL", "FLOWGATE_DECISION_KEYS_FILE"},
	}
	for name, vars := range need {
		svc, ok := f.Services[name]
		if !ok {
			t.Errorf("service %s is missing", name)
			continue
		}
		for _, v := range vars {
			if svc.Environment[v] == "" {
				t.Errorf("service %s does not set %s", name, v)
			}
		}
		if strings.HasPrefix(name, "flowgate-") && (svc.Build == nil || len(svc.Command) == 0) {
			t.Errorf("service %s is not built from the Dockerfile with a subcommand", name)
		}
	}
	if !strings.HasPrefix(f.Services["flowgate-worker"].Environment["FLOWGATE_APP_DB"], "postgres://flowgate_app:") {
		t.Error("the worker's app database is not PostgreSQL through the app's own role (deploy/app-role.psql)")
	}
	if !slices.Contains(f.Services["postgresql"].Volumes, "./deploy/postgres-init.sh:/docker-entrypoint-initdb.d/flowgate-app-role.sh:ro") {
		t.Error("the PostgreSQL service does not make the app role on a new volume")
	}
	for _, name := range []string{"postgresql", "flowgate-mcp"} {
		if f.Services[name].Healthcheck == nil {
			t.Errorf("service %s has no health check", name)
		}
	}
	if c := f.Services["flowgate-worker"].DependsOn["temporal-setup"].Condition; c != "service_completed_successfully" {
		t.Errorf("worker waits for temporal-setup with %q", c)
	}
	for _, v := range []string{"postgresql-data", "flowgate-files"} {
		if _, ok := f.Volumes[v]; !ok {
			t.Errorf("named volume %s is missing", v)
		}
	}
	// The MCP server signs decisions with the file the worker verifies them with.
	worker, server := f.Services["flowgate-worker"], f.Services["flowgate-mcp"]
	if worker.Environment["FLOWGATE_DECISION_KEYS_FILE"] != server.Environment["FLOWGATE_DECISION_KEYS_FILE"] ||
		!slices.Contains(worker.Volumes, "flowgate-keys:/home/nonroot") || !slices.Contains(server.Volumes, "flowgate-keys:/home/nonroot") {
		t.Error("the worker and the MCP server do not share one decision keys file")
	}
	if !slices.Contains(f.Services["flowgate-mcp"].Command, "http") {
		t.Error("the MCP service does not serve HTTP")
	}
	// Nothing without authentication is published beyond loopback, and the UI cannot act.
	for name, svc := range f.Services {
		if name == "flowgate-mcp" {
			continue // authenticated by API keys
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond loopback", name, p)
			}
		}
	}
	if f.Services["temporal-ui"].Environment["TEMPORAL_DISABLE_WRITE_ACTIONS"] != "true" {
		t.Error("the web UI can send signals and terminate runs")
	}
	if !strings.Contains(strings.Join(f.Services["temporal-setup"].Command, " "), "namespace create --namespace flowgate-tools") {
		t.Error("temporal-setup does not create the tools namespace")
	}
}

// TestComposeAppRoleCannotReadTheServer runs deploy/app-role.psql (what the compose file's
// PostgreSQL runs on a new volume) on the test server, then connects as that role, as the
// worker does: it can make its tables, but cannot read the server's files or the roles'
// passwords even if a query got past the SQL guard, and its statements stop at 10 s.
func TestComposeAppRoleCannotReadTheServer(t *testing.T) {
	admin := os.Getenv("FLOWGATE_TEST_POSTGRES")
	if admin == "" {
		t.Skip("skipped: set FLOWGATE_TEST_POSTGRES to a postgres:// DSN (.ci/run starts a server)")
	}
	raw, err := os.ReadFile("../deploy/app-role.psql")
	if err != nil {
		t.Fatal(err)
	}
	role := fmt.Sprintf("flowgate_app_%d", os.Getpid())
	script := strings.ReplaceAll(string(raw), "flowgate_app", role)
	script = strings.ReplaceAll(script, ":'app_password'", "'test-password'")
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS " + role + " WITH (FORCE)")
		db.Exec("DROP ROLE IF EXISTS " + role)
	})
	for _, stmt := range strings.Split(script, ";") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	u, _ := url.Parse(admin)
	u.User, u.Path = url.UserPassword(role, "test-password"), "/"+role
	app, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Exec("CREATE TABLE users (id int primary key)"); err != nil {
		t.Fatalf("the app role cannot make its tables: %v", err)
	}
	for _, q := range []string{"SELECT pg_read_file('/etc/passwd')", "SELECT pg_ls_dir('/')", "SELECT passwd FROM pg_shadow", "SELECT pg_read_binary_file('/etc/hostname')"} {
		var out any
		if err := app.QueryRow(q).Scan(&out); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s as the app role: %v, want permission denied", q, err)
		}
	}
	var timeout string
	if err := app.QueryRow("SHOW statement_timeout").Scan(&timeout); err != nil || timeout != "10s" {
		t.Errorf("statement_timeout of the app role: %q %v, want 10s", timeout, err)
	}
}
