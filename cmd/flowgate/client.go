package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowgate/flowgate/internal/tracing"
)

// The commands for people and operators (runs, approvals) are an MCP client of a Flowgate
// server: they call the tools and read the resources an agent does, so every check the
// server makes of an agent (identity, scopes, separation of duties, signed decisions) is
// made of them too, and they cannot go around it.

// defaultServer is what `flowgate dev` serves.
const defaultServer = "http://127.0.0.1:8080/mcp"

// unreachableError is a server that did not answer as an MCP server: exit code 3.
type unreachableError struct{ error }

// clientFlags are the flags every client command takes: where the server is, who calls
// it, and how to print.
type clientFlags struct {
	server, apiKey, token, profile string
	json                           bool
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "the Flowgate MCP endpoint (env FLOWGATE_SERVER, else the profile's server; default "+defaultServer+")")
	fs.StringVar(&c.apiKey, "api-key", "", "the API key sent as X-API-Key (env FLOWGATE_API_KEY, else the profile's api_key)")
	fs.StringVar(&c.token, "token", "", "an OAuth access token sent as Authorization: Bearer, for a server with --oauth-issuer (env FLOWGATE_TOKEN, else the profile's token); not with an API key")
	fs.StringVar(&c.profile, "profile", "", "the profile of the config file to use (env FLOWGATE_PROFILE; default: default); the file is $FLOWGATE_CONFIG_FILE or ~/.config/flowgate/cli.toml")
	fs.BoolVar(&c.json, "json", false, "print the server's structured answer as JSON, for scripts")
}

// resolve fills in the server and credential: a flag, else the environment, else the
// profile, else the default server and no credential. The credential is an API key or
// an OAuth token, never both: the first of flags, environment and profile that gives
// one gives it, and giving both there is refused, since the server would read only one.
func (c *clientFlags) resolve() error {
	name := cmpOr(c.profile, os.Getenv("FLOWGATE_PROFILE"))
	path, explicit := configFile()
	p, err := loadProfile(path, cmpOr(name, "default"), explicit || name != "")
	if err != nil {
		return usageError{err}
	}
	c.server = cmpOr(c.server, os.Getenv("FLOWGATE_SERVER"), p.Server, defaultServer)
	layers := []struct{ key, token, where string }{
		{c.apiKey, c.token, "--api-key and --token"},
		{os.Getenv("FLOWGATE_API_KEY"), os.Getenv("FLOWGATE_TOKEN"), "FLOWGATE_API_KEY and FLOWGATE_TOKEN"},
		{p.APIKey, p.Token, fmt.Sprintf("profile %s's api_key and token", cmpOr(name, "default"))},
	}
	c.apiKey, c.token = "", ""
	for _, l := range layers {
		key, token := cmpOr(l.key), cmpOr(l.token)
		if key != "" && token != "" {
			return usageError{fmt.Errorf("%s are both set: give one credential, an API key or an OAuth token, not both", l.where)}
		}
		if key != "" || token != "" {
			c.apiKey, c.token = key, token
			break
		}
	}
	if !strings.HasPrefix(c.server, "http://") && !strings.HasPrefix(c.server, "https://") {
		return usageError{fmt.Errorf("--server %q: give the MCP endpoint's URL, such as %s", c.server, defaultServer)}
	}
	return nil
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// configFile is the profile file: $FLOWGATE_CONFIG_FILE (explicit: it must exist), else
// cli.toml in the user's config folder (~/.config/flowgate on Linux).
func configFile() (path string, explicit bool) {
	if p := os.Getenv("FLOWGATE_CONFIG_FILE"); p != "" {
		return p, true
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", false
	}
	return filepath.Join(dir, "flowgate", "cli.toml"), false
}

// profile is one [profile.NAME] table of the config file.
type profile struct{ Server, APIKey, Token string }

// loadProfile reads profile name from the file at path, a small subset of TOML as the
// Temporal CLI's profiles use it:
//
//	[profile.default]
//	server = "http://127.0.0.1:8080/mcp"
//	api_key = "..."      # or token = "..." (an OAuth access token)
//
// A missing file or profile is an error only when it was asked for (must).
func loadProfile(path, name string, must bool) (profile, error) {
	var p profile
	if path == "" {
		return p, nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !must {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("profile %s: %w", name, err)
	}
	found, section := false, ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return p, fmt.Errorf("%s:%d: a table header ends with ]", path, n)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			found = found || section == "profile."+name
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return p, fmt.Errorf("%s:%d: want key = \"value\"", path, n)
		}
		key = strings.TrimSpace(key)
		v, err := strconv.Unquote(strings.TrimSpace(val))
		if err != nil {
			return p, fmt.Errorf("%s:%d: the value of %s must be a quoted string", path, n, key)
		}
		if section != "profile."+name {
			continue
		}
		switch key {
		case "server":
			p.Server = v
		case "api_key":
			p.APIKey = v
		case "token":
			p.Token = v
		default:
			return p, fmt.Errorf("%s:%d: unknown key %q; allowed are server, api_key, token", path, n, key)
		}
	}
	if !found && must {
		return p, fmt.Errorf("%s has no [profile.%s]", path, name)
	}
	return p, nil
}

