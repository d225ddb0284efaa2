package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/flowgate/flowgate/internal/metrics"
	"github.com/flowgate/flowgate/internal/stack"
)

func runMCP(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	transport := fs.String("transport", "stdio", "stdio | http")
	addr := fs.String("addr", envOr("FLOWGATE_MCP_ADDR", "127.0.0.1:8080"), "listen address of the http transport (env FLOWGATE_MCP_ADDR)")
	address := fs.String("temporal-address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS, the profile file, or 127.0.0.1:7233)")
	namespace := fs.String("namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE or default)")
	uiURL := fs.String("ui-url", envOr("FLOWGATE_UI_URL", "http://127.0.0.1:8233"), "Temporal web UI base URL for links in results (env FLOWGATE_UI_URL)")
	actor := fs.String("actor", envOr("FLOWGATE_ACTOR", stack.LocalActor()), "identity recorded for calls (env FLOWGATE_ACTOR)")
	services := fs.String("services", envOr("FLOWGATE_SERVICES", ""), "the workers' gateway services as name=url,name=url, as given to flowgate worker (env FLOWGATE_SERVICES; default: the demo services); a deployment of another service is refused before it starts")
	allowedOrigins := fs.String("allowed-origins", envOr("FLOWGATE_ALLOWED_ORIGINS", ""), stack.AllowedOriginsUsage)
	directCalls := fs.String("direct-calls", envOr("FLOWGATE_DIRECT_CALLS", ""), stack.DirectCallsUsage+", as given to flowgate worker")
	toolsNS := fs.String("tools-namespace", envOr("FLOWGATE_TOOLS_NAMESPACE", stack.DefaultToolsNamespace), "Temporal namespace where the data tools' tool_call runs live, as given to flowgate worker (env FLOWGATE_TOOLS_NAMESPACE)")
	sod := fs.Bool("separation-of-duties", false, "refuse approvals by the workflow's requester (always on with --api-keys or --oauth-issuer)")
	var af stack.AuthFlags
	fs.StringVar(&af.APIKeysFile, "api-keys", envOr("FLOWGATE_API_KEYS_FILE", ""), "JSON file of API keys: [{\"name\", \"sha256\", \"scopes\"}] (env FLOWGATE_API_KEYS_FILE)")
	fs.StringVar(&af.OAuthIssuer, "oauth-issuer", envOr("FLOWGATE_OAUTH_ISSUER", ""), "OAuth authorization server whose JWT access tokens are accepted (env FLOWGATE_OAUTH_ISSUER)")
	fs.StringVar(&af.OAuthJWKSURL, "oauth-jwks-url", envOr("FLOWGATE_OAUTH_JWKS_URL", ""), "key set URL, when not in the issuer's metadata")
	fs.StringVar(&af.OAuthGroupsClaim, "oauth-groups-claim", envOr("FLOWGATE_OAUTH_GROUPS_CLAIM", ""), stack.OAuthGroupsClaimUsage)
	fs.StringVar(&af.ResourceURL, "resource-url", envOr("FLOWGATE_RESOURCE_URL", ""), "this server's public MCP URL: the audience tokens must carry (env FLOWGATE_RESOURCE_URL)")
	af.RegisterRateFlags(fs)
	var sf stack.SessionFlags
	sf.Register(fs)
	logLevel := fs.String("log-level", "info", "debug | info | warn | error")
	var dk stack.DecisionKeyFlag
	dk.Register(fs, "required with --api-keys or --oauth-issuer; the server signs every decision and runs it starts take only signed ones")
	var pf stack.ProcessFlags
	pf.Register(fs, "agents can start them; edits are picked up within seconds and on SIGHUP")
	pf.RegisterReload(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *transport != "stdio" && *transport != "http" {
		return usageError{fmt.Errorf("--transport %q: allowed are stdio and http", *transport)}
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	// Flags are checked before Temporal is dialed, so a typo is named first.
	serviceNames, err := stack.ServiceNames(*services)
	if err != nil {
		return usageError{fmt.Errorf("--services: %w", err)}
	}
	direct, err := stack.ParseDirectCalls(*directCalls, *services == "")
	if err != nil {
		return usageError{err}
	}
	origins, err := stack.ParseAllowedOrigins(*allowedOrigins)
	if err != nil {
		return usageError{err}
	}
	if err := sf.Check(); err != nil {
		return usageError{err}
	}
	if err := pf.Check(); err != nil {
		return usageError{err}
	}
	auth, err := af.Config()
	if err != nil {
		return usageError{err}
	}
	if *transport == "stdio" {
		auth = nil // stdio trusts the local user; the actor comes from --actor
	}
	keys, err := dk.Load()
	if err != nil {
		return usageError{err}
	}
	catalog, err := stack.LoadProcesses(ctx, pf, serviceNames, logger)
	if err != nil {
		return usageError{err}
	}
	tp, stopTracing, err := startTracing(ctx, logger)
	if err != nil {
		return err
	}
	defer stopTracing()
	reg := metrics.New()
	c, err := stack.DialTemporal(ctx, *address, *namespace, reg.SDKHandler(), logger, tp)
	if err != nil {
		return err
	}
	defer c.Close()
	ns := processNamespace(*namespace)
	m, err := stack.NewMCP(c, ns, stack.MCPConfig{UIBaseURL: *uiURL, Actor: *actor, SeparationOfDuties: *sod, Auth: auth, Metrics: reg, Services: serviceNames, DirectCalls: direct, AllowedOrigins: origins, Sessions: sf, ToolsNamespace: *toolsNS, Processes: catalog, DecisionKeys: keys, Tracing: tp}, logger)
	if err != nil {
		return usageError{err}
	}
	if *transport == "stdio" {
		// A stdio server is one person's client process: it leaves the schedules to the
		// HTTP servers, so one started without --processes deletes none.
		return m.ServeStdio(ctx, os.Stdin, os.Stdout)
	}
	if len(pf.List()) > 0 {
		m.KeepSchedules(ctx)
	}
	h, err := m.ListenHTTP(*addr)
	if err != nil {
		return fmt.Errorf("%w; pick another with --addr", err)
	}
	logger.Info("MCP server listening", "url", h.URL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Shutdown(sctx)
}
