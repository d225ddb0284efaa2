package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

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
	sod := fs.Bool("separation-of-duties", false, "refuse approvals by the workflow's requester (useful once callers have distinct identities)")
	logLevel := fs.String("log-level", "info", "debug | info | warn | error")
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
	c, err := stack.DialTemporal(ctx, *address, *namespace, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	ns := *namespace
	if ns == "" {
		ns = envOr("TEMPORAL_NAMESPACE", "default")
	}
	m := stack.NewMCP(c, ns, stack.MCPConfig{UIBaseURL: *uiURL, Actor: *actor, SeparationOfDuties: *sod}, logger)
	if *transport == "stdio" {
		return m.ServeStdio(ctx, os.Stdin, os.Stdout)
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
