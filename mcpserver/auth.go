package mcpserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/workflows"
)

// Scopes a caller may hold (the typed API's, app.Scope*). Each tool and resource needs one.
const (
	// ScopeRead reads: status, list, details, search, records, files.
	ScopeRead = app.ScopeRead
	// ScopeWrite acts: start, continue, cancel, call_service.
	ScopeWrite = app.ScopeWrite
	// ScopeApprove decides: approve and reject.
	ScopeApprove = app.ScopeApprove
	// ScopeAdmin runs arbitrary read-only SQL and reads system stats.
	ScopeAdmin = app.ScopeAdmin
)

// groupScope is a group scope, such as group:finance: it grants no tool, and admits its
// holder at the approval gates of process definitions that name it.
var groupScope = regexp.MustCompile(`^group:[a-z][a-z0-9_-]{0,62}$`)

// AllScopes lists every scope.
var AllScopes = app.AllScopes

// APIKey is one configured key: the caller's name (recorded as actor), the SHA-256 of the
// key in hex (the key itself is never stored), and its scopes.
type APIKey struct {
	Name    string   `json:"name"`
	SHA256  string   `json:"sha256"`
	Scopes  []string `json:"scopes"`
	Revoked bool     `json:"revoked,omitempty"`
}

// OAuthConfig makes Flowgate an OAuth 2.1 resource server for JWT access tokens.
type OAuthConfig struct {
	// Issuer is the authorization server; its metadata gives the JWKS unless JWKSURL is set.
	Issuer string
	// JWKSURL overrides the key set location.
	JWKSURL string
	// GroupsClaim names a claim whose strings are the groups a person is in (such as
	// "groups"): each VALUE becomes the scope group:VALUE, which a gate naming that group
	// admits. The issuer is then the group directory, as the key file is for API keys.
	// Values that are not group names (lowercase letters, digits, '_' and '-', starting
	// with a letter) are left out. Empty reads no groups.
	GroupsClaim string
	// Algorithms allowed for signatures; default RS256 and ES256.
	Algorithms []string
	// Leeway for exp and nbf; default 30s.
	Leeway time.Duration
	// HTTPClient fetches metadata and keys; default a client with a 10s timeout.
	HTTPClient *http.Client
}

// AuthConfig configures authentication of the HTTP transport.
type AuthConfig struct {
	// ResourceURL is this server's canonical URL (e.g. https://flowgate.example.com/mcp):
	// the audience tokens must carry and the resource named in Protected Resource Metadata.
	ResourceURL string
	APIKeys     []APIKey
	OAuth       *OAuthConfig
	// RateLimit is the requests per second each identity may send to the MCP endpoint,
	// with bursts up to RateBurst (default twice the rate); 0 means no limit. A request
	// over it is answered 429 with Retry-After before it reaches Temporal.
	RateLimit float64
	RateBurst int
	// FailedAuthPerMinute is how many failed authentications (a wrong, revoked or expired
	// credential, on /mcp or at the approval inbox's sign-in) one remote address may make
	// per minute; past it its attempts are refused with 429 and Retry-After before any
	// credential is checked. 0 means DefaultFailedAuthPerMinute; negative, no limit.
	FailedAuthPerMinute int
}

// authError is a refused request: the HTTP status, the OAuth error code, and a sentence.
type authError struct {
	status int
	code   string
	scope  string
	msg    string
}

func (e *authError) Error() string { return e.msg }

// authenticator checks API keys and bearer tokens.
type authenticator struct {
	cfg      AuthConfig
	keys     *keySet
	limiter  *identityLimiter
	failures *failureLimiter
}

