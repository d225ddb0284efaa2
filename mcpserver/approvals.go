package mcpserver

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/internal/words"
	"github.com/flowgate/flowgate/workflows"
)

// ApprovalPath is where approval links point: GET shows the gate, POST decides it.
const ApprovalPath = "/approve"

// approvalPage is what the page shows.
type approvalPage struct {
	Title   string
	Message string
	// Problem is set when the page says why nothing changed.
	Problem bool
	// Alert is set when the problem is with what was just posted and the form is shown
	// again to fix it: the message is announced (role=alert), the values kept.
	Alert bool
	Done  bool
	Link  signing.Link
	State *workflows.State
	// Summary says what is asked, from the run's definition.
	Summary string
	Token   string
	CSRF    string
	UIURL   string
	// SignIn is set when the page may show the gate but not decide it: with
	// authentication on, a link is a pointer, and deciding needs the approver's own
	// sign-in (its inbox session), since a link may have gone through a shared channel.
	SignIn string
	// Fields are the inputs the gate asks an approve for, Rules what their values must
	// also meet, ReasonOnReject says a reject needs the comment (workflows.Waiting).
	Fields         []inputField
	Rules          []string
	ReasonOnReject bool
	// Revisable, where the gate offers request_changes, are the parameters its requester
	// may be asked to change; the page then offers a third choice.
	RequestChanges bool
	Revisable      []string
	// Asked is what an approver asked to change while the run waits for its requester's
	// revision: the page says so and offers no decision.
	Asked *workflows.ChangesAsked
	// OrEnds, at a gate with or_event, says that the event also ends it
	// (workflows.Waiting.OrEnds): while it waits for a decision or for a revision.
	OrEnds string
	// Values and Comment are what was posted, shown again with an Alert.
	Values       url.Values
	Comment      string
	CommentError string
	// refusal is why what was posted was refused, as the gate or formInputs said it.
	refusal string
}

// Form tells whether the page offers the decision form.
func (p approvalPage) Form() bool {
	return p.State != nil && (!p.Problem || p.Alert) && !p.Done && p.SignIn == "" && !waitsForRevision(p.State)
}

// waitsForRevision tells whether a run waits for its requester to revise or withdraw:
// an approver's link has nothing to decide until the gate opens again.
func waitsForRevision(st *workflows.State) bool {
	return st != nil && st.Waiting != nil && st.Waiting.For == "changes"
}

// ApprovalLink returns the link l grants (an approver, a gate of a run, until a deadline)
// under base (the MCP server's public origin), signed with keys. Workers call it through
// activities.LinkSigner.
func ApprovalLink(keys *signing.Keys, base string, l signing.Link) (string, error) {
	token, err := keys.SignLink(l)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(base, "/") + ApprovalPath + "?t=" + url.QueryEscape(token), nil
}

// csrf binds a form to the link it was served for, with the decision keys, so any replica
// accepts the form another served and a page of another site cannot make one.
func (s *Server) csrf(token string) string { return s.linkKeys().FormToken(token) }

// linkKeys are the keys approval links are checked with.
func (s *Server) linkKeys() *signing.Keys {
	if s.cfg.DecisionKeys != nil {
		return s.cfg.DecisionKeys
	}
	return s.cfg.LinkKeys
}

