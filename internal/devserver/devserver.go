// Package devserver embeds a complete Temporal service (frontend, history, matching and
// worker roles) and, optionally, the Temporal web UI in the current process. It persists
// to a SQLite file or to memory, in the way the Temporal CLI's `server start-dev` does.
//
// It is the only package of Flowgate that imports go.temporal.io/server, so packages whose
// tests do not need a server stay quick to compile.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowgate/flowgate/internal/freeport"
	"github.com/flowgate/flowgate/internal/hostallow"
	"github.com/flowgate/flowgate/internal/temporalclient"
)

// Durability selects how the embedded server's SQLite file trades write speed for crash safety.
type Durability string

const (
	// DurabilityProcessCrash uses a write-ahead log with synchronous=NORMAL: every committed transaction survives a crash or kill -9 of the process;
	// the last transactions before a power loss or kernel crash may be lost (the file
	// stays consistent). This is the default.
	DurabilityProcessCrash Durability = "process"
	// DurabilityPowerLoss uses a write-ahead log with synchronous=FULL: every committed
	// transaction survives a power loss too, at the price of an fsync per commit.
	DurabilityPowerLoss Durability = "power"
	// DurabilityLegacy is what `temporal server start-dev` uses: SQLite's default rollback
	// journal, one connection, one history shard and the default task-queue partitions.
	// It exists to benchmark against.
	DurabilityLegacy Durability = "legacy"
)

// ParseDurability checks a durability name given on the command line.
func ParseDurability(s string) (Durability, error) {
	switch d := Durability(s); d {
	case DurabilityProcessCrash, DurabilityPowerLoss, DurabilityLegacy:
		return d, nil
	}
	return "", fmt.Errorf("unknown durability %q: allowed are %q, %q and %q",
		s, DurabilityProcessCrash, DurabilityPowerLoss, DurabilityLegacy)
}

// Options configures an embedded server. The zero value of each field has a sensible default.
type Options struct {
	// DatabaseFile is the SQLite file to persist to; it is created with its schema when it
	// does not exist. Empty means an in-memory database that is gone when the server stops.
	DatabaseFile string
	// PostgresDSN, when set, persists to PostgreSQL instead of SQLite:
	// postgres://user:password@host:5432/temporal?sslmode=disable. The database and
	// <name>_visibility are created with their schema when missing, and upgraded on start.
	PostgresDSN string
	// IP is the address every listener binds to; default 127.0.0.1.
	IP string
	// FrontendPort is the gRPC port clients dial; 0 picks a free port.
	FrontendPort int
	// UIPort is the web UI's HTTP port; 0 picks a free port. Ignored unless UI is set.
	UIPort int
	// UI serves the Temporal web UI when set.
	UI bool
	// UIOrigins are the origins (scheme://host[:port]) the web UI is reached at besides
	// loopback and its own address, such as a proxy's public URL. A request naming any
	// other Host is refused with 421, so a page whose DNS name now points at this machine
	// (DNS rebinding) cannot read runs through the UI's API. Ignored unless UI is set.
	UIOrigins []string
	// ReadOnlyUI turns the UI's write actions off (start, signal, cancel, terminate,
	// reset), in the UI server itself: with authentication on, decisions and changes go
	// through Flowgate, and the UI is for inspection.
	ReadOnlyUI bool
	// Namespace is created when missing; default "default".
	Namespace string
	// ExtraNamespaces are created beside Namespace, with the same search attributes
	// (Flowgate keeps its tool calls in one, out of the processes' way).
	ExtraNamespaces []string
	// SearchAttributes are the custom search attributes registered in every namespace.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Durability trades speed for crash safety; default DurabilityProcessCrash.
	Durability Durability
	// HistoryShards is the number of history shards of a new database file (fixed once the
	// file exists); default 4.
	HistoryShards int32
	// Retention is how long finished runs stay in every namespace before Temporal deletes
	// them with their history; default DefaultRetention.
	Retention time.Duration
	// HistoryCacheSize bounds the runs whose mutable state the history service keeps in
	// memory (host level); a run not in it is read from the database when it next has
	// work. Default DefaultHistoryCacheSize.
	HistoryCacheSize int
	// Logger receives the server's warnings and errors; default slog.Default().
	Logger *slog.Logger
}

