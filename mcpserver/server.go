// Package mcpserver exposes Flowgate to AI agents over the Model Context Protocol. It is
// a thin, stateless layer: every tool, resource and prompt maps to Temporal workflow
// starts, queries, updates and signals through the Temporal client, so any number of
// copies can serve behind a load balancer.
package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/internal/words"
	"github.com/flowgate/flowgate/workflows"
)

// Version is reported to clients in the initialize handshake.
const Version = "0.1.0"

// Config is what the MCP server needs.
type Config struct {
	// Client talks to Temporal; it is the server's only dependency.
	Client client.Client
	// ToolsClient, when set, runs the data tools' tool_call workflows in a namespace of
	// their own (stack.DefaultToolsNamespace), so they stay out of the processes' way in
	// the Temporal UI; nil runs them with Client.
	ToolsClient client.Client
	// Namespace is the Temporal namespace the client uses, for links and admin queries.
	Namespace string
	// UIBaseURL is the Temporal web UI's base URL; tool results link to runs below it.
	UIBaseURL string
	// Actor is the identity recorded for calls that carry none (stdio, or HTTP without
	// auth). Default "local".
	Actor string
	// SeparationOfDuties refuses an approval by the workflow's requester. Off when every
	// call shares one local identity.
	SeparationOfDuties bool
	// CallTimeout bounds each Temporal call a tool makes; default 30s.
	CallTimeout time.Duration
	// ListCountBudget is how long list_workflows waits for its count of the matches beyond
	// the page, unless the call asks for include_total; default DefaultListCountBudget.
	ListCountBudget time.Duration
	// Logger receives one line per failed call; default slog.Default().
	Logger *slog.Logger
	// Auth, when set, authenticates every HTTP request (API keys, OAuth bearer tokens)
	// and checks scopes; the caller's identity becomes the actor. Required to listen on
	// an address other than loopback.
	Auth *AuthConfig
	// AllowedOrigins are browser origins (scheme://host:port) allowed besides loopback ones.
	AllowedOrigins []string
	// Observer, when set, records every tool call's latency and outcome.
	Observer CallObserver
	// Caches, when set, reads the caches of a worker and embedded server in this process
	// for admin://system/stats.
	Caches func() *Caches
	// MetricsHandler, when set, is served at /metrics on the HTTP transport.
	MetricsHandler http.Handler
	// SessionIdleTimeout expires Streamable HTTP sessions idle this long (default
	// DefaultSessionIdleTimeout); MaxSessions and MaxSessionsPerIdentity bound the open
	// ones (defaults DefaultMaxSessions, DefaultMaxSessionsPerIdentity; negative: no bound).
	SessionIdleTimeout     time.Duration
	MaxSessions            int
	MaxSessionsPerIdentity int
	// MaxConnections bounds the connections ListenHTTP holds open at once (default
	// DefaultMaxConnections; negative: no bound); past it new connections wait in the
	// listen backlog until one closes.
	MaxConnections int
	// Services are the gateway service names the workers know; a deployment of another
	// service is refused before anything starts. Empty skips the check.
	Services []string
	// Sandbox is the workers' file sandbox folder when this process sees it (app.Config
	// .Sandbox): a start naming a file a step parses that is missing there is refused.
	Sandbox string
	// DirectCalls opens endpoints to call_service besides GET, as the workers' gateway
	// does; call_service refuses any other write before a run starts, naming the process
	// that makes it. Nil opens GET only.
	DirectCalls activities.DirectCalls
	// Processes are the process definitions start_workflow can run besides the Go ones;
	// when the catalog reloads, the tools and resources that list them are updated and
	// clients get list_changed notifications. Nil means none.
	Processes *processes.Catalog
	// DecisionKeys, when set, sign every decision the server passes on, and every run it
	// starts accepts signed decisions only (workers verify them with the same keys).
	DecisionKeys *signing.Keys
	// LinkKeys check approval links (the workers' --decision-keys, which sign them) when
	// DecisionKeys is nil: notifications without authentication.
	LinkKeys *signing.Keys
	// Tracing, when set, makes each MCP request a span and get_workflow_status report a
	// run's trace_id; nil (tracing off) adds nothing. Temporal's calls are traced by the
	// interceptor of Client.
	Tracing trace.TracerProvider
}

