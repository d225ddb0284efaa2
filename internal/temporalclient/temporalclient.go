// Package temporalclient makes every Temporal client Flowgate uses: the server's, the
// worker's, the embedded stack's and the tests'. One place sets what all of them share
// (logging, metrics, the tracing interceptor), so no client is made without it.
package temporalclient

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/flowgate/flowgate/internal/tracing"
)

// Config says which Temporal to reach and how the client reports.
type Config struct {
	// HostPort and Namespace name the server; empty takes the environment's (with
	// FromEnvironment) or Temporal's defaults.
	HostPort, Namespace string
	// FromEnvironment reads the standard client environment first: TEMPORAL_ADDRESS,
	// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, the TLS variables and the Temporal CLI's
	// profile file. HostPort and Namespace override it when set.
	FromEnvironment bool
	// Metrics receives the SDK's metrics; nil for none.
	Metrics client.MetricsHandler
	// Logger receives the SDK's logs (tagged component=temporal-sdk); nil discards them.
	Logger *slog.Logger
	// Timeout bounds the dial; 0 is 10 seconds.
	Timeout time.Duration
	// Tracing, when set, adds the OpenTelemetry interceptor: the client's calls are spans,
	// and so are the workflows and activities of every worker made from the client. Nil
	// (tracing off) adds nothing.
	Tracing trace.TracerProvider
}

// Dial connects to Temporal. It fails with a sentence naming the address and namespace,
// and how to set them.
func Dial(ctx context.Context, cfg Config) (client.Client, error) {
	opts := client.Options{}
	var err error
	if cfg.FromEnvironment {
		if opts, err = envconfig.LoadDefaultClientOptions(); err != nil {
			return nil, fmt.Errorf("read Temporal client config (TEMPORAL_* variables, profile file): %w", err)
		}
	}
	if cfg.HostPort != "" {
		opts.HostPort = cfg.HostPort
	}
	if cfg.Namespace != "" {
		opts.Namespace = cfg.Namespace
	}
	if opts.HostPort == "" {
		opts.HostPort = client.DefaultHostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	opts.Logger = logger(cfg.Logger, "")
	opts.MetricsHandler = cfg.Metrics
	if opts.Interceptors, err = interceptors(cfg.Tracing); err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): set TEMPORAL_ADDRESS or --temporal-address to a running server: %w",
			opts.HostPort, opts.Namespace, err)
	}
	return c, nil
}

// ForNamespace is a client for namespace sharing c's connection, logging to l and, when tp
// is set, tracing as Dial's clients do (a client made from another does not inherit its
// interceptors).
func ForNamespace(c client.Client, namespace string, l *slog.Logger, tp trace.TracerProvider) (client.Client, error) {
	ics, err := interceptors(tp)
	if err != nil {
		return nil, err
	}
	nc, err := client.NewClientFromExisting(c, client.Options{Namespace: namespace, Logger: logger(l, namespace), Interceptors: ics})
	if err != nil {
		return nil, fmt.Errorf("client for namespace %s: %w", namespace, err)
	}
	return nc, nil
}

// interceptors are the client interceptors for tracing over tp; none when tp is nil.
func interceptors(tp trace.TracerProvider) ([]interceptor.ClientInterceptor, error) {
	if tp == nil {
		return nil, nil
	}
	i, err := tracing.TemporalInterceptor(tp)
	if err != nil {
		return nil, fmt.Errorf("tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{i}, nil
}

// logger is the SDK's logger over l, tagged with the component (and namespace).
func logger(l *slog.Logger, namespace string) sdklog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	l = l.With("component", "temporal-sdk")
	if namespace != "" {
		l = l.With("namespace", namespace)
	}
	return sdklog.NewStructuredLogger(l)
}
