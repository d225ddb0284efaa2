// Command flowgate runs Flowgate: durable, human-approved workflows for AI agents,
// exposed as MCP tools on Temporal.
//
//	flowgate dev      the whole stack in one process: Temporal, web UI, worker, MCP server
//	flowgate worker   a worker for an existing Temporal service
//	flowgate mcp      an MCP server (stdio or Streamable HTTP) for an existing Temporal service
//	flowgate runs     list, show, decide and cancel runs, as a client of a Flowgate MCP server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	// Schedules' time zones are checked at load, and the embedded Temporal reads them:
	// the zone database travels in the binary for hosts (and images) without one.
	_ "time/tzdata"

	"go.opentelemetry.io/otel/trace"

	"github.com/flowgate/flowgate/internal/tracing"
)

const usage = `flowgate: durable, human-approved workflows for AI agents, as MCP tools on Temporal.

Usage:
  flowgate dev     [flags]   run everything in one process (embedded Temporal, web UI, worker, MCP server)
  flowgate worker  [flags]   run a worker against an existing Temporal service
  flowgate mcp     [flags]   run an MCP server (--transport stdio|http) against an existing Temporal service
  flowgate demo-backends     serve the demo users/products/orders/deploy/notifications services on their own
  flowgate processes validate FILE_OR_FOLDER...   check process definition files without running anything
  flowgate processes test FILE_OR_FOLDER...       run definitions' test cases (NAME.test.yaml) on mocks, in simulated time
  flowgate runs list|show|approve|reject|cancel|...   list, show, decide and cancel runs on a Flowgate server
  flowgate approvals          the gates that wait on you
  flowgate completion bash|zsh   print a shell completion script
  flowgate probe URL          exit 0 when URL answers 200 (container health checks)
  flowgate version

Run "flowgate <command> -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "worker":
		err = runWorker(ctx, args[1:], stderr)
	case "mcp":
		err = runMCP(ctx, args[1:], stderr)
	case "demo-backends":
		err = runDemo(ctx, args[1:], stderr)
	case "probe":
		err = runProbe(ctx, args[1:])
	case "processes":
		err = runProcesses(ctx, args[1:], stdout, stderr)
	case "runs":
		err = runRuns(ctx, args[1:], stdout, stderr)
	case "approvals":
		err = runApprovals(ctx, args[1:], stdout, stderr)
	case "completion":
		err = runCompletion(args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, "flowgate", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "flowgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "flowgate %s: %v\n", args[0], err)
		return 2
	}
	var unreachable unreachableError
	if errors.As(err, &unreachable) {
		fmt.Fprintf(stderr, "flowgate %s: %v\n", args[0], err)
		return 3
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowgate %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

const version = "0.1.0"

// usageError is a bad flag or argument: exit code 2.
type usageError struct{ error }

// parseArgs parses a subcommand's flags, leaving its other arguments in fs.Args(): -h
// prints the flags, and a problem becomes one clear line.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return err
		}
		return usageError{fmt.Errorf("%v (run with -h for the flags)", err)}
	}
	return nil
}

// parseFlags parses a subcommand's flags, turning problems into one clear line.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (run with -h for the flags)", fs.Arg(0))}
	}
	return nil
}

// commandFlags is the flag set of a client command, whose -h shows its synopsis first.
func commandFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags given before, between and after the arguments
// (`runs approve ID --comment ok`), which the flag package alone stops at; it returns
// the arguments. After "--" everything is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseArgs(fs, args, stderr); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// newLogger writes text logs to stderr at the named level.
func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: allowed are debug, info, warn, error", level)}
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

// startTracing turns traces on when the OTEL_* variables ask for them (tracing.Setup);
// the provider is nil otherwise. stop sends the spans still batched, within 5 seconds.
func startTracing(ctx context.Context, logger *slog.Logger) (tp trace.TracerProvider, stop func(), err error) {
	tp, shutdown, err := tracing.Setup(ctx, logger)
	if err != nil {
		return nil, func() {}, usageError{err}
	}
	return tp, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			logger.Warn("traces not all sent", "error", err)
		}
	}, nil
}

// processNamespace is the Temporal namespace of Flowgate's processes: the --namespace flag,
// else TEMPORAL_NAMESPACE, else default.
func processNamespace(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return envOr("TEMPORAL_NAMESPACE", "default")
}

// envOr returns the environment variable's value, or def.
func envOr(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}
