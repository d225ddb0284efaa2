package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/debugserver"
	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/devserver"
	"github.com/flowgate/flowgate/internal/hostallow"
	"github.com/flowgate/flowgate/internal/metrics"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/internal/temporalclient"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("FLOWGATE_DATA_DIR", ".flowgate"), "folder for the Temporal database, the app database and the file sandbox (env FLOWGATE_DATA_DIR)")
	appDBFlag := fs.String("app-db", envOr("FLOWGATE_APP_DB", ""), "app database: a SQLite file, or a postgres:// DSN (default <data-dir>/app.db; env FLOWGATE_APP_DB)")
	dbFile := fs.String("db", "", "Temporal's SQLite file (default <data-dir>/temporal.db)")
	temporalDSN := fs.String("temporal-dsn", envOr("FLOWGATE_TEMPORAL_DSN", ""), "persist Temporal to PostgreSQL instead of SQLite: postgres://user:pass@host:5432/temporal (env FLOWGATE_TEMPORAL_DSN)")
	memory := fs.Bool("memory", false, "keep Temporal's state in memory: everything is gone on exit")
	ip := fs.String("ip", "127.0.0.1", "address every listener binds to")
	port := fs.Int("port", 7233, "Temporal frontend gRPC port")
	uiPort := fs.Int("ui-port", 8233, "Temporal web UI port")
	noUI := fs.Bool("no-ui", false, "do not serve the web UI")
	mcpAddr := fs.String("mcp-addr", "127.0.0.1:8080", "address of the MCP Streamable HTTP endpoint")
	noMCP := fs.Bool("no-mcp", false, "do not run the MCP server (run flowgate mcp separately)")
	noWorker := fs.Bool("no-worker", false, "do not run the worker (run flowgate worker separately)")
	demoAddr := fs.String("demo-addr", "127.0.0.1:8090", "address of the demo backends the gateway calls")
	durability := fs.String("durability", string(devserver.DurabilityProcessCrash), "Temporal SQLite crash safety: process (WAL, survives kill -9), power (WAL+fsync, survives power loss), legacy (rollback journal, like temporal server start-dev)")
	workflowCache := fs.Int("workflow-cache", stack.DefaultWorkflowCacheSize, "runs the worker keeps in memory between their workflow tasks; a run evicted from it is rebuilt by replay when its gate is decided")
	memoryLimit := fs.String("memory-limit", stack.DefaultMemoryLimit, "soft memory limit of the process (such as 512MiB or 1GiB, or off); GOMEMLIMIT in the environment takes its place")
	debugAddr := fs.String("debug-addr", "", "serve Go's runtime profiles (/debug/pprof/) on this loopback address; off by default")
	retention := fs.Duration("retention", devserver.DefaultRetention, "how long finished runs (completed, rejected, failed, timed out, cancelled) and their history stay before Temporal deletes them")
	historyCache := fs.Int("history-cache", devserver.DefaultHistoryCacheSize, "runs whose state the embedded Temporal keeps in memory; a run not in it is read from the database when it next has work")
	allowedOrigins := fs.String("allowed-origins", envOr("FLOWGATE_ALLOWED_ORIGINS", ""), stack.AllowedOriginsUsage)
	directCalls := fs.String("direct-calls", envOr("FLOWGATE_DIRECT_CALLS", ""), stack.DirectCallsUsage)
	toolsNS := fs.String("tools-namespace", envOr("FLOWGATE_TOOLS_NAMESPACE", stack.DefaultToolsNamespace), "Temporal namespace of the data tools' short tool_call runs, created beside default so the web UI lists processes alone (env FLOWGATE_TOOLS_NAMESPACE)")
	actor := fs.String("actor", stack.LocalActor(), "identity recorded for MCP calls (no auth in dev)")
	logLevel := fs.String("log-level", "warn", "debug | info | warn | error")
	var dk stack.DecisionKeyFlag
	dk.Register(fs, "default <data-dir>/decision.keys; with auth on it signs every decision, without auth only approval links and inbox sessions")
	var pf stack.ProcessFlags
	pf.Register(fs, "agents can start them; edits are picked up within seconds and on SIGHUP")
	pf.RegisterReload(fs)
	var nf stack.NotifyFlags
	nf.Register(fs, "default http://<mcp-addr>")
	var af stack.AuthFlags
	fs.StringVar(&af.APIKeysFile, "api-keys", envOr("FLOWGATE_API_KEYS_FILE", ""), "JSON file of API keys for the MCP endpoint (env FLOWGATE_API_KEYS_FILE); off by default on loopback")
	fs.StringVar(&af.OAuthIssuer, "oauth-issuer", envOr("FLOWGATE_OAUTH_ISSUER", ""), "OAuth authorization server whose JWT access tokens are accepted")
	fs.StringVar(&af.OAuthJWKSURL, "oauth-jwks-url", "", "key set URL, when not in the issuer's metadata")
	fs.StringVar(&af.OAuthGroupsClaim, "oauth-groups-claim", envOr("FLOWGATE_OAUTH_GROUPS_CLAIM", ""), stack.OAuthGroupsClaimUsage)
	fs.StringVar(&af.ResourceURL, "resource-url", envOr("FLOWGATE_RESOURCE_URL", ""), "the MCP endpoint's public URL (the audience of tokens)")
	af.RegisterRateFlags(fs)
	var sf stack.SessionFlags
	sf.Register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if err := sf.Check(); err != nil {
		return usageError{err}
	}
	if err := stack.CheckWorkflowCacheSize(*workflowCache); err != nil {
		return usageError{err}
	}
	direct, err := stack.ParseDirectCalls(*directCalls, true)
	if err != nil {
		return usageError{err}
	}
	origins, err := stack.ParseAllowedOrigins(*allowedOrigins)
	if err != nil {
		return usageError{err}
	}
	// Before the embedded server: its system workers make the process's workflow cache.
	stack.SetWorkflowCacheSize(*workflowCache)
	limit, err := stack.ParseMemoryLimit(*memoryLimit)
	if err != nil {
		return usageError{err}
	}
	stack.ApplyMemoryLimit(limit)
	if err := devserver.CheckRetention(*retention); err != nil {
		return usageError{err}
	}
	if *retention < devserver.RetentionWarning {
		fmt.Fprintf(stderr, "warning: --retention %s: every finished run (completed, rejected, failed, timed out, cancelled) is deleted with its history and record %s after it ends; the web UI, get_workflow_status and workflow://…/details no longer find it after that\n", *retention, *retention)
	}
	if err := pf.Check(); err != nil {
		return usageError{err}
	}
	if *debugAddr != "" {
		if err := debugserver.Check(*debugAddr); err != nil {
			return usageError{err}
		}
	}
	if *historyCache < 1 || *historyCache > devserver.MaxHistoryCacheSize {
		return usageError{fmt.Errorf("--history-cache %d: allowed is 1 to %d runs whose state the embedded Temporal keeps in memory (default %d)", *historyCache, devserver.MaxHistoryCacheSize, devserver.DefaultHistoryCacheSize)}
	}
	auth, err := af.Config()
	if err != nil {
		return usageError{err}
	}
	if ipAddr := net.ParseIP(*ip); auth == nil && (ipAddr == nil || !ipAddr.IsLoopback()) {
		return usageError{fmt.Errorf("--ip %s: Temporal's frontend and the web UI would answer on that interface, and without authentication anyone who reaches them decides every gate; allowed without --api-keys or --oauth-issuer is a loopback address (127.0.0.1 or ::1)", *ip)}
	}
	dur, err := devserver.ParseDurability(*durability)
	if err != nil {
		return usageError{fmt.Errorf("--durability: %w", err)}
	}
	catalog, err := stack.LoadProcesses(ctx, pf, nil, logger)
	if err != nil {
		return usageError{err}
	}
	explicitKeys := dk.Path != ""
	if dk.Path == "" {
		// With authentication on, every decision is signed and runs take no other; approval
		// links (notices, the inbox) are signed with the same keys. Without it the keys sign
		// links only.
		dk.Path = filepath.Join(*dataDir, "decision.keys")
	}
	linkKeys, err := dk.Load()
	if err != nil {
		return usageError{err}
	}
	keys := linkKeys
	if auth == nil && !explicitKeys {
		keys = nil // links only: decisions stay unsigned, so the UI recipe keeps working
	}
	if nf.On() && auth == nil && nf.Approvers == "" {
		// Without authentication every call is the local user's: they get the links.
		nf.Approvers = *actor
	}
	notifier, err := nf.Notifier(linkKeys, "http://"+*mcpAddr)
	if err != nil {
		return usageError{err}
	}
	if notifier != nil && auth != nil && len(auth.APIKeys) > 0 {
		// The key file is the directory of who holds which scope: a group gate's members
		// get their links, and nobody gets a link for a gate that does not admit them.
		notifier.Scopes = map[string][]string{}
		for _, k := range auth.APIKeys {
			if !k.Revoked {
				notifier.Scopes[k.Name] = append(notifier.Scopes[k.Name], k.Scopes...)
			}
		}
	}
	// What Flowgate writes (databases, lock, reports, state) is its user's alone.
	stack.PrivateFiles()
	if err := stack.EnsureDir(*dataDir, "--data-dir"); err != nil {
		return err
	}
	temporalDB, appDB, sandbox := stack.DataPaths(*dataDir)
	if *dbFile != "" {
		temporalDB = *dbFile
	}
	if *appDBFlag != "" {
		appDB = *appDBFlag
	}
	if *memory || *temporalDSN != "" {
		temporalDB = ""
	}
	// One process owns a data folder (and a Temporal database file kept elsewhere): two
	// Temporal servers must never write one SQLite file.
	unlock, err := stack.LockDataDir(*dataDir, temporalDB)
	if err != nil {
		return err
	}
	defer unlock()
	// Check every port first, so a taken one fails before anything starts.
	for _, p := range []struct{ flag, addr string }{
		{"--port", net.JoinHostPort(*ip, strconv.Itoa(*port))},
		{"--ui-port", net.JoinHostPort(*ip, strconv.Itoa(*uiPort))},
		{"--mcp-addr", *mcpAddr},
		{"--demo-addr", *demoAddr},
	} {
		if (p.flag == "--ui-port" && *noUI) || (p.flag == "--mcp-addr" && *noMCP) {
			continue
		}
		if err := checkFree(p.addr); err != nil {
			return fmt.Errorf("%s %s is in use (another flowgate or temporal running?); pick another with %s", p.flag, p.addr, p.flag)
		}
	}

	started := time.Now()
	var closer stack.Closer
	defer closer.Close()
	srv, err := devserver.Start(ctx, devserver.Options{
		DatabaseFile: temporalDB, PostgresDSN: *temporalDSN, IP: *ip, FrontendPort: *port, UIPort: *uiPort, UI: !*noUI, ReadOnlyUI: auth != nil,
		Durability: dur, Logger: logger, SearchAttributes: searchAttributes(), ExtraNamespaces: extraNamespaces(*toolsNS),
		HistoryCacheSize: *historyCache, Retention: *retention, UIOrigins: uiOrigins(origins, auth),
	})
	if err != nil {
		return fmt.Errorf("embedded Temporal: %w (database file set by --db / --data-dir)", err)
	}
	closer.Add(srv.Stop)
	if *debugAddr != "" {
		stop, err := debugserver.Listen(*debugAddr)
		if err != nil {
			return usageError{err}
		}
		closer.Add(func() { _ = stop() })
	}

	backends, err := demo.Open(stack.DemoStatePath(*dataDir))
	if err != nil {
		return err
	}
	closer.Add(func() { backends.Close() })
	demoURL, stopDemo, err := backends.Serve(*demoAddr)
	if err != nil {
		return err
	}
	closer.Add(stopDemo)

	tp, stopTracing, err := startTracing(ctx, logger)
	if err != nil {
		return err
	}
	closer.Add(stopTracing)
	reg := metrics.New()
	c, err := temporalclient.Dial(ctx, temporalclient.Config{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: logger, Metrics: reg.SDKHandler(), Tracing: tp})
	if err != nil {
		return fmt.Errorf("connect to embedded Temporal: %w", err)
	}
	closer.Add(c.Close)

	if !*noWorker {
		w, err := stack.StartWorker(ctx, c, stack.WorkerConfig{AppDatabase: appDB, Sandbox: sandbox, GatewayBaseURL: demoURL, DirectCalls: direct,
			Namespace: srv.Namespace(), ToolsNamespace: *toolsNS, WorkflowCacheSize: *workflowCache, DecisionKeys: keys, Notifier: notifier, Tracing: tp,
			Callbacks: &activities.Callbacks{Signer: stack.NewCallbackSigner(linkKeys, cmp.Or(nf.ApprovalURL, "http://"+*mcpAddr))}}, logger)
		if err != nil {
			return err
		}
		closer.Add(w.Stop)
	}
	mcpURL := ""
	// The process that loads the definitions keeps their schedules in Temporal, whether or
	// not it serves MCP: with --no-mcp and --processes the server is built for that alone,
	// so the schedules are made from the same settings (separation of duties, decision
	// keys) the server that serves them would use.
	keepSchedules := len(pf.List()) > 0
	var m *mcpserver.Server
	if !*noMCP || keepSchedules {
		// The worker here reads the sandbox this server sees: a start naming a missing
		// manifest is refused at once. Workers elsewhere (--no-worker) have their own.
		workerSandbox := ""
		if !*noWorker {
			workerSandbox = sandbox
		}
		m, err = stack.NewMCP(c, srv.Namespace(), stack.MCPConfig{UIBaseURL: srv.UIURL(), Actor: *actor, Auth: auth, Sandbox: workerSandbox, Metrics: reg, Sessions: sf, DirectCalls: direct, AllowedOrigins: origins, ToolsNamespace: *toolsNS, Processes: catalog, DecisionKeys: keys, LinkKeys: linkKeys,
			WorkflowCacheSize: *workflowCache, HistoryCacheSize: *historyCache, ServerCaches: srv.Caches, Tracing: tp}, logger)
		if err != nil {
			return usageError{err}
		}
		if keepSchedules {
			m.KeepSchedules(ctx)
		}
	}
	if !*noMCP {
		h, err := m.ListenHTTP(*mcpAddr)
		if err != nil {
			return err
		}
		closer.Add(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = h.Shutdown(sctx)
		})
		mcpURL = h.URL()
	}
	dbDesc := temporalDB
	if *temporalDSN != "" {
		if u, err := url.Parse(*temporalDSN); err == nil {
			dbDesc = "PostgreSQL " + u.Host + u.Path // never the password
		}
	}
	printBanner(stdout, banner{
		Ready: time.Since(started), Temporal: srv.FrontendAddress(), UI: srv.UIURL(), MCP: mcpURL, Demo: demoURL,
		DB: dbDesc, DataDir: *dataDir, Sandbox: sandbox, Worker: !*noWorker, Actor: *actor, Auth: auth != nil, IP: *ip,
		Binary: stdioBinary(), PID: os.Getpid(), Processes: catalog.FileNames(), ProcessPaths: absPaths(pf.List()), ProcessReload: pf.Reload, DecisionKeys: signingKeysPath(keys, dk.Path), Notify: notifyLine(notifier),
	})
	<-ctx.Done()
	fmt.Fprintln(stdout, "flowgate: stopping…")
	return nil
}

