// Package testenv boots Flowgate's whole stack inside a test process — the embedded
// Temporal server (the temporalite-style test server), demo backends, a worker and the MCP
// server over Streamable HTTP — on free loopback ports. Every integration test uses it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/devserver"
	"github.com/flowgate/flowgate/internal/metrics"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/temporalclient"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// Options configures a stack. The zero value is an in-memory server with everything on.
type Options struct {
	// DatabaseFile persists Temporal to a SQLite file; empty means in memory.
	DatabaseFile string
	// PostgresDSN persists Temporal to PostgreSQL instead.
	PostgresDSN string
	// Durability of the SQLite file.
	Durability devserver.Durability
	// DataDir holds the app database and the sandbox; empty means a new temp folder.
	DataDir string
	// FrontendPort fixes the Temporal port (to restart on the same one); 0 picks one.
	FrontendPort int
	// NoWorker and NoMCP leave those parts out.
	NoWorker, NoMCP bool
	// UI serves the web UI.
	UI bool
	// SeparationOfDuties configures the MCP server.
	SeparationOfDuties bool
	// Auth turns authentication of the MCP endpoint on.
	Auth *mcpserver.AuthConfig
	// Notify tells people of gates; its links are made to point at the MCP server once it
	// listens, signed with DecisionKeys.
	Notify *activities.Notifier
	// Tracing traces the stack as OTEL_* variables make flowgate dev do: give it a
	// provider over an in-memory exporter (tracetest) to read the spans. Nil is off.
	Tracing trace.TracerProvider
}

// Env is a running stack.
type Env struct {
	Server *devserver.Server
	Client client.Client
	// ToolsClient reaches the namespace of the data tools' tool_call runs.
	ToolsClient client.Client
	Backends    *demo.Backends
	Worker      *stack.Worker
	MCP         *mcpserver.Server
	// MCPURL is the Streamable HTTP endpoint, empty when NoMCP.
	MCPURL string
	// GatewayURL is where the demo backends answer.
	GatewayURL string
	DataDir    string
	closer     stack.Closer
	// server stops the embedded server and removes the data folder testenv made; a
	// server in memory with such a folder leaves nothing a later test could see.
	server         stack.Closer
	detachableStop bool
}

var (
	keysOnce sync.Once
	keys     *signing.Keys
)

// DecisionKeys are the decision keys of every stack in this test process: workers verify
// with the process's keys, so all stacks share one set.
func DecisionKeys() *signing.Keys {
	keysOnce.Do(func() {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		k, err := signing.Parse([]byte("test " + base64.StdEncoding.EncodeToString(secret)))
		if err != nil {
			panic(err)
		}
		keys = k
	})
	return keys
}

// Logger is the tests' logger: silent unless FLOWGATE_TEST_LOG is set.
func Logger() *slog.Logger {
	// Expected failures (refused inputs, injected faults) log errors; tests assert on
	// outcomes instead. FLOWGATE_TEST_LOG=1 shows everything.
	level := slog.Level(100)
	if os.Getenv("FLOWGATE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// SearchAttributes are Flowgate's custom search attributes.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, n := range workflows.SearchAttributeNames {
		out[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return out
}

// Start boots a stack; Stop (or the test's cleanup, when t is given) shuts it down.
func Start(ctx context.Context, opts Options) (*Env, error) {
	logger := Logger()
	e := &Env{DataDir: opts.DataDir}
	if e.DataDir == "" {
		dir, err := os.MkdirTemp("", "flowgate-test-")
		if err != nil {
			return nil, err
		}
		e.DataDir = dir
		e.server.Add(func() { os.RemoveAll(dir) })
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		DatabaseFile: opts.DatabaseFile, PostgresDSN: opts.PostgresDSN, Durability: opts.Durability, FrontendPort: opts.FrontendPort,
		UI: opts.UI, Logger: logger, SearchAttributes: SearchAttributes(), ExtraNamespaces: []string{stack.DefaultToolsNamespace},
	})
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.Server = srv
	e.server.Add(srv.Stop)
	e.detachableStop = opts.DataDir == "" && opts.DatabaseFile == "" && opts.PostgresDSN == ""
	// The backends keep their state in the data folder, as flowgate dev does, so a test
	// that restarts the stack on the same folder sees what the first one did.
	e.Backends, err = demo.Open(stack.DemoStatePath(e.DataDir))
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.closer.Add(func() { e.Backends.Close() })
	demoURL, stopDemo, err := e.Backends.Serve("127.0.0.1:0")
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.closer.Add(stopDemo)
	e.GatewayURL = demoURL
	reg := metrics.New()
	e.Client, err = temporalclient.Dial(ctx, temporalclient.Config{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: logger, Metrics: reg.SDKHandler(), Tracing: opts.Tracing})
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.closer.Add(e.Client.Close)
	if e.ToolsClient, err = stack.ToolsClient(e.Client, stack.DefaultToolsNamespace, logger, opts.Tracing); err != nil {
		e.Stop()
		return nil, err
	}
	e.closer.Add(e.ToolsClient.Close)
	var keys *signing.Keys
	if opts.Auth != nil {
		// With authentication on, decisions are signed, as flowgate dev does.
		keys = DecisionKeys()
	}
	// Callback URLs point at the MCP server once it listens, signed with DecisionKeys.
	callbacks := &activities.Callbacks{}
	if !opts.NoWorker {
		_, appDB, sandbox := stack.DataPaths(e.DataDir)
		e.Worker, err = stack.StartWorker(ctx, e.Client, stack.WorkerConfig{
			AppDatabase: appDB, Sandbox: sandbox, GatewayBaseURL: demoURL, StopTimeout: 2 * time.Second,
			Namespace: srv.Namespace(), ToolsNamespace: stack.DefaultToolsNamespace, DecisionKeys: keys,
			Notifier: opts.Notify, Callbacks: callbacks, Tracing: opts.Tracing,
		}, logger)
		if err != nil {
			e.Stop()
			return nil, err
		}
		e.closer.Add(e.Worker.Stop)
	}
	if !opts.NoMCP {
		e.MCP, err = stack.NewMCP(e.Client, srv.Namespace(), stack.MCPConfig{
			UIBaseURL: srv.UIURL(), Actor: "tester", SeparationOfDuties: opts.SeparationOfDuties, Auth: opts.Auth, Metrics: reg,
			ToolsNamespace: stack.DefaultToolsNamespace, DecisionKeys: keys, LinkKeys: DecisionKeys(), Tracing: opts.Tracing,
		}, logger)
		if err != nil {
			e.Stop()
			return nil, err
		}
		h, err := e.MCP.ListenHTTP("127.0.0.1:0")
		if err != nil {
			e.Stop()
			return nil, err
		}
		e.MCPURL = h.URL()
		// Before any run starts: callback URLs point at this server.
		callbacks.Signer = stack.NewCallbackSigner(DecisionKeys(), strings.TrimSuffix(h.URL(), mcpserver.EndpointPath))
		if opts.Notify != nil {
			// Before any run starts: links point at this server.
			opts.Notify.Links = stack.NewLinkSigner(DecisionKeys(), strings.TrimSuffix(h.URL(), mcpserver.EndpointPath))
		}
		e.closer.Add(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = h.Shutdown(sctx)
		})
	}
	return e, nil
}

