package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/flowgate/flowgate/internal/demo"
	"github.com/flowgate/flowgate/internal/stack"
)

// runDemo serves the demo backends on their own, for separate workers (docker-compose).
func runDemo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-backends", flag.ContinueOnError)
	addr := fs.String("addr", envOr("FLOWGATE_DEMO_ADDR", "127.0.0.1:8090"), "listen address (env FLOWGATE_DEMO_ADDR)")
	failureRate := fs.Float64("failure-rate", 0, "share of requests (0 to 1) answered 503, to exercise retries")
	state := fs.String("state", envOr("FLOWGATE_DEMO_STATE", ""), "SQLite file that keeps the backends' accounts, deployments and idempotency ledger across restarts (env FLOWGATE_DEMO_STATE; default: in memory)")
	latency := fs.Duration("latency", 3*time.Millisecond, "the most a request waits before it is handled (uniformly random)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *failureRate < 0 || *failureRate > 1 {
		return usageError{fmt.Errorf("--failure-rate %v is out of range: use a share from 0 to 1", *failureRate)}
	}
	if *latency < 0 {
		return usageError{fmt.Errorf("--latency %s is negative: use a duration such as 50ms", *latency)}
	}
	b := demo.New()
	stack.PrivateFiles() // the backends' state is this user's alone
	if *state != "" {
		var err error
		if b, err = demo.Open(*state); err != nil {
			return err
		}
		defer b.Close()
	}
	b.FailureRate, b.Latency = *failureRate, *latency
	url, stop, err := b.Serve(*addr)
	if err != nil {
		return err
	}
	defer stop()
	slog.New(slog.NewTextHandler(stderr, nil)).Info("demo backends listening", "url", url)
	<-ctx.Done()
	return nil
}