// session is a connection to a Flowgate MCP server.
type session struct {
	cs     *mcp.ClientSession
	server string
	seen   *refusals
	end    func()
}

// connect opens an MCP session with the server. The client declares no capabilities:
// without elicitation, advance_workflow does not ask to confirm a decision, since the
// person typed it as a command; without roots, the server asks nothing of it.
func (c *clientFlags) connect(ctx context.Context, command string) (*session, error) {
	if err := c.resolve(); err != nil {
		return nil, err
	}
	headers, end, err := traceCommand(ctx, command)
	if err != nil {
		return nil, err
	}
	seen := &refusals{next: http.DefaultTransport, key: c.apiKey, token: c.token, trace: headers}
	client := mcp.NewClient(&mcp.Implementation{Name: "flowgate-cli", Version: version}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: c.server, DisableStandaloneSSE: true,
		HTTPClient: &http.Client{Transport: seen}}, nil)
	s := &session{cs: cs, server: c.server, seen: seen, end: end}
	if err != nil {
		end()
		return nil, s.failure(err)
	}
	return s, nil
}

// Close ends the session, and the command's span if traces are on.
func (s *session) Close() {
	s.cs.Close()
	s.end()
}

// traceCommand makes a client command one span when the OTEL_* variables turn traces on
// (as for the server), named "flowgate runs approve", continuing the TRACEPARENT and
// TRACESTATE variables, as a CI job hands its trace to the tools it runs. It returns the
// headers each request carries (traceparent), so the server's spans are the command's
// children, and end, which ends the span and sends it. With traces off, a TRACEPARENT
// given is passed on as it is.
func traceCommand(ctx context.Context, command string) (propagation.MapCarrier, func(), error) {
	parent := propagation.MapCarrier{}
	if tp := strings.TrimSpace(os.Getenv("TRACEPARENT")); tp != "" {
		parent["traceparent"] = tp
		if ts := strings.TrimSpace(os.Getenv("TRACESTATE")); ts != "" {
			parent["tracestate"] = ts
		}
	}
	ctx = tracing.Propagator.Extract(ctx, parent)
	provider, stop, err := startTracing(ctx, slog.Default())
	if err != nil {
		return nil, nil, err
	}
	end := stop
	if provider != nil {
		var span trace.Span
		ctx, span = provider.Tracer(tracing.ScopeName).Start(ctx, "flowgate "+command, trace.WithSpanKind(trace.SpanKindClient))
		end = func() {
			span.End()
			stop()
		}
	}
	headers := propagation.MapCarrier{}
	tracing.Propagator.Inject(ctx, headers)
	return headers, end, nil
}

