package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// issuer is a local OAuth authorization server: its own keys, metadata and JWKS.
type issuer struct {
	srv        *httptest.Server
	key, other *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	iss := &issuer{}
	var err error
	if iss.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if iss.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss.srv.URL, "jwks_uri": iss.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &iss.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"},
		}})
	})
	return iss
}

const resourceURL = "https://flowgate.test/mcp"

// token signs claims with key under kid and alg.
func (iss *issuer) token(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// claims are valid claims for subject with scopes, changed by edits.
func (iss *issuer) claims(subject, scopes string, edits ...func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": iss.srv.URL, "aud": resourceURL, "sub": subject, "scope": scopes,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}
	for _, e := range edits {
		e(c)
	}
	return c
}

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// rpc posts one JSON-RPC message with the given headers and returns the answer.
func rpc(t *testing.T, url string, headers map[string]string, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(raw)
}

const initialize = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"auth-test","version":"1"}}}`

func toolCall(name string, args map[string]any) string {
	raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
	return string(raw)
}

func TestAuthentication(t *testing.T) {
	iss := newIssuer(t)
	env := testenv.StartT(t, testenv.Options{Auth: &mcpserver.AuthConfig{
		ResourceURL: resourceURL,
		APIKeys: []mcpserver.APIKey{
			{Name: "alice", SHA256: keyHash("alice-key"), Scopes: []string{mcpserver.ScopeRead, mcpserver.ScopeWrite}},
			{Name: "bob", SHA256: keyHash("bob-key"), Scopes: []string{mcpserver.ScopeRead, mcpserver.ScopeApprove}},
			{Name: "carol", SHA256: keyHash("carol-key"), Scopes: mcpserver.AllScopes, Revoked: true},
			{Name: "dave", SHA256: keyHash("dave-key"), Scopes: mcpserver.AllScopes},
		},
		OAuth: &mcpserver.OAuthConfig{Issuer: iss.srv.URL},
	}})
	countRuns := func() int64 {
		resp, err := env.Client.CountWorkflow(context.Background(), countRequest(""))
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetCount()
	}
	before := countRuns()
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	apiKey := func(k string) map[string]string { return map[string]string{"X-API-Key": k} }
	rs := jose.RS256
	start := toolCall("start_workflow", map[string]any{"workflow_type": "audit", "parameters": map[string]any{"tables": []string{"users"}}})
	publicDER, _ := x509.MarshalPKIXPublicKey(&iss.key.PublicKey)

	cases := []struct {
		name    string
		headers map[string]string
		body    string
		status  int
		want    string // in WWW-Authenticate or the body
	}{
		{"no credentials", nil, initialize, 401, `resource_metadata="https://flowgate.test/.well-known/oauth-protected-resource"`},
		{"valid token", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data"))), initialize, 200, `"protocolVersion"`},
		{"expired token", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data", func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}))), initialize, 401, "access token has expired"},
		{"token not yet valid", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data", func(c map[string]any) {
			c["nbf"] = time.Now().Add(time.Hour).Unix()
		}))), initialize, 401, "not valid yet"},
		{"wrong issuer", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data", func(c map[string]any) {
			c["iss"] = "https://evil.example"
		}))), initialize, 401, "issued by another issuer"},
		{"wrong audience", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data", func(c map[string]any) {
			c["aud"] = "https://other.example/mcp"
		}))), initialize, 401, "not for this resource"},
		{"alg none", bearer(unsignedToken(iss.claims("erin", "admin"))), initialize, 401, "algorithm that is not allowed"},
		{"HS256 signed with the public key", bearer(iss.token(t, jose.HS256, publicDER, "k1", iss.claims("erin", "admin"))), initialize, 401, "algorithm that is not allowed"},
		{"bad signature", bearer(iss.token(t, rs, iss.other, "k1", iss.claims("erin", "admin"))), initialize, 401, "signature is not valid"},
		{"unknown kid", bearer(iss.token(t, rs, iss.other, "k9", iss.claims("erin", "admin"))), initialize, 401, "unknown key"},
		{"no expiry", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data", func(c map[string]any) { delete(c, "exp") }))), initialize, 401, "no expiry"},
		{"no subject", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("", "read:data"))), initialize, 401, "no subject"},
		{"token missing scope", bearer(iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data"))), start, 403, `error="insufficient_scope", error_description=`},
		{"not a JWT and no such key", bearer("garbage"), initialize, 401, "API key is not valid"},
		{"wrong API key", apiKey("mallory-key"), initialize, 401, "API key is not valid"},
		{"revoked API key", apiKey("carol-key"), initialize, 401, "API key has been revoked"},
		{"valid API key", apiKey("alice-key"), initialize, 200, `"protocolVersion"`},
		{"API key as bearer", bearer("alice-key"), initialize, 200, `"protocolVersion"`},
		{"key without approve", apiKey("alice-key"), toolCall("advance_workflow", map[string]any{"workflow_id": "x", "action": "approve"}), 403, `scope="approve"`},
		{"key without admin", apiKey("alice-key"), toolCall("execute_query", map[string]any{"query": "SELECT 1"}), 403, `scope="admin"`},
		{"key without write", apiKey("bob-key"), start, 403, `scope="write:data"`},
		{"key without admin reads stats", apiKey("alice-key"), `{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"admin://system/stats"}}`, 403, `scope="admin"`},
		{"continue needs write, not approve", apiKey("bob-key"), toolCall("advance_workflow", map[string]any{"workflow_id": "x", "action": "continue"}), 403, `scope="write:data"`},
	}
	for _, c := range cases {
		status, challenge, body := rpc(t, env.MCPURL, c.headers, c.body)
		if status != c.status || !strings.Contains(challenge+body, c.want) {
			t.Errorf("%s: %d %q %s; want %d with %q", c.name, status, challenge, body, c.status, c.want)
		}
		if status == 401 && !strings.Contains(challenge, "resource_metadata=") {
			t.Errorf("%s: 401 without resource_metadata: %q", c.name, challenge)
		}
	}
	if after := countRuns(); after != before {
		t.Fatalf("refused requests left %d workflow runs", after-before)
	}

	// RFC 9728 metadata names the resource and the authorization server.
	resp, err := http.Get(strings.TrimSuffix(env.MCPURL, "/mcp") + "/.well-known/oauth-protected-resource")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["resource"] != resourceURL || fmt.Sprint(meta["authorization_servers"]) != "["+iss.srv.URL+"]" {
		t.Errorf("protected resource metadata = %v", meta)
	}
}

// TestIdentityIsTheActor: the caller's identity is recorded as requester and approver,
// and separation of duties refuses an approval by the requester.
func TestIdentityIsTheActor(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{Auth: &mcpserver.AuthConfig{ResourceURL: resourceURL, APIKeys: []mcpserver.APIKey{
		{Name: "dave", SHA256: keyHash("dave-key"), Scopes: mcpserver.AllScopes},
		{Name: "bob", SHA256: keyHash("bob-key"), Scopes: []string{mcpserver.ScopeRead, mcpserver.ScopeApprove}},
	}}})
	dave, bob := newPlainMCPWith(t, env.MCPURL, "dave-key"), newPlainMCPWith(t, env.MCPURL, "bob-key")
	out, err := dave.call("start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "8.0.0", "environment": "production"}})
	if err != nil {
		t.Fatal(err)
	}
	var s mcpserver.StartResult
	json.Unmarshal(out, &s)
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)
	if _, err := dave.call("advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve"}); err == nil || !strings.Contains(err.Error(), "separation of duties") {
		t.Fatalf("self-approval: %v", err)
	}
	// approvals://pending lists the gate for bob, who may decide it, not for dave, who
	// requested it.
	for who, c := range map[string]*plainMCP{"bob": bob, "dave": dave} {
		text, err := c.read(mcpserver.PendingURI)
		var inbox app.PendingResult
		if err != nil || json.Unmarshal([]byte(text), &inbox) != nil || inbox.For != who {
			t.Fatalf("%s's approvals://pending: %s %v", who, text, err)
		}
		listed := slices.ContainsFunc(inbox.Items, func(p app.Pending) bool {
			return p.WorkflowID == s.WorkflowID && p.Step == "approval" && p.RequestedBy == "dave"
		})
		if listed != (who == "bob") {
			t.Errorf("%s's approvals://pending lists the run: %t; %s", who, listed, text)
		}
	}
	// Anyone who reaches Temporal could claim to be bob: a raw signal and an unsigned
	// update are refused, and the signal is recorded as ignored.
	if err := env.Client.SignalWorkflow(context.Background(), s.WorkflowID, "", workflows.SignalApprove, workflows.Decision{Step: "approval", Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := advance(t, env.Client, s.WorkflowID, workflows.AdvanceRequest{Action: workflows.ActionApprove, Actor: "bob", Inputs: changeTicket}); err == nil || !strings.Contains(err.Error(), "an unsigned decision is refused") {
		t.Fatalf("an unsigned update through the raw SDK: %v", err)
	}
	forged := testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)
	if forged.Status != workflows.StatusWaitingApproval {
		t.Fatalf("after the forged decisions: %s", forged.Status)
	}
	if _, err := bob.call("advance_workflow", map[string]any{"workflow_id": s.WorkflowID, "action": "approve", "comment": "ok", "inputs": changeTicket}); err != nil {
		t.Fatal(err)
	}
	st, err := result(t, env.Client, s.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	var approval workflows.Step
	for _, step := range st.Steps {
		if step.Name == workflows.StepDeployApproval {
			approval = step
		}
	}
	if st.RequestedBy != "dave" || approval.Actor != "bob" {
		t.Errorf("requested by %q, approved by %q", st.RequestedBy, approval.Actor)
	}
	if ign := st.Events("signal_ignored"); len(ign) != 1 || !strings.Contains(ign[0].Detail, "a signal cannot carry one") {
		t.Errorf("the forged signal is not recorded as ignored: %+v", ign)
	}
	// bob's tools/list hides the tools his scopes do not allow.
	resp, err := bob.post(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(raw), `"start_workflow"`) || !strings.Contains(string(raw), `"advance_workflow"`) {
		t.Errorf("bob's tools: %s", raw)
	}
}

func TestNonLoopbackNeedsAuth(t *testing.T) {
	m, err := mcpserver.New(mcpserver.Config{Client: testenv.Shared(t).Client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ListenHTTP("0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "no authentication is configured") {
		t.Errorf("listen on 0.0.0.0 without auth: %v", err)
	}
}

// unsignedToken builds a JWT with alg "none".
func unsignedToken(claims map[string]any) string {
	enc := func(v any) string {
		raw, _ := json.Marshal(v)
		return strings.TrimRight(base64URL(raw), "=")
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

// TestRateLimitPerIdentity checks that an identity over its rate gets 429 with
// Retry-After, before anything reaches Temporal, while another identity is unaffected.
func TestRateLimitPerIdentity(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{Auth: &mcpserver.AuthConfig{
		ResourceURL: resourceURL,
		APIKeys: []mcpserver.APIKey{
			{Name: "busy", SHA256: keyHash("busy-key"), Scopes: mcpserver.AllScopes},
			{Name: "calm", SHA256: keyHash("calm-key"), Scopes: mcpserver.AllScopes},
		},
		RateLimit: 0.5, RateBurst: 3,
	}})
	busy := map[string]string{"X-API-Key": "busy-key"}
	for i := range 3 {
		if status, _, body := rpc(t, env.MCPURL, busy, initialize); status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i+1, status, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, env.MCPURL, strings.NewReader(initialize))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("X-API-Key", "busy-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" ||
		!strings.Contains(string(body), `"rate_limited"`) || !strings.Contains(string(body), "busy sent more than 0.5 requests per second") {
		t.Errorf("4th request: %d Retry-After %q %s; want 429, Retry-After 2 and a sentence naming the identity", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if status, _, body := rpc(t, env.MCPURL, map[string]string{"X-API-Key": "calm-key"}, initialize); status != 200 {
		t.Errorf("another identity was limited too: %d %s", status, body)
	}
	// Unauthenticated requests are refused as before, not counted against anyone.
	if status, _, _ := rpc(t, env.MCPURL, nil, initialize); status != 401 {
		t.Errorf("no credentials: %d, want 401", status)
	}
}

// TestTheCLISignsInWithAnOAuthToken: against a server that takes OAuth tokens only, the
// CLI's --token (or FLOWGATE_TOKEN) is the person: erin's token lists what waits on erin
// and starts a run recorded as requested by erin; a token without the write scope, an
// expired one, or none at all is refused with the server's sentence (exit 1), and a key
// and a token at once are a usage error (exit 2) before anything is sent.
func TestTheCLISignsInWithAnOAuthToken(t *testing.T) {
	iss := newIssuer(t)
	env := testenv.StartT(t, testenv.Options{Auth: &mcpserver.AuthConfig{ResourceURL: resourceURL, OAuth: &mcpserver.OAuthConfig{Issuer: iss.srv.URL}}})
	rs := jose.RS256
	erin := iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data write:data"))
	reader := iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data"))
	expired := iss.token(t, rs, iss.key, "k1", iss.claims("erin", "read:data", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))

	if r := cliWith(t, env.MCPURL, nil, "approvals", "--token", erin); r.code != 0 || !strings.Contains(r.stdout, "Nothing waits on erin.") {
		t.Errorf("approvals with --token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	start := []string{"runs", "start", "audit", "--param", `tables=["users"]`, "--json"}
	r := cliWith(t, env.MCPURL, []string{"FLOWGATE_TOKEN=" + erin}, start...)
	var s mcpserver.StartResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &s) != nil || s.WorkflowID == "" {
		t.Fatalf("runs start with FLOWGATE_TOKEN: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cliWith(t, env.MCPURL, []string{"FLOWGATE_TOKEN=" + reader}, "runs", "list", "--type", "audit"); r.code != 0 || !strings.Contains(r.stdout, s.WorkflowID+"  audit") || !strings.Contains(r.stdout, "  erin  ") {
		t.Errorf("runs list: exit %d, want %s requested by erin:\n%s%s", r.code, s.WorkflowID, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		says string
	}{
		{"a token without write", []string{"FLOWGATE_TOKEN=" + reader}, start, 1, `refused: tools/call start_workflow needs scope "write:data"; erin has read:data`},
		{"an expired token", []string{"FLOWGATE_TOKEN=" + expired}, []string{"approvals"}, 1, "refused: access token has expired"},
		{"no credential", nil, []string{"approvals"}, 1, "or an OAuth token: --token, FLOWGATE_TOKEN or a profile's token"},
		{"a key and a token", []string{"FLOWGATE_TOKEN=" + erin}, []string{"approvals", "--token", erin, "--api-key", "k"}, 2, "--api-key and --token are both set"},
	} {
		r := cliWith(t, env.MCPURL, c.env, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.says) || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d saying %q", c.name, r.code, r.stdout, r.stderr, c.code, c.says)
		}
	}
}
