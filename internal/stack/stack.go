// Package stack assembles Flowgate's processes from its parts: the embedded Temporal
// server, the demo backends, the worker and the MCP server. The flowgate binary's
// subcommands and the integration tests both start Flowgate through it.
package stack

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/internal/temporalclient"
	"github.com/flowgate/flowgate/internal/tracing"
	"github.com/flowgate/flowgate/workflows"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/metrics"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/worker"
)

// WorkerConfig configures a worker's activities.
type WorkerConfig struct {
	// AppDatabase is the SQLite file of the application database.
	AppDatabase string
	// Sandbox is the file sandbox folder.
	Sandbox string
	// Services configures the gateway. Empty means GatewayBaseURL's layout, or demo
	// backends served by the worker itself when that is empty too.
	Services map[string]activities.Service
	// GatewayBaseURL is a base URL under which every default service answers at /{name}.
	GatewayBaseURL string
	// DirectCalls opens endpoints to agents' own call_service calls besides GET. Nil
	// means DefaultDirectCalls of the services.
	DirectCalls activities.DirectCalls
	// StopTimeout is how long a stopping worker lets in-flight activities finish.
	StopTimeout time.Duration
	// WorkflowCacheSize bounds the runs a worker process keeps in memory between their
	// workflow tasks (0 keeps what SetWorkflowCacheSize set, or the SDK's 10 000). A run
	// evicted from it is rebuilt by replay when it next has work. The cache is the
	// process's, made by its first SDK worker: where an embedded Temporal server runs in
	// the process, call SetWorkflowCacheSize before it starts.
	WorkflowCacheSize int
	// Namespace is the processes' namespace, the one c uses.
	Namespace string
	// ToolsNamespace is where the tool_call runs of the data tools live (a second worker
	// polls it); empty or the client's own namespace keeps them beside the processes.
	ToolsNamespace string
	// DecisionKeys verify signed decisions (the MCP server's file); nil leaves runs that
	// require them unable to take any decision on this worker.
	DecisionKeys *signing.Keys
	// Notifier tells people of gates (NotifyFlags.Notifier); nil notifies nobody.
	Notifier *activities.Notifier
	// Callbacks make the callback URLs of event waits (NewCallbackSigner); nil makes none.
	Callbacks *activities.Callbacks
	// Tracing is the tracer provider of tracing.Setup; nil is off. The workflows and
	// activities are traced by the interceptor of the client the worker is given (dial it
	// with the same provider); here it traces the gateway's calls, which carry the trace
	// to the backends in traceparent, and the tools namespace's client.
	Tracing trace.TracerProvider
}

// Bounds of the worker's workflow cache. The default holds the runs that are working (a
// few seconds each between their start and their gate) with room to spare, and lets a
// waiting run fall out. Measured (BENCHMARKS.md, 500 then 2 000 runs waiting): a cached
// run costs about 50 KiB (its coroutines' stacks and state), so RSS grew 14% with 256
// against 31% with 1 000 and 70% with the SDK's 10 000; bringing 2 000 runs to their gate
// took no longer with 256; approving a run no longer cached replays its short history,
// 79 ms to completion against 64 ms.
const (
	DefaultWorkflowCacheSize = 256
	MaxWorkflowCacheSize     = 1_000_000
)

// SetWorkflowCacheSize sets how many runs the process's workers keep in memory between
// their workflow tasks. The SDK makes one cache per process when its first worker starts
// and keeps it while any worker lives, so this must come before that: before an embedded
// Temporal server starts, whose own system workers (scanner, scheduler, batcher) are the
// first. Measured (BENCHMARKS.md): set after them, it bounded nothing.
func SetWorkflowCacheSize(n int) {
	sdkworker.SetStickyWorkflowCacheSize(n)
}

// CheckWorkflowCacheSize refuses a --workflow-cache value a worker cannot use.
func CheckWorkflowCacheSize(n int) error {
	if n < 1 || n > MaxWorkflowCacheSize {
		return fmt.Errorf("--workflow-cache %d: allowed is 1 to %d runs kept in memory between their workflow tasks (default %d)", n, MaxWorkflowCacheSize, DefaultWorkflowCacheSize)
	}
	return nil
}

