package mcpserver

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/internal/words"
)

// InboxPath is the approver's inbox: every gate waiting on them, oldest deadline first.
const InboxPath = "/approvals"

// inboxCookie holds a signed-in approver's session: a token signed with the decision
// keys naming them, for InboxSession.
const inboxCookie = "flowgate_inbox"

// InboxSession is how long a sign-in to the inbox lasts.
const InboxSession = 8 * time.Hour

type inboxPage struct {
	// Off is set when the inbox cannot work here: the page says why, and nothing else.
	Off bool
	// SignedIn is set when the page is a signed-in approver's (it offers sign-out).
	SignedIn bool
	Who      string
	Items    []inboxItem
	SignIn   bool
	Message  string
	Truncate bool
}

type inboxItem struct {
	app.Pending
	Link string
}

// inboxHandler serves /approvals. With authentication on, the approver signs in with
// their API key once (a session cookie for InboxSession); without it, the local identity
// sees every gate.
func (s *Server) inboxHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	if s.refuseForeignHost(w, r) {
		return
	}
	keys := s.linkKeys()
	if keys == nil {
		s.renderInbox(w, http.StatusNotFound, inboxPage{Off: true, Message: "This Flowgate server has no decision keys, so it cannot make approval links (start it with --decision-keys)."})
		return
	}
	ctx := r.Context()
	if r.Method == http.MethodPost {
		s.inboxSignIn(w, r)
		return
	}
	if s.auth != nil {
		c, err := r.Cookie(inboxCookie)
		if err != nil {
			s.renderInbox(w, http.StatusOK, inboxPage{SignIn: true})
			return
		}
		session, why := s.inboxSession(ctx, c.Value)
		if why != "" {
			s.renderInbox(w, http.StatusOK, inboxPage{SignIn: true, Message: why + "; sign in again."})
			return
		}
		ctx = WithIdentity(ctx, Identity{Subject: session.Approver, Scopes: s.sessionScopes(session)})
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	res, err := s.pending(ctx)
	if err != nil {
		s.renderInbox(w, http.StatusServiceUnavailable, inboxPage{Who: s.actor(ctx), Message: words.Sentence("The list cannot be read now: " + s.explain(ctx, "", err))})
		return
	}
	page := inboxPage{Who: res.For, Truncate: res.Truncated, SignedIn: s.auth != nil}
	base := "//" + r.Host
	for _, p := range res.Items {
		// Each link decides the run that waits now, not a later one reusing its id.
		link, err := ApprovalLink(keys, base, signing.Link{WorkflowID: p.WorkflowID,
			RunID: p.FirstRunID, Step: p.Step, Approver: res.For, Expires: p.Deadline})
		if err != nil {
			continue
		}
		page.Items = append(page.Items, inboxItem{Pending: p, Link: strings.TrimPrefix(link, base)})
	}
	s.renderInbox(w, http.StatusOK, page)
}

// inboxSignIn checks an API key posted from the sign-in form and sets the session
// cookie, or signs out.
func (s *Server) inboxSignIn(w http.ResponseWriter, r *http.Request) {
	if s.auth == nil || !s.sameOrigin(r) {
		http.Redirect(w, r, InboxPath, http.StatusSeeOther)
		return
	}
	if r.PostFormValue("sign_out") != "" {
		s.inboxSignOut(w, r)
		return
	}
	credential := strings.TrimSpace(r.PostFormValue("api_key"))
	var id Identity
	var aerr *authError
	if strings.Count(credential, ".") == 2 && s.auth.keys != nil {
		// An OAuth access token of the configured issuer, verified as the MCP endpoint does.
		id, aerr = s.auth.checkToken(r.Context(), credential)
	} else {
		id, aerr = s.auth.checkKey(credential)
	}
	if aerr != nil {
		s.renderInbox(w, http.StatusUnauthorized, inboxPage{SignIn: true, Message: "Sign-in refused: " + aerr.msg + "."})
		return
	}
	// A session is a signed token with no run; its step field carries the scopes a token
	// sign-in had (an API key's are read again at each visit, so revoking it takes effect).
	token, err := s.linkKeys().SignLink(signing.Link{Step: strings.Join(id.Scopes, " "), Approver: id.Subject,
		Expires: time.Now().Add(InboxSession), Credential: s.auth.credentialOf(id.Subject)})
	if err != nil {
		s.renderInbox(w, http.StatusInternalServerError, inboxPage{SignIn: true, Message: "Sign-in failed; try again."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: inboxCookie, Value: token, Path: "/", MaxAge: int(InboxSession.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, InboxPath, http.StatusSeeOther)
}

// signOutQueue is the task queue of sign-out records. No worker polls it: a record is a
// workflow that stays open until the session it ends would have expired, then times out.
const signOutQueue = "flowgate-sign-outs"

// SignOutWorkflow is the workflow type of a sign-out record, as the web UI shows it.
const SignOutWorkflow = "inbox_sign_out"

func signOutID(nonce string) string { return "inbox-sign-out-" + nonce }

// inboxSignOut ends the session on the server, for every replica and across restarts:
// it records the sign-out in Temporal (the source of truth), where inboxSession looks.
// The cookie is cleared either way; the page says when the session could not be ended.
func (s *Server) inboxSignOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: inboxCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode})
	c, err := r.Cookie(inboxCookie)
	if err != nil {
		http.Redirect(w, r, InboxPath, http.StatusSeeOther)
		return
	}
	session, err := s.linkKeys().VerifyLink(c.Value, time.Now())
	if err != nil || session.WorkflowID != "" {
		http.Redirect(w, r, InboxPath, http.StatusSeeOther) // nothing valid to end
		return
	}
	ctx, cancel := s.callContext(r.Context())
	defer cancel()
	_, err = s.cfg.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: signOutID(session.Nonce), TaskQueue: signOutQueue,
		WorkflowExecutionTimeout: time.Until(session.Expires) + time.Minute,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            session.Approver + " signed out of the inbox",
		StaticDetails: "A record, not a process: no worker runs it. While it is open, the inbox session it names is ended on every Flowgate server; " +
			"it times out when that session would have expired (" + session.Expires.Format(time.RFC3339) + ").",
	}, SignOutWorkflow, session.Approver)
	if err != nil {
		s.cfg.Logger.Warn("inbox sign-out not recorded", "approver", session.Approver, "error", err)
		s.renderInbox(w, http.StatusServiceUnavailable, inboxPage{SignIn: true, Message: "Signed out in this browser only: the sign-out could not be recorded (" +
			s.explain(ctx, "", err) + "), so a copy of the session cookie works until " + session.Expires.UTC().Format("2006-01-02 15:04 UTC") + ". Sign out again to end it."})
		return
	}
	s.cfg.Logger.Info("inbox sign-out", "approver", session.Approver)
	s.renderInbox(w, http.StatusOK, inboxPage{SignIn: true, Message: "Signed out: this session is ended on the server."})
}

