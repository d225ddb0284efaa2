package e2e

import (
	"context"
	"go.temporal.io/api/workflowservice/v1"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/testenv"
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
	_, appDB, sandbox := stack.DataPaths(env.DataDir)
	w, err := stack.StartWorker(ctx, env.Client, stack.WorkerConfig{AppDatabase: appDB, Sandbox: sandbox, GatewayBaseURL: env.GatewayURL}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func countRequest(query string) *workflowservice.CountWorkflowExecutionsRequest {
	return &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: query}
}