// DefaultToolsNamespace keeps the data tools' short tool_call runs out of the processes'
// way: the Temporal UI opens on the processes' namespace and lists them alone.
const DefaultToolsNamespace = "flowgate-tools"

// Worker is a running Flowgate worker with its activities' resources.
type Worker struct {
	w       sdkworker.Worker
	tools   sdkworker.Worker
	toolsC  client.Client
	db      *activities.Database
	files   *activities.Files
	stopAux func()
	// GatewayURL is where the demo backends answer when the worker serves them itself.
	GatewayURL string
}

// StartWorker opens the activities' resources and starts polling Flowgate's task queue.
func StartWorker(ctx context.Context, c client.Client, cfg WorkerConfig, logger *slog.Logger) (*Worker, error) {
	db, err := activities.OpenDatabase(ctx, cfg.AppDatabase)
	if err != nil {
		return nil, err
	}
	files, err := activities.OpenFiles(cfg.Sandbox)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := demo.SeedSandbox(cfg.Sandbox); err != nil {
		db.Close()
		files.Close()
		return nil, err
	}
	w := &Worker{db: db, files: files, stopAux: func() {}}
	services := cfg.Services
	if len(services) == 0 {
		base := cfg.GatewayBaseURL
		if base == "" {
			// Beside the sandbox, so the backends' state survives a restart like the rest.
			backends, err := demo.Open(DemoStatePath(filepath.Dir(cfg.Sandbox)))
			if err != nil {
				w.close()
				return nil, err
			}
			url, stop, err := backends.Serve("127.0.0.1:0")
			if err != nil {
				backends.Close()
				w.close()
				return nil, err
			}
			base, w.GatewayURL = url, url
			w.stopAux = func() { stop(); backends.Close() }
			logger.Info("no gateway services configured: serving demo backends", "url", url)
		}
		services = demo.Services(base)
	}
	stopTimeout := cfg.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 10 * time.Second
	}
	if cfg.WorkflowCacheSize > 0 {
		SetWorkflowCacheSize(cfg.WorkflowCacheSize)
	}
	acts := worker.Activities{
		Database:  db,
		Gateway:   &activities.Gateway{Client: &http.Client{Transport: tracing.Transport(cfg.Tracing, nil)}, Services: services, Direct: directCallsOr(cfg.DirectCalls, len(cfg.Services) == 0)},
		Files:     files,
		Notifier:  cfg.Notifier,
		Callbacks: cfg.Callbacks,
	}
	opts := sdkworker.Options{WorkerStopTimeout: stopTimeout}
	if cfg.DecisionKeys != nil {
		// Every run this worker starts takes only signed decisions, whatever its input says.
		opts.Interceptors = append(opts.Interceptors, workflows.SignedOnly(cfg.DecisionKeys))
	}
	w.w = worker.New(c, acts, opts)
	if err := w.w.Start(); err != nil {
		w.close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	if ns := cfg.ToolsNamespace; ns != "" && ns != cfg.Namespace {
		tc, err := ToolsClient(c, ns, logger, cfg.Tracing)
		if err != nil {
			w.Stop()
			return nil, err
		}
		w.toolsC = tc
		w.tools = worker.New(tc, acts, opts)
		if err := w.tools.Start(); err != nil {
			w.Stop()
			return nil, fmt.Errorf("start worker in namespace %s: %w; create it (temporal operator namespace create %s) or pass --tools-namespace with the processes' namespace", ns, err, ns)
		}
	}
	return w, nil
}

// ToolsClient is a client for the tools namespace sharing c's connection, logging to
// logger and tracing with tp (nil: off).
func ToolsClient(c client.Client, namespace string, logger *slog.Logger, tp trace.TracerProvider) (client.Client, error) {
	return temporalclient.ForNamespace(c, namespace, logger, tp)
}

// Stop stops polling, lets in-flight activities finish, and closes the resources.
func (w *Worker) Stop() {
	if w.tools != nil {
		w.tools.Stop()
	}
	if w.w != nil {
		w.w.Stop()
	}
	if w.toolsC != nil {
		w.toolsC.Close()
	}
	w.close()
}

func (w *Worker) close() {
	w.stopAux()
	w.files.Close()
	w.db.Close()
}

