package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/workflows"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/flowgate/flowgate/internal/metrics"
	"github.com/flowgate/flowgate/internal/stack"
)

func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	address := fs.String("temporal-address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS, the profile file, or 127.0.0.1:7233)")
	namespace := fs.String("namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE or default)")
	dataDir := fs.String("data-dir", envOr("FLOWGATE_DATA_DIR", ".flowgate"), "folder of the app database and file sandbox (env FLOWGATE_DATA_DIR)")
	appDBFlag := fs.String("app-db", envOr("FLOWGATE_APP_DB", ""), "app database: a SQLite file, or a postgres:// DSN (default <data-dir>/app.db; env FLOWGATE_APP_DB)")
	services := fs.String("services", envOr("FLOWGATE_SERVICES", ""), "gateway services as name=url,name=url (env FLOWGATE_SERVICES)")
	directCalls := fs.String("direct-calls", envOr("FLOWGATE_DIRECT_CALLS", ""), stack.DirectCallsUsage)
	gatewayURL := fs.String("gateway-url", envOr("FLOWGATE_GATEWAY_URL", ""), "base URL that serves every default service at /{name}, e.g. flowgate dev's demo backends (env FLOWGATE_GATEWAY_URL)")
	workflowCache := fs.Int("workflow-cache", stack.DefaultWorkflowCacheSize, "runs the worker keeps in memory between their workflow tasks; a run evicted from it is rebuilt by replay when its gate is decided")
	toolsNS := fs.String("tools-namespace", envOr("FLOWGATE_TOOLS_NAMESPACE", stack.DefaultToolsNamespace), "Temporal namespace where the data tools' tool_call runs live; a second worker polls it (env FLOWGATE_TOOLS_NAMESPACE; the processes' namespace keeps them together)")
	stopTimeout := fs.Duration("stop-timeout", 10*time.Second, "how long SIGTERM lets in-flight activities finish")
	logLevel := fs.String("log-level", "info", "debug | info | warn | error")
	var dk stack.DecisionKeyFlag
	dk.Register(fs, "the worker verifies with it the decisions on runs that take only signed ones")
	var nf stack.NotifyFlags
	nf.Register(fs, "links are signed with --decision-keys; give the MCP servers the same file")
	var pf stack.ProcessFlags
	pf.Register(fs, "checked at start; the worker needs none to run them, since every run carries its definition")
	metricsAddr := fs.String("metrics-addr", envOr("FLOWGATE_METRICS_ADDR", ""), "serve Prometheus metrics (Temporal SDK) at http://ADDR/metrics (env FLOWGATE_METRICS_ADDR)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if err := stack.CheckWorkflowCacheSize(*workflowCache); err != nil {
		return usageError{err}
	}
	svc, err := stack.ParseServices(*services)
	if err != nil {
		return usageError{fmt.Errorf("--services: %w", err)}
	}
	direct, err := stack.ParseDirectCalls(*directCalls, len(svc) == 0)
	if err != nil {
		return usageError{err}
	}
	if paths := pf.List(); len(paths) > 0 {
		files, err := processes.Read(paths, workflows.DefinitionRules{Services: slices.Sorted(maps.Keys(svc))})
		for _, f := range files {
			logger.Info("process definition checked", "process", f.Definition.Name, "version", f.Definition.Version, "file", f.Path)
		}
		if err != nil {
			logger.Warn("process definitions refused (runs carry their definition, so this worker still runs every process started)", "error", err)
		}
	}
	keys, err := dk.Load()
	if err != nil {
		return usageError{err}
	}
	notifier, err := nf.Notifier(keys, "")
	if err != nil {
		return usageError{err}
	}
	if nf.On() && notifier.Links == nil {
		return usageError{fmt.Errorf("--notify needs --approval-url (the MCP server's public origin) and --decision-keys (the MCP servers' file) to put approval links in what it sends")}
	}
	// Event waits hand out callback URLs that the MCP servers' endpoint checks with the
	// same keys; without both, a step that names one fails saying so.
	var callbacks *activities.Callbacks
	if keys != nil && nf.ApprovalURL != "" {
		callbacks = &activities.Callbacks{Signer: stack.NewCallbackSigner(keys, nf.ApprovalURL)}
	}
	// What Flowgate writes (databases, lock, reports, state) is its user's alone.
	stack.PrivateFiles()
	if err := stack.EnsureDir(*dataDir, "--data-dir"); err != nil {
		return err
	}
	m := metrics.New()
	if *metricsAddr != "" {
		if err := stack.ServeMetrics(ctx, *metricsAddr, m); err != nil {
			return err
		}
	}
	tp, stopTracing, err := startTracing(ctx, logger)
	if err != nil {
		return err
	}
	defer stopTracing()
	c, err := stack.DialTemporal(ctx, *address, *namespace, m.SDKHandler(), logger, tp)
	if err != nil {
		return err
	}
	defer c.Close()
	_, appDB, sandbox := stack.DataPaths(*dataDir)
	if *appDBFlag != "" {
		appDB = *appDBFlag
	}
	w, err := stack.StartWorker(ctx, c, stack.WorkerConfig{
		AppDatabase: appDB, Sandbox: sandbox, Services: svc, DirectCalls: direct, GatewayBaseURL: *gatewayURL, StopTimeout: *stopTimeout,
		Namespace: processNamespace(*namespace), ToolsNamespace: *toolsNS, WorkflowCacheSize: *workflowCache,
		DecisionKeys: keys, Notifier: notifier, Callbacks: callbacks, Tracing: tp,
	}, logger)
	if err != nil {
		return err
	}
	logger.Info("worker running", "task_queue", "flowgate")
	<-ctx.Done()
	logger.Info("worker stopping: letting in-flight activities finish", "timeout", *stopTimeout)
	w.Stop()
	return nil
}