// Server is a running embedded Temporal service.
type Server struct {
	postgres  bool
	server    temporal.Server
	ui        *uiserver.Server
	uiProxy   *http.Server
	level     *slog.LevelVar
	frontend  string
	uiURL     string
	namespace string
	retention time.Duration
	caches    *cacheMetrics
}

// FrontendAddress is the host:port that Temporal clients dial.
func (s *Server) FrontendAddress() string { return s.frontend }

// UIURL is the base URL of the web UI, or "" when the UI is off.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace the server created for Flowgate.
func (s *Server) Namespace() string { return s.namespace }

// Stop shuts the server and the UI down. The server's shutdown warnings are silenced.
func (s *Server) Stop() {
	s.level.Set(slog.LevelError + 4)
	if s.uiProxy != nil {
		_ = s.uiProxy.Close()
	}
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.server.Stop()
}

// Start boots the server and returns once its frontend accepts calls, the namespace exists
// and every custom search attribute is registered. A port in use or a database file that
// cannot be written is reported as an error naming it; nothing is left running on error.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	ports := []struct {
		name string
		port *int
		on   bool
	}{{"frontend", &opts.FrontendPort, true}, {"web UI", &opts.UIPort, opts.UI}}
	for _, p := range ports {
		if !p.on {
			continue
		}
		if *p.port == 0 {
			free, err := freeport.Port(opts.IP)
			if err != nil {
				return nil, err
			}
			*p.port = free
		} else if err := checkPortFree(opts.IP, *p.port); err != nil {
			return nil, fmt.Errorf("%s port: %w", p.name, err)
		}
	}

	level := &slog.LevelVar{}
	level.Set(slog.LevelWarn)
	conf, err := opts.serverConfig()
	if err != nil {
		return nil, err
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(opts.IP, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	caches := newCacheMetrics()
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.WithCustomMetricsHandler(caches.handler()),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(newServerLogger(opts.Logger, level)),
		temporal.WithDynamicConfigClient(opts.dynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{
		postgres:  opts.PostgresDSN != "",
		server:    srv,
		level:     level,
		frontend:  net.JoinHostPort(opts.IP, strconv.Itoa(opts.FrontendPort)),
		namespace: opts.Namespace,
		retention: opts.retention(),
		caches:    caches,
	}
	for _, ns := range append([]string{opts.Namespace}, opts.ExtraNamespaces...) {
		if err := s.registerSearchAttributes(ctx, ns, opts.SearchAttributes); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if opts.UI {
		if err := s.startUI(opts); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Hardening of the UI port, as on the MCP listener.
const (
	uiHeaderReadTimeout = 10 * time.Second
	uiIdleTimeout       = 60 * time.Second
	uiMaxHeaderBytes    = 64 << 10
)

// startUI serves the web UI on opts.UIPort. The UI server's middleware cannot refuse a
// request, so the UI server listens on a loopback port of its own, and the UI port is a
// proxy in front of it that refuses a Host the UI does not answer to.
func (s *Server) startUI(opts Options) error {
	public := net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort))
	l, err := net.Listen("tcp", public)
	if err != nil {
		return fmt.Errorf("web UI port: %s is not available (in use by another process?): %w", public, err)
	}
	internalIP := "127.0.0.1"
	if ip := net.ParseIP(opts.IP); ip != nil && ip.IsLoopback() {
		internalIP = opts.IP
	}
	internalPort, err := freeport.Port(internalIP)
	if err != nil {
		l.Close()
		return err
	}
	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                internalIP,
		Port:                internalPort,
		TemporalGRPCAddress: s.frontend,
		EnableUI:            true,
		DefaultNamespace:    opts.Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableWriteActions: opts.ReadOnlyUI,
		DisableNewsFetch:    true,
		RefreshInterval:     time.Minute,
	}))
	// Start blocks until Stop; it only fails when the port is taken, and freeport keeps
	// it for this bind.
	go func() { _ = s.ui.Start() }()
	s.uiURL = "http://" + public
	// The UI's own address, the one printed, names this server too: a rebinding page
	// comes under a name of its own site.
	origins := append(slices.Clone(opts.UIOrigins), s.uiURL)
	errorLog := slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug)
	s.uiProxy = &http.Server{
		Handler:           uiHandler(&url.URL{Scheme: "http", Host: net.JoinHostPort(internalIP, strconv.Itoa(internalPort))}, origins, errorLog),
		ReadHeaderTimeout: uiHeaderReadTimeout,
		IdleTimeout:       uiIdleTimeout,
		MaxHeaderBytes:    uiMaxHeaderBytes,
		ErrorLog:          errorLog,
	}
	go func() {
		if err := s.uiProxy.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("web UI stopped", "error", err)
		}
	}()
	return nil
}