// DialTemporal connects to Temporal with the standard client environment
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables and the Temporal
// CLI's profile file), overridden by hostPort and namespace when they are set. It fails
// with a sentence naming the address and the variable that sets it. A non-nil tp traces
// the client's calls and its workers' workflows and activities.
func DialTemporal(ctx context.Context, hostPort, namespace string, metrics client.MetricsHandler, logger *slog.Logger, tp trace.TracerProvider) (client.Client, error) {
	return temporalclient.Dial(ctx, temporalclient.Config{HostPort: hostPort, Namespace: namespace, FromEnvironment: true, Metrics: metrics, Logger: logger, Tracing: tp})
}

// MCPConfig configures an MCP server process.
type MCPConfig struct {
	UIBaseURL          string
	Actor              string
	SeparationOfDuties bool
	// Auth turns authentication on; separation of duties is then on as well.
	Auth           *mcpserver.AuthConfig
	AllowedOrigins []string
	// Metrics, when set, records tool calls and is served at /metrics.
	Metrics *metrics.Metrics
	// Services are the gateway's service names; empty means the demo services.
	Services []string
	// Sandbox is the workers' file sandbox when they run in this process (flowgate dev):
	// a start naming a file a step parses that is missing there is refused. Empty checks
	// nothing; the worker's step refuses it.
	Sandbox string
	// DirectCalls is the workers' direct-call policy (their --direct-calls); nil means
	// DefaultDirectCalls of the services.
	DirectCalls activities.DirectCalls
	// Sessions bounds the Streamable HTTP sessions.
	Sessions SessionFlags
	// ToolsNamespace is where data-tool calls run; empty or the processes' namespace keeps
	// them beside the processes.
	ToolsNamespace string
	// Processes are the loaded process definitions; nil means the shipped ones only.
	Processes *processes.Catalog
	// DecisionKeys sign every decision; runs started with them accept signed decisions
	// only. Required with Auth.
	DecisionKeys *signing.Keys
	// LinkKeys check approval links when DecisionKeys is nil (notifications without
	// authentication): the workers' --decision-keys, which sign the links.
	LinkKeys *signing.Keys
	// WorkflowCacheSize and HistoryCacheSize are the bounds of the caches of a worker and
	// an embedded server in this process, for admin://system/stats (0: none here). The
	// worker's figures come from Metrics.
	WorkflowCacheSize, HistoryCacheSize int
	// ServerCaches, when set, reads the history caches of an embedded server in this
	// process, for admin://system/stats and /metrics.
	ServerCaches func() metrics.ServerCaches
	// Tracing is the tracer provider of tracing.Setup; nil is off. It makes each MCP
	// request a span (continuing the client's traceparent) and traces the tools
	// namespace's client; the processes' client traces with the provider it was dialed with.
	Tracing trace.TracerProvider
}

// SessionFlags bound the MCP server's Streamable HTTP sessions.
type SessionFlags struct {
	IdleTimeout            time.Duration
	MaxSessions            int
	MaxSessionsPerIdentity int
}

// Register adds --session-idle-timeout, --max-sessions and --max-sessions-per-identity.
func (f *SessionFlags) Register(fs *flag.FlagSet) {
	fs.DurationVar(&f.IdleTimeout, "session-idle-timeout", mcpserver.DefaultSessionIdleTimeout, "MCP sessions idle this long expire (clients that never close theirs cannot pile them up)")
	fs.IntVar(&f.MaxSessions, "max-sessions", mcpserver.DefaultMaxSessions, "most open MCP sessions in all; past it initialize gets 503 with Retry-After")
	fs.IntVar(&f.MaxSessionsPerIdentity, "max-sessions-per-identity", mcpserver.DefaultMaxSessionsPerIdentity, "most open MCP sessions one identity may hold; past it initialize gets 429 with Retry-After")
}

// Check names a bound that cannot work.
func (f SessionFlags) Check() error {
	switch {
	case f.IdleTimeout < time.Second:
		return fmt.Errorf("--session-idle-timeout %s: use at least 1s, such as 30m", f.IdleTimeout)
	case f.MaxSessions < 1:
		return fmt.Errorf("--max-sessions %d: use 1 or more", f.MaxSessions)
	case f.MaxSessionsPerIdentity < 1:
		return fmt.Errorf("--max-sessions-per-identity %d: use 1 or more", f.MaxSessionsPerIdentity)
	}
	return nil
}