// CallObserver records tool calls, e.g. as Prometheus metrics.
type CallObserver interface {
	ObserveToolCall(tool string, d time.Duration, isError bool)
}

// Server is Flowgate's MCP server.
type Server struct {
	cfg Config
	// app is the typed API the tools, tasks, pages and the inbox call.
	app      *app.Service
	mcp      *server.MCPServer
	auth     *authenticator
	codes    errorCodes
	sessions *sessionLimits
	// procMu serializes republishing the process-dependent tools and resources;
	// published holds the process resource URIs registered now.
	procMu    sync.Mutex
	published []string
	// watch holds the resource subscriptions, each a listener of its run's hub.
	watch *watchers
	// tasks serves MCP tasks from Temporal.
	tasks *taskState
	// confirms signs the confirmation requests of advance_workflow and redeems answers.
	confirms *confirmations
	// follow sends each session the transitions of the runs it started (MCP logging).
	follow *followers
	// decodes counts the JSON decodes of the messages the transports received.
	decodes decodeCounts
	// feeds hold one hub per followed run, which every listener of the run shares.
	feeds *feeds
	// oldest is the start of the longest-waiting run the last Waiting found: a hint that
	// two counts confirm, so each look does not search the whole time range again.
	oldestMu sync.Mutex
	oldest   time.Time
	// transports are the HTTP transports HTTPHandler built and Close has not stopped.
	transportsMu sync.Mutex
	transports   []*server.StreamableHTTPServer
	// proving bounds the test_process calls that run cases at once.
	proving chan struct{}
}

// Watchers is how many runs are watched for their subscribers now.
func (s *Server) Watchers() int { return s.watch.Count() }