// approvalHandler serves approval links. GET never decides; POST decides through the
// advance update, with the link's approver as actor and the decision signed with the
// link's nonce, so the link decides once.
func (s *Server) approvalHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the link is a secret
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	if s.refuseForeignHost(w, r) {
		return
	}
	keys := s.linkKeys()
	if keys == nil {
		s.renderApproval(w, http.StatusNotFound, approvalPage{Title: "Approval links are off", Problem: true,
			Message: "This Flowgate server has no decision keys, so it cannot check approval links (start it with --decision-keys)."})
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderApproval(w, http.StatusBadRequest, approvalPage{Title: "Not an approval link", Problem: true, Message: "The request cannot be read."})
		return
	}
	token := r.Form.Get("t")
	link, err := keys.VerifyLink(token, time.Now())
	if err == nil && link.WorkflowID == "" {
		err = errors.New("this is an inbox sign-in, not an approval link")
	}
	if err != nil {
		s.renderApproval(w, http.StatusForbidden, approvalPage{Title: "This link cannot be used", Problem: true, Message: words.Sentences(err.Error(), "Nothing changed.")})
		return
	}
	signedIn := false
	if c, cerr := r.Cookie(inboxCookie); cerr == nil && s.auth != nil {
		// Someone signed in to the inbox as another person is not the link's approver.
		if session, why := s.inboxSession(r.Context(), c.Value); why == "" {
			if session.Approver != link.Approver {
				s.renderApproval(w, http.StatusForbidden, approvalPage{Title: "This link is someone else's", Problem: true,
					Message: fmt.Sprintf("This link was sent to %s, and you are signed in as %s. Nothing changed.", link.Approver, session.Approver)})
				return
			}
			signedIn = true
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	page := approvalPage{Link: link, Token: token, CSRF: s.csrf(token), UIURL: s.uiLink(link.WorkflowID)}
	if s.auth != nil && !signedIn {
		// Slack and webhook messages carry links that every reader of the channel sees:
		// with authentication on, a link alone decides nothing.
		page.SignIn = fmt.Sprintf("To decide, sign in as %s at %s with your own API key or token, then open this link again: a link may have reached others (a shared channel), so it decides nothing by itself.", link.Approver, InboxPath)
	}
	if why := s.otherRun(ctx, link); why != "" {
		s.renderApproval(w, http.StatusGone, approvalPage{Title: "This link is for an earlier run", Problem: true, Message: why})
		return
	}
	if r.Method == http.MethodPost {
		if page.SignIn != "" {
			s.renderApproval(w, http.StatusForbidden, approvalPage{Title: "Sign in to decide", Problem: true, SignIn: page.SignIn,
				Message: fmt.Sprintf("Only %s, signed in, can decide with this link. Nothing changed.", link.Approver)})
			return
		}
		s.decideByLink(ctx, w, r, link, page)
		return
	}
	st, err := s.queryDetails(ctx, link.WorkflowID)
	if err != nil {
		page.Title, page.Problem, page.Message = "Run not found", true, s.explain(ctx, link.WorkflowID, err)
		s.renderApproval(w, http.StatusNotFound, page)
		return
	}
	page.State = &st
	page.Title = "Decide: " + link.Step
	if why := gateMoved(st, link); why != "" {
		page.Title, page.Problem, page.Message = "Nothing to decide here now", true, why
	} else if waitsForRevision(&st) {
		page.Title = "Changes requested: " + link.Step
	}
	s.renderApproval(w, http.StatusOK, page)
}

// otherRun says why a link does not belong to the run its workflow id names now, or "":
// after retention, a new run may reuse the id (and the step), and a link decides only
// the run it was made for (its first run, which stays across continue-as-new).
func (s *Server) otherRun(ctx context.Context, link signing.Link) string {
	if link.RunID == "" {
		return "" // a link made before links named their run: bound to the id until its deadline
	}
	desc, err := s.cfg.Client.DescribeWorkflowExecution(ctx, link.WorkflowID, "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetFirstRunId() == link.RunID {
		return "" // not found or not readable: the page says so when it reads the run
	}
	return fmt.Sprintf("This link was made for an earlier run of %s, which has ended; the run with that id now is another one, and this link decides nothing in it. Nothing changed.", link.WorkflowID)
}

// gateMoved says why a link's gate no longer waits, or "".
func gateMoved(st workflows.State, link signing.Link) string {
	switch {
	case st.ClosedAt != nil:
		return fmt.Sprintf("%s has ended (%s); this link decides nothing any more.", st.WorkflowID, st.Status)
	case st.Waiting == nil || st.Waiting.Step != link.Step:
		return fmt.Sprintf("%s no longer waits at %s (it is %s at %s); this link decides nothing any more.", st.WorkflowID, link.Step, st.Status, st.CurrentStep)
	}
	return ""
}

func (s *Server) decideByLink(ctx context.Context, w http.ResponseWriter, r *http.Request, link signing.Link, page approvalPage) {
	if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(page.CSRF)) || !s.sameOrigin(r) {
		s.renderApproval(w, http.StatusForbidden, approvalPage{Title: "Form refused", Problem: true,
			Message: "This form did not come from the approval page of this link (or came from another site). Open the link again. Nothing changed."})
		return
	}
	action := workflows.Action(r.PostForm.Get("action"))
	if action != workflows.ActionApprove && action != workflows.ActionReject && action != workflows.ActionRequestChanges {
		page.Title, page.Problem, page.Message = "Choose approve or reject", true, fmt.Sprintf("action %q is not approve, reject or request_changes. Nothing changed.", action)
		s.renderApproval(w, http.StatusBadRequest, page)
		return
	}
	comment := strings.TrimSpace(r.PostForm.Get("comment"))
	if len(comment) > MaxCommentLength {
		page.Title, page.Problem, page.Message = "Comment too long", true, fmt.Sprintf("The comment is %d characters long; at most %d. Nothing changed.", len(comment), MaxCommentLength)
		s.renderApproval(w, http.StatusBadRequest, page)
		return
	}
	var waiting *workflows.Waiting
	if st, err := s.queryDetails(ctx, link.WorkflowID); err == nil {
		if why := gateMoved(st, link); why != "" {
			page.State, page.Title, page.Problem, page.Message = &st, "Your decision was not applied", true, words.Sentences(why, "Nothing changed.")
			s.renderApproval(w, http.StatusConflict, page)
			return
		}
		if waitsForRevision(&st) {
			page.State, page.Title, page.Problem, page.Message = &st, "Your decision was not applied", true,
				fmt.Sprintf("%s waits for its requester, %s, to revise what was asked; there is nothing to decide until then. Nothing changed.", st.WorkflowID, st.RequestedBy)
			s.renderApproval(w, http.StatusConflict, page)
			return
		}
		page.State, waiting = &st, st.Waiting
	}
	page.Values, page.Comment = r.PostForm, comment
	// refuse shows the form again with what was posted and why it was not taken.
	refuse := func(code int, why string) {
		page.Title, page.Problem, page.Alert, page.refusal = "Your decision was not applied", true, page.State != nil, why
		page.Message = words.Sentences(why, "Nothing changed.")
		s.renderApproval(w, code, page)
	}
	var inputs map[string]any
	if action == workflows.ActionApprove && waiting != nil && waiting.Inputs != nil {
		in, err := formInputs(waiting.Inputs, r.PostForm)
		if err != nil {
			refuse(http.StatusBadRequest, err.Error())
			return
		}
		inputs = in
	}
	if action == workflows.ActionReject && waiting != nil && waiting.ReasonOnReject && comment == "" {
		page.CommentError = "Say why you reject: step " + link.Step + " needs a reason to reject."
		refuse(http.StatusBadRequest, page.CommentError)
		return
	}
	if action == workflows.ActionRequestChanges && comment == "" {
		page.CommentError = "Say what should change: a request for changes goes back to the requester with your comment."
		refuse(http.StatusBadRequest, page.CommentError)
		return
	}
	caller := app.Caller{Name: link.Approver, All: true} // as every caller of a server without authentication
	if s.auth != nil {
		caller = app.Caller{Name: link.Approver, Scopes: s.auth.scopesOf(link.Approver)}
	}
	v, err := s.app.Advance(ctx, caller, app.Decision{WorkflowID: link.WorkflowID, RunID: link.RunID, Action: action, Step: link.Step, Comment: comment, Inputs: inputs, Nonce: link.Nonce})
	if err != nil {
		s.cfg.Logger.Info("decision by link refused", "workflow_id", link.WorkflowID, "step", link.Step, "approver", link.Approver, "error", err)
		page.State = nil
		if st, qerr := s.queryDetails(ctx, link.WorkflowID); qerr == nil {
			page.State = &st
			// At a gate that asks for inputs or a reason, the refusal may be of those: the
			// approver fixes them in the form, which still decides while the gate waits.
			if w := st.Waiting; gateMoved(st, link) == "" && w != nil && w.For == "approval" &&
				(w.Inputs != nil || w.ReasonOnReject || action == workflows.ActionRequestChanges) {
				refuse(http.StatusConflict, s.explain(ctx, link.WorkflowID, err))
				return
			}
		}
		page.Title, page.Problem = "Your decision was not applied", true
		page.Message = words.Sentences(s.explain(ctx, link.WorkflowID, err), "Nothing changed.")
		s.renderApproval(w, http.StatusConflict, page)
		return
	}
	page.Title, page.Done = "Thank you", true
	page.Message = fmt.Sprintf("%s of %s by %s accepted: %s.", action, link.WorkflowID, link.Approver, decided(string(action), v))
	if st, qerr := s.queryDetails(ctx, link.WorkflowID); qerr == nil {
		page.State = &st
	}
	s.renderApproval(w, http.StatusOK, page)
}

