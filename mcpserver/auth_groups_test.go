package mcpserver

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestTokenGroupsBecomeGroupScopes: with GroupsClaim "groups", each group name a signed
// token lists becomes a group:NAME scope of the identity, beside (and not twice with) the
// scopes of its scope claim, so a gate naming group:finance admits the people the issuer
// puts in finance; values that are not group names are left out, a claim of another type
// refuses the token, and without GroupsClaim the claim grants nothing.
func TestTokenGroupsBecomeGroupScopes(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	}))
	t.Cleanup(jwks.Close)
	const issuer, resource = "https://issuer.test", "https://flowgate.test/mcp"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	token := func(groups any) string {
		now := time.Now()
		claims := map[string]any{"iss": issuer, "aud": resource, "sub": "erin", "scope": "read:data approve group:finance",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if groups != nil {
			claims["groups"] = groups
		}
		raw, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	newAuth := func(claim string) *authenticator {
		a, err := newAuthenticator(AuthConfig{ResourceURL: resource, OAuth: &OAuthConfig{Issuer: issuer, JWKSURL: jwks.URL, GroupsClaim: claim}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	withGroups, without := newAuth("groups"), newAuth("")
	own := []string{"read:data", "approve", "group:finance"}
	for _, c := range []struct {
		name    string
		a       *authenticator
		groups  any
		scopes  []string
		refused string
	}{
		{name: "a list of groups", a: withGroups, groups: []string{"finance", "ops", "/finance", "Domain Users", "x" + strings.Repeat("y", 63), "ops"}, scopes: append(own, "group:ops")},
		{name: "one group as a string", a: withGroups, groups: "legal", scopes: append(own, "group:legal")},
		{name: "no groups claim", a: withGroups, scopes: own},
		{name: "an empty list", a: withGroups, groups: []string{}, scopes: own},
		{name: "a number", a: withGroups, groups: 42, refused: "access token's groups claim is not a list of group names (--oauth-groups-claim)"},
		{name: "a list holding a number", a: withGroups, groups: []any{"ops", 7}, refused: "access token's groups claim is not a list of group names"},
		{name: "groups not configured", a: without, groups: []string{"ops"}, scopes: own},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			req.Header.Set("Authorization", "Bearer "+token(c.groups))
			id, aerr := c.a.authenticate(req)
			switch {
			case c.refused != "" && (aerr == nil || aerr.status != 401 || !strings.Contains(aerr.msg, c.refused)):
				t.Errorf("got %+v, %+v; want a 401 saying %q", id, aerr, c.refused)
			case c.refused == "" && aerr != nil:
				t.Fatalf("refused: %s", aerr.msg)
			case c.refused == "" && (id.Subject != "erin" || !slices.Equal(id.Scopes, c.scopes)):
				t.Errorf("identity %+v, want erin with %q", id, c.scopes)
			}
		})
	}
}
