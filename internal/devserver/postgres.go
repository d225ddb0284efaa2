package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/tools/common/schema"
	toolsql "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"
)

// postgresConfig turns the DSN into the server's SQL config for the database named in
// the DSN plus suffix.
func (o *Options) postgresConfig(suffix string) (*config.SQL, error) {
	u, err := url.Parse(o.PostgresDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, fmt.Errorf("postgres DSN must look like postgres://user:password@host:5432/temporal")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		name = "temporal"
	}
	host := u.Host
	if u.Port() == "" {
		host += ":5432"
	}
	password, _ := u.User.Password()
	attrs := map[string]string{}
	for k, v := range u.Query() {
		attrs[k] = v[0]
	}
	return &config.SQL{
		PluginName:        pgplugin.PluginNamePGX,
		DatabaseName:      name + suffix,
		ConnectAddr:       host,
		ConnectProtocol:   "tcp",
		User:              u.User.Username(),
		Password:          password,
		ConnectAttributes: attrs,
		MaxConns:          20,
		MaxIdleConns:      20,
	}, nil
}

// preparePostgres creates the database when missing and brings its schema to the
// version this server needs (setup, then the versioned updates, as temporal-sql-tool does).
func preparePostgres(cfg *config.SQL, schemaName string, l *slog.Logger) error {
	logger := newServerLogger(l, levelVar(slog.LevelError))
	admin := *cfg
	if err := toolsql.DoCreateDatabase(&admin, "postgres", logger); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("postgres: create database %s: %w", cfg.DatabaseName, err)
	}
	conn, err := toolsql.NewConnection(cfg, logger)
	if err != nil {
		return fmt.Errorf("postgres: connect to %s at %s: %w", cfg.DatabaseName, cfg.ConnectAddr, err)
	}
	defer conn.Close()
	if v, err := conn.ReadSchemaVersion(); err != nil || v == "" {
		if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
			return fmt.Errorf("postgres: set up schema of %s: %w", cfg.DatabaseName, err)
		}
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("postgres: update schema of %s: %w", cfg.DatabaseName, err)
	}
	return nil
}

func levelVar(l slog.Level) *slog.LevelVar {
	v := &slog.LevelVar{}
	v.Set(l)
	return v
}

var _ log.Logger = serverLogger{}

// ensureNamespace registers the namespace when it does not exist and waits until the
// frontend serves it.
func ensureNamespace(ctx context.Context, c client.Client, ns string) error {
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	var nf *serviceerror.NamespaceNotFound
	if errors.As(err, &nf) {
		_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(DefaultRetention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register namespace %s: %w", ns, err)
		}
		for {
			if _, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("namespace %s not served: %w", ns, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	} else if err != nil {
		return fmt.Errorf("describe namespace %s: %w", ns, err)
	}
	return nil
}