// inboxSession reads an inbox session cookie and returns it, or why it does not count
// (""): it must be signed and unexpired, its person must still hold the credential they
// signed in with (the same API key, not revoked; or, for a token sign-in, an OAuth issuer
// still configured), and it must not have been signed out.
func (s *Server) inboxSession(ctx context.Context, cookie string) (signing.Link, string) {
	session, why := s.sessionClaims(cookie)
	if why != "" {
		return session, why
	}
	_, err := s.cfg.Client.DescribeWorkflowExecution(ctx, signOutID(session.Nonce), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return session, ""
	case err == nil:
		return session, "You signed out of this session"
	default:
		s.cfg.Logger.Warn("inbox session not checked", "approver", session.Approver, "error", err)
		return session, "Your sign-in cannot be checked now (" + s.explain(ctx, "", err) + ")"
	}
}

// sessionClaims checks what a session cookie says against the key set, without Temporal.
func (s *Server) sessionClaims(cookie string) (signing.Link, string) {
	session, err := s.linkKeys().VerifyLink(cookie, time.Now())
	switch {
	case s.auth == nil:
		return session, "This server has no sign-in"
	case err != nil || session.WorkflowID != "":
		return session, "Your sign-in has expired or is not valid"
	case session.Credential == "" || session.Credential != s.auth.credentialOf(session.Approver):
		return session, "The key you signed in with was replaced, revoked or removed"
	}
	return session, ""
}

// sessionScopes are a signed-in approver's scopes: their API key's now, or the scopes
// their access token had at sign-in.
func (s *Server) sessionScopes(session signing.Link) []string {
	for _, k := range s.auth.cfg.APIKeys {
		if k.Name == session.Approver {
			return s.auth.scopesOf(session.Approver)
		}
	}
	return strings.Fields(session.Step)
}

func (s *Server) renderInbox(w http.ResponseWriter, code int, p inboxPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := inboxTemplate.Execute(w, p); err != nil {
		s.cfg.Logger.Warn("inbox page", "error", err)
	}
}

var inboxTemplate = template.Must(template.New("inbox").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"left": func(t time.Time) string { return time.Until(t).Round(time.Minute).String() },
	"q":    url.QueryEscape,
	"join": strings.Join,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Approvals · Flowgate</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:1rem;color:#111;background:#fff;max-width:44rem}
h1{font-size:1.4rem}
li{margin:.6rem 0}
a{color:#0b57d0}
.note{background:#fff4e5;border-left:4px solid #b35900;padding:.75rem 1rem}
label{display:block;font-weight:600;margin-top:1rem}
input{font:inherit;width:100%;box-sizing:border-box;padding:.4rem}
button{font:inherit;padding:.6rem 1.2rem;margin-top:1rem;border:2px solid #111;border-radius:4px;background:#fff}
button:focus,input:focus,a:focus{outline:3px solid #0b57d0;outline-offset:2px}
</style>
</head>
<body>
<main>
<h1>Approvals{{with .Who}} waiting on {{.}}{{end}}</h1>
{{with .Message}}<p class="note" role="status">{{.}}</p>{{end}}
{{if .Off}}
{{else if .SignIn}}
<form method="post" action="` + InboxPath + `">
<label for="api_key">Your Flowgate API key (or an OAuth access token)</label>
<input id="api_key" name="api_key" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{else}}
{{if .Items}}
<ol>{{range .Items}}<li>{{with .Summary}}<strong>{{.}}</strong><br>{{end}}<a href="{{.Link}}">{{.WorkflowID}}</a>: {{.Type}} waits at <strong>{{.Step}}</strong>, requested by {{.RequestedBy}}; deadline {{when .Deadline}} (in {{left .Deadline}}){{if gt .Needs 1}}, needs {{.Needs}} more approvals{{end}}{{with .Inputs}}; an approve gives {{join . ", "}}{{end}}.{{with .OrEnds}} {{.}}{{end}}</li>{{end}}</ol>
{{if .Truncate}}<p>More runs wait than this page looked at; the oldest deadlines are shown.</p>{{end}}
{{else}}<p>Nothing waits on you now.</p>{{end}}
{{if .SignedIn}}<form method="post" action="` + InboxPath + `"><button type="submit" name="sign_out" value="1">Sign out</button></form>{{end}}
{{end}}
</main>
</body>
</html>
`))
