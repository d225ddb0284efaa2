package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Bounds of the gateway's inputs and outputs.
const (
	MaxEndpointLength       = 512
	DefaultResponseMaxBytes = 1 << 20
	bodyExcerptBytes        = 300
)

// Service is one backend the gateway may call.
type Service struct {
	// BaseURL is the service's root; endpoints are resolved below it.
	BaseURL string `json:"base_url"`
	// Timeout bounds one call; default 10s.
	Timeout time.Duration `json:"timeout,omitempty"`
	// AuthHeader, when set, is sent with the value of the environment variable AuthEnv,
	// read at call time so the secret is never stored in config or history.
	AuthHeader string `json:"auth_header,omitempty"`
	AuthEnv    string `json:"auth_env,omitempty"`
}

// DefaultServiceNames are the services Flowgate's workflows call.
var DefaultServiceNames = []string{"users", "products", "orders", "deploy", "notifications"}

// Gateway calls configured HTTP services. Unknown services are refused; 4xx answers are
// final; 5xx answers and timeouts are retried by Temporal.
//
// Agents' own calls (call_service, a tool_call run) are held to Direct: GET anywhere,
// other methods only where declared. A process's calls are its definition's. No call
// follows a redirect: a 3xx answer would send the body and its Idempotency-Key, or a
// read, to wherever the Location header points.
type Gateway struct {
	Client           *http.Client
	Services         map[string]Service
	ResponseMaxBytes int64
	// Direct opens endpoints to agents' own calls besides GET.
	Direct DirectCalls
}