// call calls a tool and decodes its structured content into out; a tool error is the
// server's refusal, in its own words.
func (s *session) call(ctx context.Context, tool string, args, out any) (text string, raw json.RawMessage, err error) {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", nil, s.failure(err)
	}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	text = strings.Join(texts, "\n")
	if res.IsError {
		return "", nil, errors.New(text)
	}
	if res.StructuredContent == nil {
		return text, nil, fmt.Errorf("%s answered with no structured content: %s", tool, text)
	}
	raw, _ = json.Marshal(res.StructuredContent)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return text, raw, fmt.Errorf("%s answered %s: %w", tool, raw, err)
		}
	}
	return text, raw, nil
}

// read reads a JSON resource into out.
func (s *session) read(ctx context.Context, uri string, out any) (json.RawMessage, error) {
	res, err := s.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		return nil, s.failure(err)
	}
	if len(res.Contents) == 0 {
		return nil, fmt.Errorf("%s is empty", uri)
	}
	raw := json.RawMessage(res.Contents[0].Text)
	if err := json.Unmarshal(raw, out); err != nil {
		return raw, fmt.Errorf("%s: %w", uri, err)
	}
	return raw, nil
}

// failure says what an error of the MCP client means: a refusal the server explained
// (its credentials or scope checks, a protocol error) is the server's sentence; anything
// else is a server that could not be reached.
func (s *session) failure(err error) error {
	refused, problem := s.seen.last()
	if refused != "" {
		return errors.New(refused)
	}
	var wire *jsonrpc.Error
	if errors.As(err, &wire) && wire.Code != codeRejectedByTransport && problem == "" {
		return errors.New(wire.Message)
	}
	if problem != "" {
		err = errors.New(problem)
	}
	return unreachableError{fmt.Errorf("cannot reach the Flowgate server at %s (set --server, FLOWGATE_SERVER or a profile): %w", s.server, err)}
}

// codeRejectedByTransport is the go-sdk's code of a request that never reached the
// server (jsonrpc2.ErrRejected, internal to the SDK).
const codeRejectedByTransport = -32005

// refusals sends the API key (as X-API-Key) or the OAuth token (as Authorization: Bearer)
// with each request and keeps what went wrong last: the reason of a refusal (401, 403,
// 429), which the server explains in a body the MCP client does not pass on, or a server
// that did not answer, or answered something else.
type refusals struct {
	next             http.RoundTripper
	key, token       string
	trace            propagation.MapCarrier // traceparent and tracestate, when tracing
	mu               sync.Mutex
	refused, problem string
}

func (r *refusals) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.key != "" || r.token != "" || len(r.trace) > 0 {
		req = req.Clone(req.Context())
	}
	switch {
	case r.key != "":
		req.Header.Set("X-API-Key", r.key)
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.trace {
		req.Header.Set(k, v)
	}
	resp, err := r.next.RoundTrip(req)
	switch {
	case err != nil:
		r.note("", err.Error())
		return resp, err
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusTooManyRequests:
	case resp.StatusCode >= 300 && resp.StatusCode != http.StatusMethodNotAllowed:
		r.note("", fmt.Sprintf("%s %s answered %s", req.Method, req.URL.Redacted(), resp.Status))
		return resp, nil
	default:
		r.note("", "") // an answer clears what an earlier request met
		return resp, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var why struct {
		Description string `json:"error_description"`
	}
	msg := fmt.Sprintf("the server refused the request (%s)", resp.Status)
	if json.Unmarshal(body, &why) == nil && why.Description != "" {
		msg = "refused: " + why.Description
	}
	if resp.StatusCode == http.StatusUnauthorized && r.key == "" && r.token == "" {
		msg += " (give an API key: --api-key, FLOWGATE_API_KEY or a profile's api_key; or an OAuth token: --token, FLOWGATE_TOKEN or a profile's token)"
	}
	r.note(msg, "")
	return resp, nil
}

func (r *refusals) note(refused, problem string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused, r.problem = refused, problem
}

func (r *refusals) last() (refused, problem string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused, r.problem
}