// uiHandler answers 421 to a request whose Host is not a loopback name or one of origins
// (DNS rebinding), and passes every other request to the UI server at target, under the
// Host the browser used.
func uiHandler(target *url.URL, origins []string, errorLog *log.Logger) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // SetURL names target; the UI sees the browser's Host
		},
		FlushInterval: -1,
		ErrorLog:      errorLog,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostallow.Allowed(r.Host, origins) {
			http.Error(w, "this web UI does not answer to the host named in the request; open it at its own address (loopback, or an origin it is configured with)", http.StatusMisdirectedRequest)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

func (o *Options) defaults() error {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Durability == "" {
		o.Durability = DurabilityProcessCrash
	}
	if _, err := ParseDurability(string(o.Durability)); err != nil {
		return err
	}
	if o.HistoryShards == 0 {
		o.HistoryShards = 4
		if o.Durability == DurabilityLegacy {
			o.HistoryShards = 1
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

func (o *Options) serverConfig() (*config.Config, error) {
	sqlConf, err := o.sqlConfig()
	if err != nil {
		return nil, err
	}
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.DefaultStore = "default"
	conf.Persistence.VisibilityStore = "visibility"
	conf.Persistence.NumHistoryShards = o.HistoryShards
	visConf := sqlConf
	if o.PostgresDSN != "" {
		if visConf, err = o.postgresConfig("_visibility"); err != nil {
			return nil, err
		}
		if err := preparePostgres(visConf, "postgresql/v12/visibility", o.Logger); err != nil {
			return nil, err
		}
	}
	conf.Persistence.DataStores = map[string]config.DataStore{"default": {SQL: sqlConf}, "visibility": {SQL: visConf}}

	httpPort, err := freeport.Port(o.IP)
	if err != nil {
		return nil, err
	}
	const clusterName = "active"
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort)),
			HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
			ClusterID:              "5ba6b1a6-6c0b-4a8e-9a57-6f2d1f1b0c11",
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range temporal.DefaultServices {
		var svc config.Service
		svc.RPC.BindOnIP = o.IP
		if name == string(primitives.FrontendService) {
			svc.RPC.GRPCPort = o.FrontendPort
			svc.RPC.HTTPPort = httpPort
		} else if svc.RPC.GRPCPort, err = freeport.Port(o.IP); err != nil {
			return nil, err
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort))
	return &conf, nil
}

func (o *Options) sqlConfig() (*config.SQL, error) {
	if o.PostgresDSN != "" {
		conf, err := o.postgresConfig("")
		if err != nil {
			return nil, err
		}
		return conf, preparePostgres(conf, "postgresql/v12/temporal", o.Logger)
	}
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DatabaseFile == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		// A name unique to this server, so servers in one process do not share memory.
		conf.DatabaseName = fmt.Sprintf("flowgate-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = o.DatabaseFile
		switch o.Durability {
		case DurabilityProcessCrash, DurabilityPowerLoss:
			conf.ConnectAttributes["journal_mode"] = "wal"
			conf.ConnectAttributes["synchronous"] = map[Durability]string{
				DurabilityProcessCrash: "normal", DurabilityPowerLoss: "full"}[o.Durability]
			conf.ConnectAttributes["busy_timeout"] = "10000"
			// One connection: SQLite has one writer, and measured on two cores, extra
			// connections spent more time waiting on its lock than they saved on reads.
		}
	}
	if o.DatabaseFile != "" {
		if err := prepareDatabaseFile(conf); err != nil {
			return nil, err
		}
	}
	for _, name := range append([]string{o.Namespace}, o.ExtraNamespaces...) {
		ns, err := sqliteschema.NewNamespaceConfig("active", name, false, o.SearchAttributes)
		if err != nil {
			return nil, fmt.Errorf("namespace %q: %w", name, err)
		}
		// A new namespace starts with the retention asked for; an existing one is
		// updated once the server runs (setRetention).
		ns.Detail.Config.Retention = durationpb.New(o.retention())
		if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
			return nil, fmt.Errorf("create namespace %q in %s: %w", name, describeDB(o.DatabaseFile), err)
		}
	}
	return conf, nil
}

// prepareDatabaseFile creates the schema of a new file and checks that an existing one can
// be written, so that a read-only file or folder is reported before the server starts.
func prepareDatabaseFile(conf *config.SQL) error {
	path := conf.DatabaseName
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("database file %s: cannot create its folder: %w", path, err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		probe, err := os.CreateTemp(dir, ".flowgate-write-check-*")
		if err != nil {
			return fmt.Errorf("database file %s: folder %s is not writable: %w", path, dir, err)
		}
		probe.Close()
		os.Remove(probe.Name())
		if err := sqliteschema.SetupSchema(conf); err != nil {
			os.Remove(path)
			return fmt.Errorf("database file %s: set up schema: %w", path, err)
		}
		return nil
	} else if err != nil {
		return fmt.Errorf("database file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("database file %s is not writable: %w", path, err)
	}
	return f.Close()
}

func describeDB(file string) string {
	if file == "" {
		return "the in-memory database"
	}
	return file
}

// namespaceCacheRefresh is how often the services re-read namespaces (search attributes,
// retention) from the database.
const namespaceCacheRefresh = time.Second

// DefaultHistoryCacheSize is how many runs' mutable state the embedded history service
// keeps in memory by default: a waiting run costs memory only while it has work.
const DefaultHistoryCacheSize = 512

// MaxHistoryCacheSize is the largest HistoryCacheSize allowed.
const MaxHistoryCacheSize = 1_000_000

func (o *Options) dynamicConfig() dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{}
	size := o.HistoryCacheSize
	if size <= 0 {
		size = DefaultHistoryCacheSize
	}
	dc[dynamicconfig.HistoryCacheHostLevelMaxSize.Key()] = size
	// The cache of events for replication to other clusters: one embedded server has
	// none to replicate to, and at its default 8 MB it was a tenth of the live heap.
	dc[dynamicconfig.XDCCacheMaxSizeBytes.Key()] = 1 << 20
	dc[dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key()] = 100
	dc[dynamicconfig.EnableServerVersionCheck.Key()] = false
	// Retention is the operator's choice down to a second (CheckRetention); flowgate dev
	// warns under an hour.
	dc[dynamicconfig.NamespaceMinRetentionLocal.Key()] = MinRetention
	// Deletions are spread over a jitter after the retention (30 minutes by default): keep
	// it a tenth of a short retention, so a run kept 10 minutes is gone within 11.
	dc[dynamicconfig.RetentionTimerJitterDuration.Key()] = min(o.retention()/10, 30*time.Minute)
	dc[dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key()] = true
	dc[dynamicconfig.NamespaceCacheRefreshInterval.Key()] = namespaceCacheRefresh
	if o.Durability == DurabilityLegacy {
		return dc
	}
	// One partition per task queue: with the default four, a task written to one
	// partition waits to be forwarded to the partition a worker polls, which put 20-50 ms
	// on every dispatch of a single-node server.
	dc[dynamicconfig.MatchingNumTaskqueueReadPartitions.Key()] = 1
	dc[dynamicconfig.MatchingNumTaskqueueWritePartitions.Key()] = 1
	return dc
}

// registerSearchAttributes waits for the frontend, then adds to namespace the custom search
// attributes that an existing database file does not have yet.
func (s *Server) registerSearchAttributes(ctx context.Context, namespace string, want map[string]enumspb.IndexedValueType) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := temporalclient.Dial(ctx, temporalclient.Config{HostPort: s.frontend, Namespace: namespace, Timeout: 30 * time.Second})
	if err != nil {
		return fmt.Errorf("connect to embedded server at %s: %w", s.frontend, err)
	}
	defer c.Close()
	if s.postgres {
		// The SQLite path inserts the namespace before start; on PostgreSQL register it.
		if err := ensureNamespace(ctx, c, namespace); err != nil {
			return err
		}
	}
	if err := setRetention(ctx, c, namespace, s.retention); err != nil {
		return err
	}
	if len(want) == 0 {
		return nil
	}
	var have *operatorservice.ListSearchAttributesResponse
	for {
		// A namespace registered a moment ago reaches the frontend's cache within a second.
		have, err = c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		var nf *serviceerror.NamespaceNotFound
		if err == nil || !errors.As(err, &nf) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

func checkPortFree(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s:%d is not available (in use by another process?): %w", ip, port, err)
	}
	return l.Close()
}