func newAuthenticator(cfg AuthConfig) (*authenticator, error) {
	if cfg.RateLimit < 0 || cfg.RateBurst < 0 {
		return nil, fmt.Errorf("rate limit %v/s with burst %d: both must be 0 (off) or positive", cfg.RateLimit, cfg.RateBurst)
	}
	a := &authenticator{cfg: cfg, limiter: newIdentityLimiter(cfg.RateLimit, cfg.RateBurst), failures: newFailureLimiter(cfg.FailedAuthPerMinute)}
	for i, k := range cfg.APIKeys {
		if k.Name == "" {
			return nil, fmt.Errorf("api key %d: name is empty", i)
		}
		// The name is the identity recorded with every decision, and shown in notices.
		if err := workflows.CheckName(fmt.Sprintf("api key %d: name", i), k.Name); err != nil {
			return nil, err
		}
		if raw, err := hex.DecodeString(k.SHA256); err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("api key %s: sha256 must be 64 hex characters (printf %%s KEY | sha256sum)", k.Name)
		}
		for _, s := range k.Scopes {
			if !slices.Contains(AllScopes, s) && !groupScope.MatchString(s) {
				return nil, fmt.Errorf("api key %s: unknown scope %q; allowed are %s, and group:NAME (a group that process definitions' approval gates may name)", k.Name, s, strings.Join(AllScopes, ", "))
			}
		}
	}
	if o := cfg.OAuth; o != nil {
		if o.Issuer == "" {
			return nil, errors.New("oauth: issuer is empty")
		}
		if cfg.ResourceURL == "" {
			return nil, errors.New("oauth: the resource URL (the audience tokens must carry) is empty")
		}
		if len(o.Algorithms) == 0 {
			o.Algorithms = []string{"RS256", "ES256"}
		}
		for _, alg := range o.Algorithms {
			if strings.HasPrefix(alg, "HS") || alg == "none" {
				return nil, fmt.Errorf("oauth: algorithm %s is not allowed; use asymmetric ones such as RS256 or ES256", alg)
			}
		}
		if o.Leeway == 0 {
			o.Leeway = 30 * time.Second
		}
		if o.HTTPClient == nil {
			o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
		}
		a.keys = &keySet{cfg: o}
	}
	return a, nil
}

// hasCredential says whether a request presents a credential (an X-API-Key header or an
// Authorization header of any scheme): only those count as failed authentications.
func hasCredential(r *http.Request) bool {
	return r.Header.Get("X-API-Key") != "" || r.Header.Get("Authorization") != ""
}

// bearerToken is the token of an Authorization header of the Bearer scheme, whose name is
// case-insensitive (RFC 7235): "Bearer", "bearer" and "BEARER" all name it. scheme is the
// scheme named, for an error that names it.
func bearerToken(header string) (token, scheme string, ok bool) {
	scheme, token, _ = strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", scheme, false
	}
	return strings.TrimSpace(token), scheme, true
}

// authenticate finds the caller's identity in the request's X-API-Key or Authorization header.
func (a *authenticator) authenticate(r *http.Request) (Identity, *authError) {
	key := r.Header.Get("X-API-Key")
	authz := r.Header.Get("Authorization")
	bearer, scheme, hasBearer := bearerToken(authz)
	switch {
	case key != "":
		return a.checkKey(key)
	case hasBearer && bearer == "":
		return Identity{}, &authError{status: 401, code: "invalid_request", msg: "the Authorization header names the Bearer scheme but carries no token"}
	case hasBearer && strings.Count(bearer, ".") == 2 && a.keys != nil:
		return a.checkToken(r.Context(), bearer)
	case hasBearer && len(a.cfg.APIKeys) > 0:
		return a.checkKey(bearer)
	case hasBearer:
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "bearer token is not a JWT access token"}
	case authz != "":
		return Identity{}, &authError{status: 401, code: "invalid_request", msg: "Authorization scheme " + strconv.Quote(clipEcho(scheme, 16)) +
			" is not supported: send Authorization: Bearer <token or API key>, or an X-API-Key header"}
	}
	return Identity{}, &authError{status: 401, msg: "authentication required: send an X-API-Key header or an Authorization: Bearer token"}
}

// checkKey compares the key's hash with every configured hash in constant time.
func (a *authenticator) checkKey(key string) (Identity, *authError) {
	sum := sha256.Sum256([]byte(key))
	var found *APIKey
	for i := range a.cfg.APIKeys {
		want, _ := hex.DecodeString(a.cfg.APIKeys[i].SHA256)
		if subtle.ConstantTimeCompare(sum[:], want) == 1 {
			found = &a.cfg.APIKeys[i]
		}
	}
	if found == nil {
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "API key is not valid"}
	}
	if found.Revoked {
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "API key has been revoked"}
	}
	return Identity{Subject: found.Name, Scopes: found.Scopes}, nil
}