// queryDetails returns a run's record with where it waits (which the status query says).
func (s *Server) queryDetails(ctx context.Context, id string) (workflows.State, error) {
	var st workflows.State
	v, err := s.cfg.Client.QueryWorkflow(ctx, id, "", workflows.QueryDetails)
	if err != nil {
		return st, err
	}
	if err := v.Get(&st); err != nil {
		return st, err
	}
	view, err := s.app.Status(ctx, id)
	if err != nil {
		return st, err
	}
	st.Waiting = view.Waiting
	return st, nil
}

func (s *Server) renderApproval(w http.ResponseWriter, code int, p approvalPage) {
	if st := p.State; st != nil && st.Process != nil {
		// The summary of the definition the run carries, when it is the one loaded now.
		if proc, ok := s.cfg.Processes.Get(st.Process.Name); ok && proc.Source.Hash == st.Process.Hash {
			p.Summary = workflows.RenderSummary(proc.Definition, st.Parameters, st.WorkflowID, st.RequestedBy)
		}
	}
	if st := p.State; st != nil && st.Waiting != nil && st.Waiting.Step == p.Link.Step && p.Form() {
		p.Fields = inputFields(st.Waiting.Inputs, p.Values, p.refusal)
		p.Rules, p.ReasonOnReject = st.Waiting.Rules, st.Waiting.ReasonOnReject
		p.RequestChanges = slices.Contains(st.Waiting.Actions, workflows.ActionRequestChanges)
		p.Revisable = st.Waiting.Revisable
	}
	if st := p.State; waitsForRevision(st) && st.Waiting.Step == p.Link.Step {
		p.Asked = st.Waiting.Changes
	}
	if st := p.State; st != nil && st.Waiting != nil && st.Waiting.Step == p.Link.Step && !p.Done {
		p.OrEnds = st.Waiting.OrEnds()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := approvalTemplate.Execute(w, p); err != nil {
		s.cfg.Logger.Warn("approval page", "error", err)
	}
}

// CommentDescribedBy is the comment's aria-describedby: its error, then its help.
func (p approvalPage) CommentDescribedBy() string {
	var ids []string
	if p.CommentError != "" {
		ids = append(ids, "comment-error")
	}
	if p.RequestChanges {
		ids = append(ids, "comment-help")
	}
	return strings.Join(ids, " ")
}

// scopesOf returns the scopes of the API key of that name, or none.
func (a *authenticator) scopesOf(name string) []string {
	for _, k := range a.cfg.APIKeys {
		if k.Name == name && !k.Revoked {
			return slices.Clone(k.Scopes)
		}
	}
	return nil
}

// param is one run parameter as the approval page lists it.
type param struct{ Name, Value string }

// paramList is a run's parameters by name, for a definition list a phone shows without
// scrolling sideways: a string as it is, any other value as compact JSON. Parameters that
// are not a JSON object give nil (the page then shows them as they are).
func paramList(raw json.RawMessage) []param {
	var values map[string]json.RawMessage
	if json.Unmarshal(raw, &values) != nil || len(values) == 0 {
		return nil
	}
	out := make([]param, 0, len(values))
	for _, name := range slices.Sorted(maps.Keys(values)) {
		v := string(values[name])
		var s string
		if json.Unmarshal(values[name], &s) == nil {
			v = s
		}
		out = append(out, param{name, v})
	}
	return out
}

// quorumProgress says how far a gate that needs several approvals is: "1 of 2 approvals
// (fin-ann)"; "" at a gate one approval opens.
func quorumProgress(st *workflows.State) string {
	if st == nil || st.Waiting == nil || st.Waiting.Quorum < 2 {
		return ""
	}
	w := st.Waiting
	text := fmt.Sprintf("%d of %d approvals", len(w.Approvals), w.Quorum)
	if len(w.Approvals) > 0 {
		text += " (" + strings.Join(w.Approvals, ", ") + ")"
	}
	return text
}

var approvalTemplate = template.Must(template.New("approval").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"join": func(s []string) string { return strings.Join(s, ", ") },
	"deadline": func(st *workflows.State) string {
		if st == nil || st.Waiting == nil {
			return ""
		}
		return st.Waiting.Deadline.UTC().Format("2006-01-02 15:04 UTC")
	},
	"params": paramList,
	"quorum": quorumProgress,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Flowgate</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:1rem;color:#111;background:#fff;max-width:44rem;overflow-wrap:anywhere}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
.problem{background:#fff4e5;border-left:4px solid #b35900;padding:.75rem 1rem}
.done{background:#e8f5e9;border-left:4px solid #1b5e20;padding:.75rem 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dt{font-weight:600}
dd{margin:0;min-width:0}
pre{white-space:pre-wrap;word-break:break-word;background:#f4f4f4;padding:.5rem}
label{display:block;font-weight:600;margin-top:1rem}
textarea,input,select{width:100%;font:inherit;box-sizing:border-box;padding:.4rem;border:1px solid #555;border-radius:4px}
textarea{min-height:5rem}
input[type=checkbox]{width:1.5rem;height:1.5rem;margin:0 .5rem 0 0;vertical-align:middle}
.check{margin-top:1rem}
.check label{display:inline;margin:0}
fieldset{border:1px solid #888;border-radius:4px;margin:1rem 0 0;padding:0 1rem 1rem;min-width:0}
legend{font-weight:600;padding:0 .3rem}
.help{margin:.25rem 0 0;color:#333;font-size:.95rem}
.error{margin:.25rem 0 0;color:#b71c1c;font-weight:600}
[aria-invalid=true]{border:2px solid #b71c1c}
input:focus,select:focus,textarea:focus{outline:3px solid #0b57d0;outline-offset:2px}
button{font:inherit;padding:.7rem 1.4rem;margin:1rem .5rem 0 0;border:2px solid #111;border-radius:4px;cursor:pointer}
button.approve{background:#1b5e20;color:#fff}
button.reject{background:#b71c1c;color:#fff}
button.changes{background:#fff;color:#111}
.asked{background:#e8f0fe;border-left:4px solid #0b57d0;padding:.75rem 1rem;margin:1rem 0}
.asked h2{font-size:1.1rem;margin:0 0 .5rem}
.asked blockquote{margin:.25rem 0;padding:0 0 0 .75rem;border-left:3px solid #555;white-space:pre-wrap}
button:focus{outline:3px solid #0b57d0;outline-offset:2px}
ol{padding-left:1.2rem}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Message}}<p class="{{if .Problem}}problem{{else if .Done}}done{{end}}" role="{{if .Alert}}alert{{else}}status{{end}}">{{.Message}}</p>{{end}}
{{with .Summary}}<p><strong>{{.}}</strong></p>{{end}}
{{with .Asked}}<section class="asked" aria-labelledby="asked-heading">
<h2 id="asked-heading">Changes requested</h2>
<p>{{.By}} sent this run back to its requester on {{when .At}} (round {{.Round}} of {{.MaxRounds}}), asking:</p>
<blockquote>{{.Comment}}</blockquote>
<p><strong>{{.Requester}}</strong>, who requested it, must now revise {{join .Revisable}} or withdraw it{{with deadline $.State}}, by {{.}}{{end}}. There is nothing to decide here until then; once revised, the gate asks for a decision again.</p>
</section>{{end}}
{{with .OrEnds}}<p class="or-event">{{.}}</p>{{end}}
{{with .State}}
<dl>
<dt>Run</dt><dd>{{.WorkflowID}} ({{.Type}})</dd>
<dt>Status</dt><dd>{{.Status}}{{if .CurrentStep}} at {{.CurrentStep}}{{end}}</dd>
<dt>Requested by</dt><dd>{{.RequestedBy}}</dd>
{{with deadline .}}<dt>Deadline</dt><dd>{{.}}</dd>{{end}}
{{with quorum .}}<dt>Approvals</dt><dd>{{.}}</dd>{{end}}
</dl>
<h2>Parameters</h2>
{{with params .Parameters}}<dl>{{range .}}<dt>{{.Name}}</dt><dd>{{.Value}}</dd>{{end}}</dl>{{else}}<pre>{{printf "%s" .Parameters}}</pre>{{end}}
<h2>Record so far</h2>
<ol>{{range .History}}<li>{{when .At}}: {{.Event}}{{if .Step}} at {{.Step}}{{end}}{{if .Actor}} by {{.Actor}}{{end}}{{if .Detail}} — {{.Detail}}{{end}}</li>{{end}}</ol>
{{end}}
{{with .SignIn}}<p class="problem" role="status">{{.}} <a href="` + InboxPath + `">Sign in</a></p>{{end}}
{{if .Form}}
<form method="post" action="` + ApprovalPath + `">
<input type="hidden" name="t" value="{{.Token}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p>You decide as <strong>{{.Link.Approver}}</strong> at step <strong>{{.Link.Step}}</strong>. This link works once.</p>
{{if .Fields}}
<fieldset>
<legend>To approve, give these values</legend>
{{range $f := .Fields}}
{{if eq .Kind "checkbox"}}<div class="check">
<input type="checkbox" id="{{.ID}}" name="{{.FormName}}" value="true"{{if .Checked}} checked{{end}}{{with .DescribedBy}} aria-describedby="{{.}}"{{end}}{{if .Error}} aria-invalid="true"{{end}}>
<label for="{{.ID}}">{{.Label}}</label>
{{else}}<div>
<label for="{{.ID}}">{{.Label}}{{if .Required}} <span aria-hidden="true">*</span>{{end}}</label>
{{if eq .Kind "select"}}<select id="{{.ID}}" name="{{.FormName}}"{{if .Required}} required{{end}}{{with .DescribedBy}} aria-describedby="{{.}}"{{end}}{{if .Error}} aria-invalid="true"{{end}}>
<option value="">{{if .Required}}Choose one{{else}}(none){{end}}</option>
{{range .Options}}<option value="{{.Value}}"{{if .Selected}} selected{{end}}>{{.Value}}</option>
{{end}}</select>
{{else}}<input type="{{.Kind}}" id="{{.ID}}" name="{{.FormName}}" value="{{.Value}}"{{with .Step}} step="{{.}}"{{end}}{{with .Min}} min="{{.}}"{{end}}{{with .Max}} max="{{.}}"{{end}}{{with .MinLength}} minlength="{{.}}"{{end}}{{with .MaxLength}} maxlength="{{.}}"{{end}}{{with .Pattern}} pattern="{{.}}"{{end}}{{if eq .Kind "number"}} inputmode="{{if eq .Step "1"}}numeric{{else}}decimal{{end}}"{{end}}{{if .Required}} required{{end}}{{with .DescribedBy}} aria-describedby="{{.}}"{{end}}{{if .Error}} aria-invalid="true"{{end}}>
{{end}}{{end}}
{{with .Error}}<p class="error" id="{{$f.ErrorID}}">{{.}}</p>{{end}}
{{with .Help}}<p class="help" id="{{$f.HelpID}}">{{.}}</p>{{end}}
</div>
{{end}}
{{with .Rules}}<p>The values must also meet:</p>
<ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
</fieldset>
{{end}}
<label for="comment">Comment (recorded with your decision{{if .ReasonOnReject}}; required to reject{{end}}{{if .RequestChanges}}; required to request changes{{end}})</label>
<textarea id="comment" name="comment" maxlength="1000"{{if .CommentError}} aria-invalid="true"{{end}}{{with .CommentDescribedBy}} aria-describedby="{{.}}"{{end}}>{{.Comment}}</textarea>
{{with .CommentError}}<p class="error" id="comment-error">{{.}}</p>{{end}}
{{if .RequestChanges}}<p class="help" id="comment-help">To request changes, say what should change: {{.State.RequestedBy}}, who requested this run, may then revise {{join .Revisable}}, and the gate asks again.</p>{{end}}
<button class="approve" type="submit" name="action" value="approve">Approve</button>
<button class="reject" type="submit" name="action" value="reject"{{if .Fields}} formnovalidate{{end}}>Reject</button>
{{if .RequestChanges}}<button class="changes" type="submit" name="action" value="request_changes"{{if .Fields}} formnovalidate{{end}}>Request changes</button>{{end}}
</form>
{{end}}
{{if .UIURL}}<p><a href="{{.UIURL}}">Open the run in the Temporal UI</a></p>{{end}}
</main>
</body>
</html>
`))
