package mcpserver

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/app"
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

// TestTheInboxShowsEachRunsSummaryEscaped: each entry says what its run is for (the
// definition's summary, filled for the run), as text: a requester who puts markup in a
// parameter gets it shown, not run. A page nobody signed in to offers no sign-out.
func TestTheInboxShowsEachRunsSummaryEscaped(t *testing.T) {
	s, err := New(Config{DecisionKeys: mustKeys(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	item := func(id, summary string) inboxItem {
		return inboxItem{Pending: app.Pending{WorkflowID: id, Type: "refund_approval", Summary: summary, Step: "approval",
			RequestedBy: "rita", Deadline: time.Now().Add(time.Hour), Needs: 1}, Link: ApprovalPath + "?t=x"}
	}
	render := func(p inboxPage) string {
		w := httptest.NewRecorder()
		s.renderInbox(w, http.StatusOK, p)
		return w.Body.String()
	}
	page := render(inboxPage{Who: "bob", Items: []inboxItem{
		item("refund_approval-1", "Refund 2500 cents on ORD-01003, requested by rita"),
		item("refund_approval-2", `Refund 10 cents on <script>alert(1)</script>, requested by "rita"`),
		item("refund_approval-3", ""),
	}})
	for _, want := range []string{
		"<strong>Refund 2500 cents on ORD-01003, requested by rita</strong>",
		"<strong>Refund 10 cents on &lt;script&gt;alert(1)&lt;/script&gt;, requested by &#34;rita&#34;</strong>",
		`<li><a href="` + ApprovalPath + `?t=x">refund_approval-3</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the inbox lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("a summary's markup reached the page unescaped:\n%s", page)
	}
	if strings.Contains(page, "Sign out") {
		t.Errorf("a page nobody signed in to offers a sign-out:\n%s", page)
	}
	if signedIn := render(inboxPage{Who: "bob", SignedIn: true}); !strings.Contains(signedIn, "Sign out") {
		t.Errorf("a signed-in approver's page offers no sign-out:\n%s", signedIn)
	}
}