// New builds the MCP server with every tool, resource and prompt. It fails only on an
// invalid auth configuration.
func New(cfg Config) (*Server, error) {
	if cfg.Actor == "" {
		cfg.Actor = "local"
	}
	if err := workflows.CheckName("actor", cfg.Actor); err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.ListCountBudget <= 0 {
		cfg.ListCountBudget = DefaultListCountBudget
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionIdleTimeout <= 0 {
		cfg.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxSessionsPerIdentity == 0 {
		cfg.MaxSessionsPerIdentity = DefaultMaxSessionsPerIdentity
	}
	s := &Server{cfg: cfg, sessions: newSessionLimits(cfg), confirms: newConfirmations(),
		app: app.New(app.Config{Client: cfg.Client, Namespace: cfg.Namespace, DecisionKeys: cfg.DecisionKeys, LinkKeys: cfg.LinkKeys,
			Processes: cfg.Processes, SeparationOfDuties: cfg.SeparationOfDuties, Services: cfg.Services, Sandbox: cfg.Sandbox, ListCountBudget: cfg.ListCountBudget,
			Logger: cfg.Logger})}
	if cfg.Auth != nil {
		a, err := newAuthenticator(*cfg.Auth)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		s.auth = a
	}
	hooks := &server.Hooks{}
	hooks.AddOnError(s.codes.hook)
	hooks.AddOnRegisterSession(s.sessions.registered)
	hooks.AddOnUnregisterSession(s.sessions.unregistered)
	s.feeds = newFeeds(temporalFeed{s}, cfg.Logger, cfg.CallTimeout)
	s.watch = newWatchers(s)
	s.tasks = newTaskState()
	s.follow = newFollowers(s)
	hooks.AddOnUnregisterSession(s.follow.sessionEnded)
	// The task-result tool serves tasks/result; it is never listed.
	hooks.AddAfterListTools(func(_ context.Context, _ any, _ *mcp.ListToolsRequest, res *mcp.ListToolsResult) {
		res.Tools = slices.DeleteFunc(res.Tools, func(t mcp.Tool) bool { return t.Name == taskResultTool })
	})
	hooks.AddAfterSubscribe(s.watch.afterSubscribe)
	hooks.AddAfterUnsubscribe(s.watch.afterUnsubscribe)
	hooks.AddOnUnregisterSession(s.watch.sessionEnded)
	hooks.AddBeforeSubscriptionsListen(s.watch.beforeListen)
	s.mcp = server.NewMCPServer("flowgate", Version,
		server.WithHooks(hooks),
		server.WithToolFilter(visibleTools),
		server.WithToolHandlerMiddleware(s.observe),
		server.WithToolHandlerMiddleware(s.traceTool),
		// Lists change when process definitions are added, edited or removed.
		server.WithToolCapabilities(true),
		// Subscriptions to workflow://{id}/details are told from the run's feed.
		server.WithResourceCapabilities(true, true),
		server.WithPromptCapabilities(false),
		server.WithRecovery(),
		server.WithResourceRecovery(),
		server.WithInstructions(instructions),
		server.WithCompletions(),
		// Tasks are runs: answered from Temporal by checkTask, never from mcp-go's memory.
		server.WithTaskCapabilities(true, true, true),
		// logging/setLevel per session; notifications/message of runs and failed calls.
		server.WithLogging(),
		server.WithPromptCompletionProvider(completions{s}),
		server.WithResourceCompletionProvider(completions{s}),
	)
	s.addProcesses() // the workflow tools, describe_process and process:// resources
	s.addDataTools()
	s.addProcessProofTools()
	s.addScheduleTools()
	s.addListFiles()
	s.addResources()
	s.addInbox()
	s.addPrompts()
	s.mcp.AddTool(mcp.NewTool(taskResultTool, mcp.WithString("task_id", mcp.Required())), s.taskResult)
	return s, nil
}

// observe reports each tool call to the configured observer.
func (s *Server) observe(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		res, err := next(ctx, req)
		switch {
		case err != nil:
			s.logFailedCall(ctx, req.Params.Name, err.Error())
		case res != nil && res.IsError:
			s.logFailedCall(ctx, req.Params.Name, resultText(res))
		}
		if s.cfg.Observer != nil {
			s.cfg.Observer.ObserveToolCall(req.Params.Name, time.Since(start), err != nil || (res != nil && res.IsError))
		}
		return res, err
	}
}

// visibleTools lists only the tools the caller's scopes allow; calls are checked again
// at the HTTP layer with the exact scope each needs. Without an identity (stdio, or HTTP
// without auth) every tool is listed.
func visibleTools(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	id, ok := IdentityFromContext(ctx)
	if !ok {
		return tools
	}
	out := tools[:0:0]
	for _, t := range tools {
		if need := toolScope(t.Name); need == "" || slices.Contains(id.Scopes, need) ||
			(t.Name == "advance_workflow" && slices.ContainsFunc(id.Scopes, canAdvance)) {
			out = append(out, t)
		}
	}
	return out
}

// MCP returns the underlying mcp-go server, for transports and in-process clients.
func (s *Server) MCP() *server.MCPServer { return s.mcp }

const instructions = `Flowgate runs durable business processes (start_workflow lists those this server runs; describe_process explains each) as Temporal workflows that stop at approval gates and wait for a person.
Typical flow: start_workflow → get_workflow_status (see which step waits and for what) → advance_workflow to approve, reject or continue → get_workflow_status until a final status (completed, failed, rejected, cancelled, timed_out).
list_workflows with status=waiting_approval shows what waits for a person. execute_query, search_table, call_service and parse_file read data through Temporal, so every call is retried and audited.`

// actor is the identity of the caller.
// caller is who calls, for the typed API: the verified identity and its scopes, or,
// without authentication, the local identity holding every scope.
func (s *Server) caller(ctx context.Context) app.Caller {
	if id, ok := IdentityFromContext(ctx); ok {
		return app.Caller{Name: id.Subject, Scopes: id.Scopes}
	}
	return app.Caller{Name: s.cfg.Actor, All: true}
}

func (s *Server) actor(ctx context.Context) string {
	if id, ok := IdentityFromContext(ctx); ok {
		return id.Subject
	}
	return s.cfg.Actor
}

// uiLink is the web UI page of a run, or "" when no UI is configured.
func (s *Server) uiLink(workflowID string) string {
	if s.cfg.UIBaseURL == "" || workflowID == "" {
		return ""
	}
	return strings.TrimSuffix(s.cfg.UIBaseURL, "/") + "/namespaces/" + url.PathEscape(s.cfg.Namespace) +
		"/workflows/" + url.PathEscape(workflowID)
}

func (s *Server) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.CallTimeout)
}