// credentialOf names what name signs in with now, for inbox sessions: a fingerprint of
// their API keys that are not revoked (it changes when a key is replaced, and is "" when
// every key of theirs is revoked), or "oauth" when they have no key and an OAuth issuer
// vouches for people.
func (a *authenticator) credentialOf(name string) string {
	h := sha256.New()
	h.Write([]byte("flowgate-session-credential"))
	keys, live := 0, 0
	for _, k := range a.cfg.APIKeys {
		if k.Name != name {
			continue
		}
		keys++
		if !k.Revoked {
			live++
			h.Write([]byte("\n" + strings.ToLower(k.SHA256)))
		}
	}
	switch {
	case live > 0:
		return hex.EncodeToString(h.Sum(nil)[:12])
	case keys == 0 && a.cfg.OAuth != nil:
		return "oauth"
	}
	return ""
}

// tokenClaims are the access-token claims Flowgate reads.
type tokenClaims struct {
	jwt.Claims
	Scope string `json:"scope"`
}

// checkToken verifies a JWT access token: an allowed algorithm, a signature by a key of
// the issuer's key set, iss, aud (this resource), exp (required) and nbf with leeway.
func (a *authenticator) checkToken(ctx context.Context, raw string) (Identity, *authError) {
	o := a.cfg.OAuth
	algs := make([]jose.SignatureAlgorithm, len(o.Algorithms))
	for i, alg := range o.Algorithms {
		algs[i] = jose.SignatureAlgorithm(alg)
	}
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token is malformed or uses an algorithm that is not allowed (" + strings.Join(o.Algorithms, ", ") + ")"}
	}
	kid := ""
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	key, err := a.keys.key(ctx, kid)
	if err != nil {
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: err.Error()}
	}
	var claims tokenClaims
	var all map[string]any
	if err := tok.Claims(key.Key, &claims, &all); err != nil {
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token signature is not valid"}
	}
	if claims.Expiry == nil {
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token has no expiry (exp)"}
	}
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: o.Issuer, AnyAudience: jwt.Audience{a.cfg.ResourceURL}, Time: time.Now()}, o.Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token has expired"}
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token is not valid yet"}
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token was issued by another issuer"}
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token is not for this resource (aud must be " + a.cfg.ResourceURL + ")"}
	case err != nil:
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token is not valid: " + err.Error()}
	}
	if claims.Subject == "" {
		return Identity{}, &authError{status: 401, code: "invalid_token", msg: "access token has no subject (sub)"}
	}
	scopes := strings.Fields(claims.Scope)
	if name := o.GroupsClaim; name != "" {
		groups, aerr := tokenGroups(all[name], name)
		if aerr != nil {
			return Identity{}, aerr
		}
		for _, g := range groups {
			if !slices.Contains(scopes, g) {
				scopes = append(scopes, g)
			}
		}
	}
	return Identity{Subject: claims.Subject, Scopes: scopes}, nil
}

// tokenGroups are the group:VALUE scopes of the groups claim named name: a list of
// strings (or one string), absent for a person in no group. A claim of another type is
// refused, since the issuer is then not the directory the server was told it is.
func tokenGroups(v any, name string) ([]string, *authError) {
	notGroups := func() *authError {
		return &authError{status: 401, code: "invalid_token", msg: fmt.Sprintf("access token's %s claim is not a list of group names (--oauth-groups-claim)", clipEcho(name, maxEcho))}
	}
	var values []any
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		values = []any{v}
	case []any:
		values = v
	default:
		return nil, notGroups()
	}
	var out []string
	for _, x := range values {
		g, ok := x.(string)
		if !ok {
			return nil, notGroups()
		}
		if scope := "group:" + g; groupScope.MatchString(scope) {
			out = append(out, scope)
		}
	}
	return out, nil
}

// keySet fetches the issuer's JSON Web Key Set and caches it; an unknown key id triggers
// one refetch at most every minute, so key rotation works and a flood of bad tokens does
// not turn into a flood of fetches.
type keySet struct {
	cfg       *OAuthConfig
	mu        sync.Mutex
	set       *jose.JSONWebKeySet
	fetchedAt time.Time
}

const (
	keySetTTL         = time.Hour
	keySetMinInterval = time.Minute
)

func (k *keySet) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	stale := k.set == nil || time.Since(k.fetchedAt) > keySetTTL
	if !stale && kid != "" && len(k.set.Key(kid)) == 0 && time.Since(k.fetchedAt) > keySetMinInterval {
		stale = true
	}
	if stale {
		set, err := k.fetch(ctx)
		if err != nil && k.set == nil {
			return jose.JSONWebKey{}, fmt.Errorf("the issuer's signing keys cannot be fetched: %v", err)
		}
		if err == nil {
			k.set, k.fetchedAt = set, time.Now()
		}
	}
	var candidates []jose.JSONWebKey
	if kid != "" {
		candidates = k.set.Key(kid)
	} else if len(k.set.Keys) == 1 {
		candidates = k.set.Keys
	}
	for _, c := range candidates {
		if c.Valid() && c.IsPublic() && (c.Use == "" || c.Use == "sig") {
			return c, nil
		}
	}
	return jose.JSONWebKey{}, fmt.Errorf("access token is signed with an unknown key (kid %q)", clipEcho(kid, maxEcho))
}

