package mcpserver

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/signing"
)

// TestASessionCountsWhileItsKeyDoes: a session cookie stays signed until it expires, but
// it counts only while its person holds the very key they signed in with: removing,
// revoking or replacing that key ends it at once.
func TestASessionCountsWhileItsKeyDoes(t *testing.T) {
	keys := mustKeys(t)
	bob := APIKey{Name: "bob", SHA256: strings.Repeat("ab", 32), Scopes: AllScopes}
	server := func(k ...APIKey) *Server {
		s, err := New(Config{Auth: &AuthConfig{ResourceURL: "https://flowgate.example.com/mcp", APIKeys: k},
			DecisionKeys: keys, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := server(bob)
	sign := func(l signing.Link) string {
		l.Expires = time.Now().Add(time.Hour)
		token, err := keys.SignLink(l)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	session := sign(signing.Link{Step: "read approve", Approver: "bob", Credential: s.auth.credentialOf("bob")})
	if _, why := s.sessionClaims(session); why != "" {
		t.Fatalf("bob's session does not count: %s", why)
	}
	replaced := bob
	replaced.SHA256 = strings.Repeat("cd", 32)
	revoked := bob
	revoked.Revoked = true
	for name, other := range map[string]*Server{
		"bob's key removed":  server(APIKey{Name: "carol", SHA256: bob.SHA256, Scopes: AllScopes}),
		"bob's key replaced": server(replaced),
		"bob's key revoked":  server(revoked),
	} {
		if _, why := other.sessionClaims(session); !strings.Contains(why, "replaced, revoked or removed") {
			t.Errorf("%s: the session still counts (%q)", name, why)
		}
	}
	for name, token := range map[string]string{
		"a session with no credential": sign(signing.Link{Step: "read approve", Approver: "bob"}),
		"carol's session":              sign(signing.Link{Step: "read approve", Approver: "carol", Credential: s.auth.credentialOf("bob")}),
		"an approval link":             sign(signing.Link{WorkflowID: "deployment-1", Step: "approval", Approver: "bob", Credential: s.auth.credentialOf("bob")}),
	} {
		if _, why := s.sessionClaims(token); why == "" {
			t.Errorf("%s counts as bob's inbox session", name)
		}
	}
}