// toolError turns an error from Temporal into a tool result with a sentence an agent can
// act on; the detail goes to the log, never a stack trace to the client.
func (s *Server) toolError(ctx context.Context, tool, workflowID string, err error) *mcp.CallToolResult {
	msg := s.explain(ctx, workflowID, err)
	s.cfg.Logger.Info("tool call failed", "tool", tool, "workflow_id", workflowID, "error", err)
	return mcp.NewToolResultError(msg)
}

// explain sorts an error from Temporal into its kind and says it in a sentence an agent
// can act on: an invalid argument is never presented as an outage, and no Temporal
// internals (types, retry flags, stack traces) reach the client.
func (s *Server) explain(ctx context.Context, workflowID string, err error) string {
	var (
		notFound    *serviceerror.NotFound
		started     *serviceerror.WorkflowExecutionAlreadyStarted
		queryFailed *serviceerror.QueryFailed
		nsNotFound  *serviceerror.NamespaceNotFound
		appErr      *temporal.ApplicationError
		canceled    *temporal.CanceledError
		timeout     *temporal.TimeoutError
	)
	switch {
	case refusal(err):
		return err.Error() // the typed API's own refusals say what is wrong
	case errors.As(err, &appErr):
		return appErr.Message()
	case errors.As(err, &canceled):
		return "the call was cancelled"
	case errors.As(err, &timeout):
		return "the work timed out inside Temporal (" + strings.ToLower(timeout.TimeoutType().String()) + ")"
	case errors.As(err, &notFound) && strings.Contains(notFound.Message, "already completed"),
		strings.Contains(err.Error(), "workflow execution already completed"):
		return fmt.Sprintf("workflow %q has already ended; get_workflow_status shows how", workflowID)
	case errors.As(err, &notFound):
		if workflowID != "" {
			return fmt.Sprintf("no workflow with id %q exists (or it ended and its history was deleted); list_workflows shows the ids that exist", workflowID)
		}
		return "not found: " + notFound.Message
	case errors.As(err, &started):
		return fmt.Sprintf("workflow %q already exists", workflowID)
	case errors.As(err, &nsNotFound):
		return fmt.Sprintf("the Temporal namespace %s does not exist; the operator should create it (temporal operator namespace create %s, with Flowgate's search attributes) or point --tools-namespace at the processes' namespace", nsNotFound.Namespace, nsNotFound.Namespace)
	case errors.As(err, &queryFailed):
		return fmt.Sprintf("workflow %q could not answer: %s", workflowID, words.FirstLine(queryFailed.Message))
	}
	switch serviceerror.ToStatus(err).Code() {
	case codes.InvalidArgument:
		return "Temporal refused the request as invalid: " + words.FirstLine(serviceerror.ToStatus(err).Message())
	case codes.AlreadyExists:
		return "it already exists: " + words.FirstLine(serviceerror.ToStatus(err).Message())
	case codes.FailedPrecondition:
		return "Temporal cannot do this in the current state: " + words.FirstLine(serviceerror.ToStatus(err).Message())
	case codes.PermissionDenied, codes.Unauthenticated:
		return "Flowgate's connection to Temporal is not allowed to do this; the operator should check its namespace and credentials"
	case codes.ResourceExhausted:
		return "Temporal is at its rate limit right now; try again in a few seconds"
	case codes.Unimplemented:
		return "this Temporal server does not support the request; the operator should upgrade it"
	case codes.Internal, codes.DataLoss:
		return "Temporal failed internally while handling the request; try again, and tell the operator if it persists"
	case codes.Unavailable:
		return "Temporal is unavailable right now; try again in a few seconds"
	}
	switch {
	case app.ServerGaveUp(err) && ctx.Err() == nil, errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return "Temporal did not answer in time; try again in a few seconds"
	case errors.Is(err, context.DeadlineExceeded), app.ServerGaveUp(err):
		return fmt.Sprintf("no answer within %s: is a Flowgate worker running (flowgate worker) and is Temporal reachable?", s.cfg.CallTimeout)
	case errors.Is(err, context.Canceled):
		return "the call was cancelled by the client"
	}
	return "the call failed: " + words.FirstLine(err.Error())
}