// NewMCP builds the MCP server for a client.
func NewMCP(c client.Client, namespace string, cfg MCPConfig, logger *slog.Logger) (*mcpserver.Server, error) {
	if cfg.Auth != nil && cfg.DecisionKeys == nil {
		return nil, errors.New("--decision-keys FILE is required with --api-keys or --oauth-issuer: the server signs every decision with it, so nobody who reaches Temporal can decide under another name (the file is created when missing; give every worker the same file)")
	}
	var tools client.Client
	if ns := cfg.ToolsNamespace; ns != "" && ns != namespace {
		var err error
		if tools, err = ToolsClient(c, ns, logger, cfg.Tracing); err != nil {
			return nil, err
		}
	}
	if cfg.Processes == nil {
		// No folder given: the definitions shipped in the binary.
		cat, err := processes.NewCatalog(nil, workflows.DefinitionRules{Services: serviceNamesOr(cfg.Services)}, logger.With("component", "processes"))
		if err != nil {
			return nil, fmt.Errorf("built-in process definitions: %w", err)
		}
		cfg.Processes = cat
	}
	if names, ok := keyNames(cfg.Auth); ok {
		log := logger.With("component", "processes")
		WarnUnknownApprovers(cfg.Processes, names, log)
		cfg.Processes.OnChange(func() { WarnUnknownApprovers(cfg.Processes, names, log) })
	}
	srv, err := mcpserver.New(mcpserver.Config{
		Caches:                 caches(cfg),
		Client:                 c,
		ToolsClient:            tools,
		Namespace:              namespace,
		UIBaseURL:              cfg.UIBaseURL,
		Actor:                  cfg.Actor,
		SeparationOfDuties:     cfg.SeparationOfDuties || cfg.Auth != nil,
		Auth:                   cfg.Auth,
		AllowedOrigins:         cfg.AllowedOrigins,
		Logger:                 logger.With("component", "mcp"),
		Observer:               observer(cfg.Metrics),
		MetricsHandler:         metricsHandler(cfg.Metrics),
		Services:               serviceNamesOr(cfg.Services),
		Sandbox:                cfg.Sandbox,
		DirectCalls:            directCallsOr(cfg.DirectCalls, len(cfg.Services) == 0),
		SessionIdleTimeout:     cfg.Sessions.IdleTimeout,
		MaxSessions:            cfg.Sessions.MaxSessions,
		MaxSessionsPerIdentity: cfg.Sessions.MaxSessionsPerIdentity,
		Processes:              cfg.Processes,
		DecisionKeys:           cfg.DecisionKeys,
		LinkKeys:               cfg.LinkKeys,
		Tracing:                cfg.Tracing,
	})
	if err == nil && cfg.Metrics != nil {
		err = cfg.Metrics.WatchPile(func(ctx context.Context) (metrics.Pile, error) {
			waiting, oldest, err := srv.Waiting(ctx)
			return metrics.Pile{Waiting: waiting, Oldest: oldest}, err
		}, PileScrapeInterval)
	}
	if err == nil && cfg.Metrics != nil && cfg.ServerCaches != nil {
		err = cfg.Metrics.WatchServerCaches(cfg.ServerCaches)
	}
	return srv, err
}

// PileScrapeInterval is how long /metrics reuses its count of the waiting runs: a count
// costs a few dozen visibility queries.
const PileScrapeInterval = 15 * time.Second

// caches reads the worker's workflow cache from the process's metrics, when a worker runs
// in this process.
func caches(cfg MCPConfig) func() *mcpserver.Caches {
	if cfg.WorkflowCacheSize == 0 || cfg.Metrics == nil {
		return nil
	}
	return func() *mcpserver.Caches {
		c := &mcpserver.Caches{WorkflowCacheLimit: cfg.WorkflowCacheSize, HistoryCacheLimit: cfg.HistoryCacheSize, WorkerCache: cfg.Metrics.WorkerCache()}
		if cfg.ServerCaches != nil {
			server := cfg.ServerCaches()
			c.Server = &server
		}
		return c
	}
}

func observer(m *metrics.Metrics) mcpserver.CallObserver {
	if m == nil {
		return nil
	}
	return m
}

func metricsHandler(m *metrics.Metrics) http.Handler {
	if m == nil {
		return nil
	}
	return m.Handler()
}

