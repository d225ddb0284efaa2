package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"go.temporal.io/api/workflowservice/v1"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
)

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// restartWorker starts a new worker for env's client on env's data folder.
func restartWorker(t *testing.T, env *testenv.Env) *stack.Worker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := startWorker(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// startWorker is restartWorker for a goroutine other than the test's.
func startWorker(ctx context.Context, env *testenv.Env) (*stack.Worker, error) {
	_, appDB, sandbox := stack.DataPaths(env.DataDir)
	return stack.StartWorker(ctx, env.Client, stack.WorkerConfig{AppDatabase: appDB, Sandbox: sandbox, GatewayBaseURL: env.GatewayURL,
		Namespace: env.Server.Namespace(), ToolsNamespace: stack.DefaultToolsNamespace}, testenv.Logger())
}

// startVisibleAudits starts n audits of the products table through MCP and waits until
// visibility lists them (it is written asynchronously), so a listing sees them all.
func startVisibleAudits(t *testing.T, c client.Client, cs *mcp.ClientSession, n int) {
	t.Helper()
	var ids []string
	for range n {
		var s mcpserver.StartResult
		callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "audit", "parameters": map[string]any{"tables": []string{"products"}}}).decode(t, &s)
		ids = append(ids, "'"+s.WorkflowID+"'")
	}
	testenv.WaitFor(t, 10*time.Second, "new audits visible", func() (bool, error) {
		got, err := c.CountWorkflow(t.Context(), countRequest("WorkflowId IN ("+strings.Join(ids, ", ")+")"))
		return err == nil && got.GetCount() == int64(n), err
	})
}

func countRequest(query string) *workflowservice.CountWorkflowExecutionsRequest {
	return countIn("default", query)
}

func countIn(namespace, query string) *workflowservice.CountWorkflowExecutionsRequest {
	return &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query}
}

// postgresDSN returns a DSN for a new database on the server FLOWGATE_TEST_POSTGRES
// names (.ci/run starts one), dropped with its visibility twin after the test; the test
// is skipped without one.
func postgresDSN(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("FLOWGATE_TEST_POSTGRES")
	if admin == "" {
		t.Skip("PostgreSQL persistence skipped: set FLOWGATE_TEST_POSTGRES to a postgres:// DSN (.ci/run starts a server)")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("flowgate_temporal_%d_%d", os.Getpid(), time.Now().UnixNano())
	u.Path = "/" + name
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		db.Exec("DROP DATABASE IF EXISTS " + name + "_visibility WITH (FORCE)")
	})
	return u.String()
}

// runKey is how a run of a process definition names itself to backends (its
// idempotency keys, {{run.key}}): its workflow id and its first run id.
func runKey(t *testing.T, c client.Client, id string) string {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	return id + "/" + desc.GetWorkflowExecutionInfo().GetFirstRunId()
}

// ledgerOf returns the demo backends' ledger entry of a process run's step (its
// idempotency key is the workflow id, the first run id and the step's key), and how many
// runs of the id have one: a test that ran the id once expects exactly one.
func ledgerOf(ledger map[string]demo.LedgerEntry, id, step string) (demo.LedgerEntry, int) {
	var found demo.LedgerEntry
	n := 0
	for k, e := range ledger {
		rest, ok := strings.CutPrefix(k, id+"/")
		if run, s, cut := strings.Cut(rest, "/"); ok && cut && s == step && run != "" {
			found, n = e, n+1
		}
	}
	return found, n
}