func (k *keySet) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	jwksURL := k.cfg.JWKSURL
	if jwksURL == "" {
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		base := strings.TrimSuffix(k.cfg.Issuer, "/")
		var err error
		for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
			if err = getJSON(ctx, k.cfg.HTTPClient, base+path, &meta); err == nil && meta.JWKSURI != "" {
				break
			}
		}
		if meta.JWKSURI == "" {
			return nil, fmt.Errorf("issuer metadata names no jwks_uri: %v", err)
		}
		if meta.Issuer != "" && meta.Issuer != k.cfg.Issuer {
			return nil, fmt.Errorf("issuer metadata names issuer %q, not %q", meta.Issuer, k.cfg.Issuer)
		}
		jwksURL = meta.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, k.cfg.HTTPClient, jwksURL, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// requiredScopes are the scopes a JSON-RPC request needs, any one of them; none means any
// authenticated caller. A message whose params do not decode needs the scope of what did
// decode: a tools/call that names no tool is refused to all but admins.
func requiredScopes(m *message) []string {
	if m.Method == "tools/call" {
		if p, _ := m.paramsOf(); p.Name == "advance_workflow" {
			// The one tool whose scope depends on an argument: the typed API says what each
			// action needs (approve to decide, write to continue, admin to reassign any gate).
			var args struct {
				Action string `json:"action"`
			}
			_ = json.Unmarshal(p.Arguments, &args)
			if need := (app.Decision{Action: workflows.Action(args.Action)}).NeededScopes(); len(need) > 0 {
				return need
			}
			return []string{ScopeApprove}
		}
	}
	if need := requiredScope(m); need != "" {
		return []string{need}
	}
	return nil
}

// requiredScope is the one scope a JSON-RPC request other than advance_workflow needs; ""
// means any authenticated caller.
func requiredScope(m *message) string {
	switch m.Method {
	case "tools/call":
		p, _ := m.paramsOf()
		return toolScope(p.Name)
	case "resources/read":
		if p, _ := m.paramsOf(); strings.HasPrefix(p.URI, "admin://") {
			return ScopeAdmin
		}
		return ScopeRead
	case "prompts/get", "resources/subscribe", "tasks/get", "tasks/list", "tasks/result", "completion/complete":
		return ScopeRead
	case "tasks/cancel":
		return ScopeWrite
	}
	return ""
}

// toolScope is the scope a tool call needs (advance_workflow: requiredScopes).
func toolScope(tool string) string {
	switch tool {
	case "get_workflow_status", "list_workflows", "search_table", "parse_file", "list_files", "describe_process", taskResultTool:
		return ScopeRead
	case "start_workflow", "cancel_workflow", "call_service":
		return ScopeWrite
	case "advance_workflow":
		return ScopeApprove
	case "execute_query", "validate_process", "test_process":
		return ScopeAdmin
	case "send_event":
		// The wait names its scope (write:data unless its definition says otherwise): the
		// typed API checks it against the run (app.Service.SendEvent).
		return ""
	}
	return ScopeAdmin // a tool this table does not know is refused to all but admins
}