// ServeMetrics serves /metrics on addr until ctx ends; a taken address is an error.
func ServeMetrics(ctx context.Context, addr string, m *metrics.Metrics) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %s is not available: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return nil
}

// keyNames are the identities that can sign in, when all of them are known: API keys
// only (a token's subject may be anyone the issuer knows). Revoked keys are left out.
func keyNames(auth *mcpserver.AuthConfig) ([]string, bool) {
	if auth == nil || auth.OAuth != nil || len(auth.APIKeys) == 0 {
		return nil, false
	}
	var names []string
	for _, k := range auth.APIKeys {
		if !k.Revoked {
			names = append(names, k.Name)
		}
	}
	return names, true
}

// WarnUnknownApprovers logs each approver a loaded process's gates name that no API key
// has: the gate would wait for somebody who cannot sign in (and a notification would
// send them a link nobody can use). A warning, not a refusal: keys may be added later.
func WarnUnknownApprovers(cat *processes.Catalog, keys []string, logger *slog.Logger) {
	for _, p := range cat.List() {
		if unknown := p.UnknownApprovers(keys); len(unknown) > 0 {
			logger.Warn("process gates name approvers no API key has; they wait for nobody who can sign in",
				"process", p.Definition.Name, "file", p.Path, "approvers", strings.Join(unknown, ", "))
		}
	}
}

// AuthFlags are the command-line settings of authentication.
type AuthFlags struct {
	APIKeysFile, OAuthIssuer, OAuthJWKSURL, ResourceURL string
	// OAuthGroupsClaim is the token claim that lists a person's groups
	// (mcpserver.OAuthConfig.GroupsClaim).
	OAuthGroupsClaim string
	// RateLimit and RateBurst limit each identity's requests per second.
	RateLimit float64
	RateBurst int
}

// OAuthGroupsClaimUsage is the help of the --oauth-groups-claim flag.
const OAuthGroupsClaimUsage = "the OAuth token claim listing a person's groups, such as groups: each VALUE becomes the scope group:VALUE, which a gate naming that group admits (env FLOWGATE_OAUTH_GROUPS_CLAIM; needs --oauth-issuer)"

// RegisterRateFlags adds --rate-limit and --rate-burst to fs.
func (f *AuthFlags) RegisterRateFlags(fs *flag.FlagSet) {
	fs.Float64Var(&f.RateLimit, "rate-limit", 20, "requests per second each authenticated identity may send; 0 for no limit")
	fs.IntVar(&f.RateBurst, "rate-burst", 40, "requests an identity may send at once above --rate-limit")
}

// Config returns the auth configuration the flags describe, or nil when none is set.
func (f AuthFlags) Config() (*mcpserver.AuthConfig, error) {
	if f.OAuthGroupsClaim != "" && f.OAuthIssuer == "" {
		return nil, fmt.Errorf("--oauth-groups-claim %s: it names a claim of OAuth tokens, and no --oauth-issuer is given; allowed only with --oauth-issuer", f.OAuthGroupsClaim)
	}
	if f.APIKeysFile == "" && f.OAuthIssuer == "" {
		return nil, nil
	}
	if f.RateLimit < 0 || f.RateBurst < 0 {
		return nil, fmt.Errorf("--rate-limit %g and --rate-burst %d must be 0 or positive", f.RateLimit, f.RateBurst)
	}
	cfg := &mcpserver.AuthConfig{ResourceURL: f.ResourceURL, RateLimit: f.RateLimit, RateBurst: f.RateBurst}
	if f.APIKeysFile != "" {
		raw, err := os.ReadFile(f.APIKeysFile)
		if err != nil {
			return nil, fmt.Errorf("--api-keys: %w", err)
		}
		if err := json.Unmarshal(raw, &cfg.APIKeys); err != nil {
			return nil, fmt.Errorf("--api-keys %s: want a JSON list of {\"name\", \"sha256\", \"scopes\"}: %w", f.APIKeysFile, err)
		}
	}
	if f.OAuthIssuer != "" {
		if f.ResourceURL == "" {
			return nil, errors.New("--oauth-issuer needs --resource-url, the URL clients use for this server (the audience of its tokens)")
		}
		cfg.OAuth = &mcpserver.OAuthConfig{Issuer: f.OAuthIssuer, JWKSURL: f.OAuthJWKSURL, GroupsClaim: strings.TrimSpace(f.OAuthGroupsClaim)}
	}
	return cfg, nil
}