// ServiceNames lists the configured services in sorted order.
func (g *Gateway) ServiceNames() []string {
	names := make([]string, 0, len(g.Services))
	for n := range g.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// CallInput is the input of CallService.
type CallInput struct {
	Service  string          `json:"service"`
	Endpoint string          `json:"endpoint"`
	Method   string          `json:"method"`
	Data     json.RawMessage `json:"data,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header of a POST. Empty means one
	// derived from the workflow and activity ids, the same on every retry.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// CallResult is the output of CallService.
type CallResult struct {
	Service    string          `json:"service"`
	Endpoint   string          `json:"endpoint"`
	Method     string          `json:"method"`
	StatusCode int             `json:"status_code"`
	JSON       json.RawMessage `json:"json,omitempty"`
	Text       string          `json:"text,omitempty"`
	// IdempotencyKey is the key a POST carried.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Validate checks the method, the endpoint's shape and the data's JSON; the service is
// checked against the configuration by CallService.
func (in *CallInput) Validate() error {
	in.Method = strings.ToUpper(strings.TrimSpace(in.Method))
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	if in.Method != http.MethodGet && in.Method != http.MethodPost {
		return invalidInput("method", "is %q; allowed are GET and POST", in.Method)
	}
	if err := ValidateEndpoint(in.Endpoint); err != nil {
		return err
	}
	if len(in.Data) > 0 && !json.Valid(in.Data) {
		return invalidInput("data", "is not valid JSON")
	}
	if in.Method == http.MethodGet && len(in.Data) > 0 && string(in.Data) != "null" {
		return invalidInput("data", "is only allowed with method POST")
	}
	return nil
}

// ValidateEndpoint accepts a path relative to a service's base URL, with an optional
// query: no scheme, no host, no '..' or '.' segment, no backslash or control character.
func ValidateEndpoint(endpoint string) error {
	const allowed = "a relative path such as \"health\" or \"deployments/api/production\""
	if endpoint == "" {
		return invalidInput("endpoint", "is empty; give %s", allowed)
	}
	if len(endpoint) > MaxEndpointLength {
		return invalidInput("endpoint", "is %d bytes long; at most %d are allowed", len(endpoint), MaxEndpointLength)
	}
	for i, r := range endpoint {
		if unicode.IsControl(r) || r == '\\' || r == ' ' {
			return invalidInput("endpoint", "has a space, backslash or control character at offset %d; give %s", i, allowed)
		}
	}
	if strings.HasPrefix(endpoint, "//") || strings.Contains(endpoint, "://") {
		return invalidInput("endpoint", "names a scheme or host; give %s", allowed)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return invalidInput("endpoint", "%q is not %s", endpoint, allowed)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." || seg == "." {
			return invalidInput("endpoint", "has a %q segment; give %s", seg, allowed)
		}
	}
	if raw := strings.ToLower(u.EscapedPath()); strings.Contains(raw, "%2e%2e") || strings.Contains(raw, "%2f") {
		return invalidInput("endpoint", "has an encoded '..' or '/' in its path; give %s", allowed)
	}
	if strings.ContainsRune(u.Path, '\\') {
		// Some servers read a backslash in a path as '/', a segment the endpoint did not name.
		return invalidInput("endpoint", "has an encoded backslash (%%5c) in its path; give %s", allowed)
	}
	return nil
}

// ServiceInput is the input of CheckService.
type ServiceInput struct {
	Service string `json:"service"`
}

// CheckService fails with NotFound unless the service is configured.
func (g *Gateway) CheckService(_ context.Context, in ServiceInput) error {
	if _, ok := g.Services[in.Service]; !ok {
		return notFound("service %q is not configured in the gateway; known services are %s",
			in.Service, strings.Join(g.ServiceNames(), ", "))
	}
	return nil
}

// CallService calls one endpoint of a configured service.
func (g *Gateway) CallService(ctx context.Context, in CallInput) (CallResult, error) {
	defer keepAlive(ctx)()
	if err := in.Validate(); err != nil {
		return CallResult{}, err
	}
	svc, ok := g.Services[in.Service]
	if !ok {
		return CallResult{}, invalidInput("service", "%q is unknown; allowed are %s", in.Service, strings.Join(g.ServiceNames(), ", "))
	}
	if isDirectCall(ctx) && !g.Direct.Allows(in.Service, in.Method, in.Endpoint) {
		return CallResult{}, g.Direct.Refusal(in.Service, in.Method, in.Endpoint, "")
	}
	target, err := url.JoinPath(svc.BaseURL, strings.SplitN(strings.TrimPrefix(in.Endpoint, "/"), "?", 2)[0])
	if err != nil {
		return CallResult{}, invalidInput("endpoint", "cannot be joined to the service URL: %v", err)
	}
	if i := strings.IndexByte(in.Endpoint, '?'); i >= 0 {
		target += in.Endpoint[i:]
	}
	timeout := svc.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if in.Method == http.MethodPost {
		data := in.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, target, body)
	if err != nil {
		return CallResult{}, invalidInput("endpoint", "cannot form a request: %v", err)
	}
	req.Header.Set("Accept", "application/json, text/plain")
	res := CallResult{Service: in.Service, Endpoint: in.Endpoint, Method: in.Method}
	if in.Method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		res.IdempotencyKey = in.IdempotencyKey
		if res.IdempotencyKey == "" {
			res.IdempotencyKey = derivedIdempotencyKey(ctx)
		}
		if res.IdempotencyKey != "" {
			req.Header.Set("Idempotency-Key", res.IdempotencyKey)
		}
	}
	if svc.AuthHeader != "" && svc.AuthEnv != "" {
		if v := os.Getenv(svc.AuthEnv); v != "" {
			req.Header.Set(svc.AuthHeader, v)
		}
	}
	client := http.Client{}
	if g.Client != nil {
		client = *g.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		// Network errors and timeouts are transient: Temporal retries them.
		return CallResult{}, fmt.Errorf("call %s %s: %w", in.Method, redactURL(target), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	limit := g.ResponseMaxBytes
	if limit <= 0 {
		limit = DefaultResponseMaxBytes
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return CallResult{}, fmt.Errorf("read answer of %s %s: %w", in.Method, in.Endpoint, err)
	}
	res.StatusCode = resp.StatusCode
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		where := "elsewhere"
		if loc, err := resp.Location(); err == nil {
			where = "to " + loc.Host
		}
		msg := fmt.Sprintf("service %s answered %d to %s %s, a redirect %s; the gateway follows no redirect (point the service's URL at where it answers)", in.Service, resp.StatusCode, in.Method, in.Endpoint, where)
		return CallResult{}, expected(ErrTypeRemoteRejected, msg, resp.StatusCode)
	case resp.StatusCode >= 500:
		return CallResult{}, fmt.Errorf("service %s answered %d to %s %s: %s", in.Service, resp.StatusCode, in.Method, in.Endpoint, excerpt(raw))
	case resp.StatusCode >= 400:
		msg := fmt.Sprintf("service %s refused %s %s with %d: %s", in.Service, in.Method, in.Endpoint, resp.StatusCode, excerpt(raw))
		return CallResult{}, expected(ErrTypeRemoteRejected, msg, resp.StatusCode)
	}
	if int64(len(raw)) > limit {
		return CallResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("service %s answered more than %d bytes to %s %s; the gateway caps answers at that size", in.Service, limit, in.Method, in.Endpoint),
			ErrTypeInvalidInput, nil)
	}
	if json.Valid(raw) && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		res.JSON = raw
	} else {
		res.Text = string(raw)
	}
	return res, nil
}

// derivedIdempotencyKey is the workflow id and activity id, the same on every retry of
// the same activity; empty outside an activity.
func derivedIdempotencyKey(ctx context.Context) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	info := activity.GetInfo(ctx)
	return info.WorkflowExecution.ID + "/" + info.ActivityID
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > bodyExcerptBytes {
		s = s[:bodyExcerptBytes] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// redactURL drops user info and query from a URL before it goes into an error message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