// requireAuth wraps the MCP endpoint: it authenticates every request before its body is
// read; the scope a call needs is checked once the message is parsed (checkScope), before
// anything reaches Temporal. Refusals follow RFC 6750 and RFC 9728.
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := remoteAddr(r)
		presented := hasCredential(r)
		if presented {
			if blocked, wait := s.auth.failures.blocked(addr, time.Now()); blocked {
				s.refuseFailedAuth(w, r, wait, true)
				return
			}
		}
		id, aerr := s.auth.authenticate(r)
		if aerr != nil && presented && aerr.status == http.StatusUnauthorized {
			s.auth.failures.failed(addr, time.Now())
		}
		if aerr == nil && s.auth.limiter != nil {
			if ok, wait := s.auth.limiter.allow(id.Subject, time.Now()); !ok {
				secs := int(math.Ceil(wait.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "rate_limited", "error_description": fmt.Sprintf(
					"%s sent more than %g requests per second (bursts of %d); retry after %d s", id.Subject, s.auth.cfg.RateLimit, s.auth.limiter.burst, secs)})
				s.cfg.Logger.Info("request rate-limited", "subject", id.Subject, "remote", r.RemoteAddr)
				return
			}
		}
		if aerr != nil {
			s.authRefusal(aerr, r).writeHTTP(w)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// checkScope refuses a call the authenticated caller's scopes do not allow (403 with the
// scope it needs). Without an identity (no auth configured) every call passes.
func (s *Server) checkScope(in *inbound) *reply {
	id, ok := IdentityFromContext(in.ctx)
	if !ok || in.msg == nil || in.msg.kind != object {
		return nil // batches and garbage need no scope: they are refused as such
	}
	need := requiredScopes(in.msg)
	if len(need) == 0 || slices.ContainsFunc(need, func(sc string) bool { return slices.Contains(id.Scopes, sc) }) {
		return nil
	}
	quoted := make([]string, len(need))
	for i, sc := range need {
		quoted[i] = strconv.Quote(sc)
	}
	return s.authRefusal(&authError{status: http.StatusForbidden, code: "insufficient_scope", scope: strings.Join(need, " "),
		msg: fmt.Sprintf("%s needs scope %s; %s has %s", describeCall(in.msg), strings.Join(quoted, " or "), clipEcho(id.Subject, maxEcho), strings.Join(id.Scopes, " "))}, in.http)
}

// authRefusal is the answer to a request refused for its credentials or scope, with the
// challenge RFC 6750 and RFC 9728 describe; the refusal is logged.
func (s *Server) authRefusal(aerr *authError, r *http.Request) *reply {
	challenge := `Bearer resource_metadata="` + s.protectedResourceMetadataURL() + `"`
	if aerr.code != "" {
		challenge += `, error="` + aerr.code + `", error_description="` + headerQuoted(aerr.msg) + `"`
	}
	if aerr.scope != "" {
		challenge += `, scope="` + aerr.scope + `"`
	}
	header := http.Header{}
	header.Set("WWW-Authenticate", challenge)
	body, _ := json.Marshal(map[string]string{"error": firstNonEmpty(aerr.code, "unauthorized"), "error_description": aerr.msg})
	s.cfg.Logger.Info("request refused", "status", aerr.status, "reason", aerr.msg, "remote", r.RemoteAddr)
	return &reply{status: aerr.status, header: header, body: append(body, '\n')}
}

// describeCall names a call in a refusal (header, body and log), its client-chosen parts
// clipped (clipEcho): a 3 MiB tool name is not repeated back.
func describeCall(m *message) string {
	p, _ := m.paramsOf()
	method := clipEcho(m.Method, maxEcho)
	switch {
	case p.Name != "":
		return method + " " + clipEcho(p.Name, maxEcho)
	case p.URI != "":
		return method + " " + clipEcho(p.URI, 2*maxEcho)
	}
	return method
}

// headerQuoted makes s fit a quoted-string of a header (RFC 9110): printable ASCII only,
// with quotes and backslashes replaced.
func headerQuoted(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\':
			return '/'
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// protectedResourceMetadataURL is where RFC 9728 metadata is served for this resource.
func (s *Server) protectedResourceMetadataURL() string {
	u, err := url.Parse(s.cfg.Auth.ResourceURL)
	if err != nil || u.Host == "" {
		return "/.well-known/oauth-protected-resource"
	}
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource"
}

// protectedResourceMetadata serves RFC 9728 Protected Resource Metadata.
func (s *Server) protectedResourceMetadata(w http.ResponseWriter, _ *http.Request) {
	meta := map[string]any{
		"resource":                 s.cfg.Auth.ResourceURL,
		"scopes_supported":         AllScopes,
		"bearer_methods_supported": []string{"header"},
		"resource_name":            "Flowgate",
	}
	if s.cfg.Auth.OAuth != nil {
		meta["authorization_servers"] = []string{s.cfg.Auth.OAuth.Issuer}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(meta)
}

// canAdvance tells whether holding scope lets a caller take some action of
// advance_workflow: whoever can is shown the tool.
func canAdvance(scope string) bool {
	for _, a := range workflows.Actions {
		if slices.Contains((app.Decision{Action: a}).NeededScopes(), scope) {
			return true
		}
	}
	return false
}