func serviceNamesOr(names []string) []string {
	if len(names) == 0 {
		return activities.DefaultServiceNames
	}
	return names
}

// AllowedOriginsUsage is the help of the --allowed-origins flag.
const AllowedOriginsUsage = "browser origins besides loopback that may call the MCP endpoint, post approval and inbox forms and (in dev) open the web UI, comma-separated scheme://host[:port] (env FLOWGATE_ALLOWED_ORIGINS)"

// ParseAllowedOrigins reads an --allowed-origins value: comma-separated origins, each
// scheme://host[:port] with scheme http or https and nothing after the host.
func ParseAllowedOrigins(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		o := strings.TrimSpace(part)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("--allowed-origins: %q is not an origin; allowed: scheme://host[:port] with http or https, e.g. https://flowgate.example.com", o)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

// DemoDirectCalls is the direct-call policy on the demo backends: agents may place an
// order; deployments, accounts, access and refunds are made by processes only.
const DemoDirectCalls = "orders POST orders"

// DirectCallsUsage is the help of the --direct-calls flag.
const DirectCallsUsage = "endpoints besides GET that agents may call with call_service outside a process, as " + activities.DirectCallsSyntax + "; none for GET only (env FLOWGATE_DIRECT_CALLS; default with the demo backends: \"" + DemoDirectCalls + "\", else none)"

// ParseDirectCalls reads a --direct-calls value: empty means the default of the services
// (DemoDirectCalls on the demo backends, GET only elsewhere), none means GET only.
func ParseDirectCalls(s string, demoServices bool) (activities.DirectCalls, error) {
	switch strings.TrimSpace(s) {
	case "":
		return directCallsOr(nil, demoServices), nil
	case "none":
		return activities.DirectCalls{}, nil
	}
	p, err := activities.ParseDirectCalls(s)
	if err != nil {
		return nil, fmt.Errorf("--direct-calls: %w", err)
	}
	return p, nil
}

// directCallsOr is p, or the default policy when p is nil: DemoDirectCalls on the demo
// backends, GET only elsewhere.
func directCallsOr(p activities.DirectCalls, demoServices bool) activities.DirectCalls {
	if p != nil {
		return p
	}
	if demoServices {
		d, _ := activities.ParseDirectCalls(DemoDirectCalls)
		return d
	}
	return activities.DirectCalls{}
}

// ServiceNames returns the sorted names of a --services value, or the demo services'
// names when it is empty.
func ServiceNames(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return activities.DefaultServiceNames, nil
	}
	svc, err := ParseServices(s)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(svc)), nil
}

// ParseServices reads a gateway configuration of the form "name=url,name=url".
func ParseServices(s string) (map[string]activities.Service, error) {
	out := map[string]activities.Service{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, url, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			return nil, fmt.Errorf("services: %q is not name=http(s)://url", part)
		}
		out[name] = activities.Service{BaseURL: url, Timeout: 10 * time.Second}
	}
	return out, nil
}

// LocalActor is the identity used when calls carry none: the OS user, or "local".
func LocalActor() string {
	for _, k := range []string{"USER", "USERNAME", "LOGNAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "local"
}

// Closer runs cleanups in reverse order.
type Closer []func()

// Add registers a cleanup.
func (c *Closer) Add(f func()) { *c = append(*c, f) }

// Close runs the cleanups, last added first.
func (c Closer) Close() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// EnsureDir creates a folder readable by this user only (a folder made before, with
// wider permissions, is narrowed to it) and checks it can be written, naming the flag
// that sets it.
func EnsureDir(dir, flag string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s (set by %s): %w", dir, flag, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("cannot make %s (set by %s) private to its user: %w", dir, flag, errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("folder %s (set by %s) is not writable: %w", dir, flag, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// DemoStatePath is the demo backends' state file in a data folder.
func DemoStatePath(dataDir string) string { return filepath.Join(dataDir, "demo.db") }

// DataPaths are the files below a data folder.
func DataPaths(dataDir string) (temporalDB, appDB, sandbox string) {
	return filepath.Join(dataDir, "temporal.db"), filepath.Join(dataDir, "app.db"), filepath.Join(dataDir, "sandbox")
}