// StartT boots a stack for one test and stops it in the test's cleanup.
func StartT(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start test stack: %v", err)
	}
	t.Cleanup(e.stopInBackground)
	return e
}

// Stop shuts everything down, last started first.
func (e *Env) Stop() {
	e.closer.Close()
	e.closer = nil
	e.server.Close()
	e.server = nil
}

// detached counts the servers stopping in the background; Main waits for them.
var (
	detached    sync.WaitGroup
	mainRunning bool
)

// stopInBackground is Stop, except that the embedded server of a stack in memory stops
// in the background when Main will wait for it: a server's stop drains its frontend for
// at least a second (its own system workers long-poll it), and nothing of such a stack is
// left for the next test to see once its worker, MCP server and clients are gone.
func (e *Env) stopInBackground() {
	if !e.detachableStop || !mainRunning {
		e.Stop()
		return
	}
	e.closer.Close()
	e.closer = nil
	server := e.server
	e.server = nil
	detached.Go(server.Close)
}

var (
	sharedOnce sync.Once
	shared     *Env
	sharedErr  error
)

// Shared returns one in-memory stack shared by every test of the test binary; Main stops it.
func Shared(t testing.TB) *Env {
	t.Helper()
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared, sharedErr = Start(ctx, Options{UI: true})
	})
	if sharedErr != nil {
		t.Fatalf("start shared test stack: %v", sharedErr)
	}
	return shared
}

// Main runs the tests, stops the shared stack and runs cleanups: call it from TestMain.
func Main(m *testing.M, cleanups ...func()) {
	mainRunning = true
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	detached.Wait()
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

// TempFile returns a path for a database file in a new temp folder.
func TempFile(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}

// WaitFor polls cond every 20ms until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	WaitForEvery(t, timeout, 20*time.Millisecond, what, cond)
}

// WaitForEvery is WaitFor asking every interval: for a condition asked of a server that
// limits each identity's requests (an MCP server with auth on allows 20 a second), so the
// asking does not use up what the test itself sends next.
func WaitForEvery(t testing.TB, timeout, interval time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(interval)
	}
	t.Fatalf("%s: not within %s (last error: %v)", what, timeout, lastErr)
}

// Status queries a workflow's status.
func Status(ctx context.Context, c client.Client, id string) (workflows.StatusView, error) {
	var v workflows.StatusView
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return v, err
	}
	return v, resp.Get(&v)
}

// Details queries a workflow's full record.
func Details(ctx context.Context, c client.Client, id string) (workflows.State, error) {
	var st workflows.State
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryDetails)
	if err != nil {
		return st, err
	}
	return st, resp.Get(&st)
}

// WaitForStatus waits until the workflow reports the status.
func WaitForStatus(t testing.TB, c client.Client, id string, want workflows.Status) workflows.StatusView {
	t.Helper()
	var last workflows.StatusView
	WaitFor(t, 30*time.Second, fmt.Sprintf("workflow %s reaching %s", id, want), func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := Status(ctx, c, id)
		last = v
		// A run that ended says so while it still undoes its steps: it has ended once
		// closed_at is set.
		ended := v.ClosedAt != nil || !slices.Contains([]workflows.Status{workflows.StatusCompleted, workflows.StatusRejected,
			workflows.StatusFailed, workflows.StatusTimedOut, workflows.StatusCancelled}, want)
		return err == nil && v.Status == want && ended, err
	})
	return last
}

// WaitForIdle waits until the workflow has no workflow task and no activity in flight (a
// gate's notification, say): a worker stopped then holds nothing of it. A task it held
// would wait for its timeout (10 s for a workflow task) before another worker took it.
func WaitForIdle(t testing.TB, c client.Client, id string) {
	t.Helper()
	WaitFor(t, 30*time.Second, fmt.Sprintf("workflow %s idle", id), func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return false, err
		}
		task, acts := d.GetPendingWorkflowTask(), d.GetPendingActivities()
		return task == nil && len(acts) == 0, fmt.Errorf("workflow task %v and %d activities in flight", task, len(acts))
	})
}