// uiOrigins are the origins the web UI answers at besides loopback, as the MCP server's
// pages do: the allowed origins, and the public URL's (--resource-url) with auth on.
func uiOrigins(allowed []string, auth *mcpserver.AuthConfig) []string {
	out := slices.Clone(allowed)
	if auth != nil {
		if o := hostallow.Origin(auth.ResourceURL); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// extraNamespaces are the namespaces the embedded server creates beside default.
func extraNamespaces(tools string) []string {
	if tools == "" || tools == "default" {
		return nil
	}
	return []string{tools}
}

// searchAttributes are Flowgate's custom search attributes, all Keyword.
func searchAttributes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, name := range workflows.SearchAttributeNames {
		out[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return out
}

func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

type banner struct {
	Ready                                time.Duration
	Temporal, UI, MCP, Demo, DB, DataDir string
	Sandbox, Actor                       string
	// IP is the address Temporal and the UI listen on.
	IP           string
	Worker, Auth bool
	// Binary is the flowgate binary an MCP client runs over stdio.
	Binary binaryPath
	// PID is this process's id, for stopping it when Ctrl-C does not reach it.
	PID int
	// ProcessReload is how often ProcessPaths are checked (0: only on SIGHUP).
	ProcessReload time.Duration
	// Processes are the loaded process definitions, from ProcessPaths (absolute).
	Processes    []string
	ProcessPaths []string
	// DecisionKeys is the decision keys file (absolute), when decisions are signed.
	DecisionKeys string
	// Notify says where gates are told, or is empty.
	Notify string
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	return absPaths([]string{p})[0]
}

// stdioArgs are the arguments of `flowgate mcp` in a stdio client config. The web UI's
// address is passed always: mcp's default is port 8233, whatever --ui-port this server
// was given, and "" (no UI served) turns the links off rather than pointing at nothing.
func stdioArgs(uiURL string, processPaths []string, decisionKeys string) []string {
	args := []string{"mcp", "--transport", "stdio", "--ui-url", uiURL}
	if len(processPaths) > 0 {
		args = append(args, "--processes", strings.Join(processPaths, ","))
	}
	if decisionKeys != "" {
		// The local user's decisions are signed like the HTTP endpoint's, so runs that
		// take signed decisions only accept them.
		args = append(args, "--decision-keys", decisionKeys)
	}
	return args
}

// absPaths makes paths absolute, for a client config started from another folder.
func absPaths(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		out[i] = p
	}
	return out
}

// binaryPath is where a flowgate binary is, for a client's stdio config: the running one,
// or where `go install` puts one when this process runs from `go run`'s temporary build.
type binaryPath struct {
	Path string
	// Temporary is true under `go run`: the running binary is deleted on exit.
	Temporary bool
}

// stdioBinary finds the binary a stdio MCP client should start. Clients such as Claude
// Desktop have no working-directory setting, so the config names an absolute path.
func stdioBinary() binaryPath {
	exe, err := os.Executable()
	if err == nil {
		if resolved, rerr := filepath.EvalSymlinks(exe); rerr == nil {
			exe = resolved
		}
	}
	if err == nil && !isGoRunBuild(exe) {
		return binaryPath{Path: exe}
	}
	bin := os.Getenv("GOBIN")
	if bin == "" {
		bin = filepath.Join(build.Default.GOPATH, "bin")
	}
	return binaryPath{Path: filepath.Join(bin, "flowgate"), Temporary: true}
}

// isGoRunBuild reports whether exe is a binary `go run` built into its temporary folder.
func isGoRunBuild(exe string) bool {
	return strings.Contains(filepath.ToSlash(exe), "/go-build")
}

func printBanner(w io.Writer, b banner) {
	db := b.DB
	if db == "" {
		db = "in memory (gone on exit)"
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\nFlowgate is ready (%s)\n\n", b.Ready.Round(time.Millisecond))
	fmt.Fprintf(&s, "  Temporal    %s   (namespace default, state in %s)\n", b.Temporal, db)
	if b.UI != "" {
		fmt.Fprintf(&s, "  Web UI      %s\n", b.UI)
	}
	if b.MCP != "" {
		fmt.Fprintf(&s, "  MCP (HTTP)  %s\n", b.MCP)
	}
	fmt.Fprintf(&s, "  Worker      %s\n", map[bool]string{true: "running, task queue " + workflows.TaskQueue, false: "off (--no-worker): run `flowgate worker`"}[b.Worker])
	fmt.Fprintf(&s, "  Demo APIs   %s   Files: %s\n", b.Demo, b.Sandbox)
	if len(b.ProcessPaths) > 0 {
		names := strings.Join(b.Processes, ", ")
		if names == "" {
			names = "none valid (run flowgate processes validate)"
		}
		reload := "reloaded on change and on SIGHUP"
		if b.ProcessReload == 0 {
			reload = "reloaded on SIGHUP"
		}
		fmt.Fprintf(&s, "  Processes   onboarding, deployment, audit (built in); %s (from %s, %s; a file named like a built-in definition takes its place)\n", names, strings.Join(b.ProcessPaths, ", "), reload)
	}
	if b.Notify != "" {
		fmt.Fprintf(&s, "  Notify      %s\n", b.Notify)
	}
	if b.Auth {
		s.WriteString("  Auth        on: API keys / OAuth bearer tokens; the caller is the actor; requesters cannot approve their own workflows;\n")
		s.WriteString("              every decision is signed, so runs take none from the Temporal UI or raw signals; the UI is read-only\n")
		if b.IP != "" && !net.ParseIP(b.IP).IsLoopback() {
			fmt.Fprintf(&s, "              Temporal's frontend (%s) has no authentication of its own: expose it only to the workers and MCP servers\n", b.Temporal)
		}
	} else {
		fmt.Fprintf(&s, "  Auth        none (loopback only); every call acts as %q, so separation of duties is off\n", b.Actor)
	}
	if b.MCP != "" {
		// With auth on, a client sends its key: the configs say where, with a placeholder.
		headers := ""
		if b.Auth {
			headers = `, "headers": {"X-API-Key": "YOUR-API-KEY"}`
		}
		fmt.Fprintf(&s, `
Connect an MCP client:
  Claude Desktop / VS Code over HTTP:  {"mcpServers": {"flowgate": {"type": "http", "url": "%[1]s"%[2]s}}}
  VS Code (.vscode/mcp.json):          {"servers": {"flowgate": {"type": "http", "url": "%[1]s"%[2]s}}}
`, b.MCP, headers)
		s.WriteString("  Over stdio (keep this process running for Temporal)")
		if b.Binary.Temporary {
			s.WriteString(", install the binary first with `go install ./cmd/flowgate` in the repository, then:\n")
		} else {
			s.WriteString(":\n")
		}
		type server struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		}
		cfg, _ := json.Marshal(map[string]any{"mcpServers": map[string]server{"flowgate": {
			Command: b.Binary.Path, Args: stdioArgs(b.UI, b.ProcessPaths, b.DecisionKeys),
			Env: map[string]string{"TEMPORAL_ADDRESS": b.Temporal},
		}}})
		fmt.Fprintf(&s, "    %s\n", cfg)
	}
	fmt.Fprintf(&s, "\nPress Ctrl-C to stop (or kill %d). Running and waiting workflows resume on the next start.\n", b.PID)
	fmt.Fprint(w, s.String())
}

// signingKeysPath is the decision keys file when decisions are signed (auth on, or keys
// given), for the stdio config; keys loaded only to sign approval links are not passed.
func signingKeysPath(keys *signing.Keys, path string) string {
	if keys == nil {
		return ""
	}
	return absPath(path)
}

// notifyLine says where gates are told and who gets links.
func notifyLine(n *activities.Notifier) string {
	if n == nil {
		return ""
	}
	var names []string
	for _, c := range n.Channels {
		names = append(names, c.Name())
	}
	line := strings.Join(names, ", ")
	if len(n.Approvers) > 0 {
		line += "; approval links for " + strings.Join(n.Approvers, ", ") + " and each gate's named approvers"
	} else {
		line += "; approval links for each gate's named approvers (add people with --notify-approvers)"
	}
	return line
}
