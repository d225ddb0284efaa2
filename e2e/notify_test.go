package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/internal/testenv"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// sink is an HTTP receiver of notifications that records what arrived; it refuses the
// first refuse requests with 503, as a receiver that is down for a moment.
type sink struct {
	mu       sync.Mutex
	refuse   int
	received []delivery
}

type delivery struct {
	ID, Signature string
	Body          []byte
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse > 0 {
		s.refuse--
		http.Error(w, "down for a moment", http.StatusServiceUnavailable)
		return
	}
	s.received = append(s.received, delivery{ID: r.Header.Get(activities.DeliveryHeader), Signature: r.Header.Get(activities.SignatureHeader), Body: body})
	w.WriteHeader(http.StatusNoContent)
}

// of returns the deliveries whose id ends with suffix.
func (s *sink) of(suffix string) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []delivery
	for _, d := range s.received {
		if strings.HasSuffix(d.ID, suffix) {
			out = append(out, d)
		}
	}
	return out
}

var formField = regexp.MustCompile(`name="(t|csrf)" value="([^"]*)"`)

// TestAnApproverWhoIsInNoChatIsToldAndDecidesFromALink: when a deployment's gate opens,
// a signed webhook and a Slack message reach the receivers (the webhook after it was down
// once, the Slack receiver exactly once); the approver's link opens a page that decides
// nothing, its form approves, and the run completes and is told as ended. The link then
// decides nothing more; an altered link, an expired one, a forged form and the requester's
// own link are refused with a page that says why.
func TestAnApproverWhoIsInNoChatIsToldAndDecidesFromALink(t *testing.T) {
	secret := []byte("a webhook secret of the tests, long enough")
	hook, slack := &sink{refuse: 1}, &sink{}
	hookSrv, slackSrv := httptest.NewServer(hook), httptest.NewServer(slack)
	t.Cleanup(hookSrv.Close)
	t.Cleanup(slackSrv.Close)
	mb := startMailbox(t, "flowgate", "smtp-password")
	n := &activities.Notifier{Client: http.DefaultClient, Secret: secret, Approvers: []string{"bob"},
		Addresses: map[string]string{"bob": "bob@example.test"},
		Channels: []activities.Channel{{Kind: activities.ChannelWebhook, URL: hookSrv.URL + "/hook"}, {Kind: activities.ChannelSlack, URL: slackSrv.URL + "/services/T0/B0/secretpath"},
			{Kind: activities.ChannelEmail, URL: "smtp://flowgate:smtp-password@" + mb.addr + "?from=flowgate@example.test&tls=none"}}}
	env := testenv.StartT(t, testenv.Options{Notify: n, SeparationOfDuties: true})
	cs := connectHTTP(t, env.MCPURL)
	var started mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "8.1.0", "environment": "production"}}).decode(t, &started)
	id := started.WorkflowID

	testenv.WaitFor(t, time.Minute, "the gate's notifications", func() (bool, error) {
		if len(hook.of("/approval/gate_opened")) == 1 && len(slack.of("/approval/gate_opened")) == 1 && len(mb.to("bob@example.test")) == 1 {
			return true, nil
		}
		var st workflows.State
		v, err := env.Client.QueryWorkflow(t.Context(), id, "", workflows.QueryDetails)
		if err == nil && v.Get(&st) == nil {
			for _, e := range st.History {
				if e.Event == "notification_failed" {
					return false, errors.New(e.Detail)
				}
			}
		}
		return false, nil
	})
	d := hook.of("/approval/gate_opened")[0]
	if err := activities.VerifySignature(secret, d.Body, d.Signature, time.Now(), 5*time.Minute); err != nil {
		t.Fatalf("webhook signature: %v (%q)", err, d.Signature)
	}
	if err := activities.VerifySignature([]byte("another secret entirely, long"), d.Body, d.Signature, time.Now(), 5*time.Minute); err == nil {
		t.Error("the signature verifies with another secret")
	}
	var notice struct {
		activities.Notice
		Text  string `json:"text"`
		Links []struct{ Approver, Approve, Reject string }
	}
	if err := json.Unmarshal(d.Body, &notice); err != nil {
		t.Fatal(err)
	}
	if notice.WorkflowID != id || notice.Step != "approval" || notice.RequestedBy != "tester" || notice.Deadline.IsZero() ||
		!strings.Contains(notice.Summary, "Deploy orders 8.1.0 to production") || !strings.Contains(string(notice.Params), `"version":"8.1.0"`) {
		t.Errorf("notice = %+v", notice.Notice)
	}
	// The notice and its links name the run they were made for.
	desc, err := env.Client.DescribeWorkflowExecution(t.Context(), id, "")
	if err != nil || notice.RunID == "" || notice.RunID != desc.GetWorkflowExecutionInfo().GetFirstRunId() {
		t.Errorf("notice run %q, the run's first run %q (%v)", notice.RunID, desc.GetWorkflowExecutionInfo().GetFirstRunId(), err)
	}
	// The requester gets no link of their own.
	if len(notice.Links) != 1 || notice.Links[0].Approver != "bob" || !strings.Contains(notice.Links[0].Approve, mcpserver.ApprovalPath+"?t=") {
		t.Fatalf("links = %+v", notice.Links)
	}
	var msg struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(slack.of("/approval/gate_opened")[0].Body, &msg); err != nil || !strings.Contains(string(slack.of("/approval/gate_opened")[0].Body), "Approve as bob") {
		t.Errorf("slack message %s: %v", slack.of("/approval/gate_opened")[0].Body, err)
	}

	// Bob's mail has a plain-text and an HTML part, and his own link.
	mails := mb.to("bob@example.test")
	if len(mails) != 1 || !strings.Contains(mails[0].Data, "text/plain") || !strings.Contains(mails[0].Data, "text/html") ||
		!strings.Contains(mails[0].Data, "Approval needed: Deploy orders 8.1.0 to production") || !strings.Contains(mails[0].Data, mcpserver.ApprovalPath+"?t=") {
		t.Errorf("mail to bob: %+v", mails)
	}

	// GET shows the gate and decides nothing.
	link := notice.Links[0].Approve
	page := get(t, link)
	if !strings.Contains(page, id) || !strings.Contains(page, "Approve") || !strings.Contains(page, `<label for="comment">`) || !strings.Contains(page, "8.1.0") {
		t.Fatalf("approval page:\n%s", page)
	}
	if v := testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval); v.Status != workflows.StatusWaitingApproval {
		t.Fatal("opening the link changed the run")
	}
	form := url.Values{}
	for _, m := range formField.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	forged := url.Values{"t": {form.Get("t")}, "csrf": {"0000"}, "action": {"approve"}}
	if code, body := post(t, env.MCPURL, forged); code != http.StatusForbidden || !strings.Contains(body, "Nothing changed") {
		t.Errorf("forged form: %d %s", code, body)
	}
	altered := url.Values{"t": {form.Get("t")[:len(form.Get("t"))-2] + "xx"}, "csrf": {form.Get("csrf")}, "action": {"approve"}}
	if code, body := post(t, env.MCPURL, altered); code != http.StatusForbidden || !strings.Contains(body, "not valid") {
		t.Errorf("altered link: %d %s", code, body)
	}
	expired, _ := testenv.DecisionKeys().SignLink(signing.Link{WorkflowID: id, Step: "approval", Approver: "bob", Expires: time.Now().Add(-time.Minute)})
	if code, body := post(t, env.MCPURL, url.Values{"t": {expired}, "csrf": {testenv.DecisionKeys().FormToken(expired)}, "action": {"approve"}}); code != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("expired link: %d %s", code, body)
	}
	own, _ := testenv.DecisionKeys().SignLink(signing.Link{WorkflowID: id, Step: "approval", Approver: "tester", Expires: time.Now().Add(time.Hour)})
	if code, body := post(t, env.MCPURL, url.Values{"t": {own}, "csrf": {testenv.DecisionKeys().FormToken(own)}, "action": {"approve"}}); code != http.StatusConflict || !strings.Contains(body, "separation of duties") {
		t.Errorf("the requester's own link: %d %s", code, body)
	}

	form.Set("action", "approve")
	form.Set("inputs.change_ticket", "CHG-2042")
	form.Set("comment", "looks right from my phone")
	if code, body := post(t, env.MCPURL, form); code != http.StatusOK || !strings.Contains(body, "approve of "+id+" by bob accepted") {
		t.Fatalf("approve by link: %d %s", code, body)
	}
	st, err := result(t, env.Client, id)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("after the link: %s %v", st.Status, err)
	}
	if s := stepOf(st, "approval"); s.Actor != "bob" || s.Comment != "looks right from my phone" {
		t.Errorf("approval step = %+v", s)
	}
	if code, body := post(t, env.MCPURL, form); code == http.StatusOK || !strings.Contains(body, "Nothing changed") {
		t.Errorf("the link used a second time: %d %s", code, body)
	}
	testenv.WaitFor(t, 30*time.Second, "the run's end told", func() (bool, error) {
		return len(hook.of(id+"/run_ended")) == 1 && len(slack.of(id+"/run_ended")) == 1 && len(mb.to("bob@example.test")) == 2, nil
	})
	if n := len(mb.to("bob@example.test")); n != 2 {
		t.Errorf("bob got %d mails, want 2 (the gate once, despite the webhook's retry, and the end)", n)
	}
	if n := len(slack.of("/approval/gate_opened")); n != 1 {
		t.Errorf("slack got the gate %d times, want once (the retry after the webhook's 503 skips it)", n)
	}
	var told bool
	for _, e := range st.History {
		told = told || (e.Event == "notified" && strings.Contains(e.Detail, "webhook 127.0.0.1"))
		if strings.Contains(e.Detail, "secretpath") || strings.Contains(e.Detail, "smtp-password") {
			t.Errorf("the record names a Slack webhook's secret path: %s", e.Detail)
		}
	}
	if !told {
		t.Errorf("the record does not say the gate was told: %+v", st.History)
	}
}

func stepOf(st workflows.State, name string) workflows.Step {
	for _, s := range st.Steps {
		if s.Name == name {
			return s
		}
	}
	return workflows.Step{}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	return string(body)
}

func post(t *testing.T, mcpURL string, form url.Values) (int, string) {
	t.Helper()
	return postApproval(t, http.DefaultClient, strings.TrimSuffix(mcpURL, mcpserver.EndpointPath), form)
}

// postApproval posts form to the approval page of the server at origin with c (its
// cookies are a signed-in person's), and returns the status and the page.
func postApproval(t *testing.T, c *http.Client, origin string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(origin+mcpserver.ApprovalPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// pageForm is the hidden fields of an approval page's form (the link's token and the
// anti-forgery value), with fields, name and value in turn, set over them.
func pageForm(page string, fields ...string) url.Values {
	form := url.Values{}
	for _, f := range formField.FindAllStringSubmatch(page, -1) {
		form.Set(f[1], html.UnescapeString(f[2]))
	}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	return form
}

// TestAnApproverDecidesFromAPhone follows an approval link in headless Chromium at a
// phone's width: the page shows the run and its gate, the comment box is labelled, and
// the Approve button decides; the run completes.
func TestAnApproverDecidesFromAPhone(t *testing.T) {
	chrome := chromium(t)
	hook := &sink{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	n := &activities.Notifier{Client: http.DefaultClient, Secret: []byte("a webhook secret of the tests, long enough"), Approvers: []string{"carol"},
		Channels: []activities.Channel{{Kind: activities.ChannelWebhook, URL: hookSrv.URL}}}
	env := testenv.StartT(t, testenv.Options{Notify: n, SeparationOfDuties: true})
	cs := connectHTTP(t, env.MCPURL)
	var started mcpserver.StartResult
	callTool(t, cs, "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "users", "version": "9.0.0", "environment": "staging"}}).decode(t, &started)
	testenv.WaitFor(t, time.Minute, "the gate's webhook", func() (bool, error) { return len(hook.of("/gate_opened")) == 1, nil })
	var notice struct {
		Links []struct{ Approver, Approve string }
	}
	if err := json.Unmarshal(hook.of("/gate_opened")[0].Body, &notice); err != nil || len(notice.Links) != 1 {
		t.Fatalf("links: %+v %v", notice, err)
	}
	ctx, shot := newBrowser(t, chrome, 412, 915)
	var approver string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(notice.Links[0].Approve),
		chromedp.WaitVisible(`//h1[contains(text(), "Decide: approval")]`, chromedp.BySearch),
		chromedp.Text(`//p[contains(text(), "You decide as")]/strong[1]`, &approver, chromedp.BySearch),
		chromedp.SendKeys(`#comment`, "checked on my phone", chromedp.ByQuery),
		shot("approval-link-page.png"),
		chromedp.Click(`button.approve`, chromedp.ByQuery),
		chromedp.WaitVisible(`//h1[contains(text(), "Thank you")]`, chromedp.BySearch),
		shot("approval-link-done.png"),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if approver != "carol" {
		t.Errorf("the page says the decider is %q", approver)
	}
	st, err := result(t, env.Client, started.WorkflowID)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("after the phone: %s %v", st.Status, err)
	}
	if s := stepOf(st, "approval"); s.Actor != "carol" || s.Comment != "checked on my phone" {
		t.Errorf("approval = %+v", s)
	}
}

// TestTheInboxListsWhatWaitsOnTheSignedInApprover: /approvals asks for an API key, refuses
// a wrong one, and once signed in lists the gates waiting on that person (not their own
// runs), each under its run's summary and linking to its approval page, which decides.
func TestTheInboxListsWhatWaitsOnTheSignedInApprover(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{Auth: &mcpserver.AuthConfig{ResourceURL: resourceURL, APIKeys: []mcpserver.APIKey{
		{Name: "dave", SHA256: keyHash("dave-key"), Scopes: mcpserver.AllScopes},
		{Name: "bob", SHA256: keyHash("bob-key"), Scopes: []string{mcpserver.ScopeRead, mcpserver.ScopeApprove}},
	}}})
	dave := newPlainMCPWith(t, env.MCPURL, "dave-key")
	out, err := dave.call("start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "8.2.0", "environment": "staging"}})
	if err != nil {
		t.Fatal(err)
	}
	var s mcpserver.StartResult
	json.Unmarshal(out, &s)
	testenv.WaitForStatus(t, env.Client, s.WorkflowID, workflows.StatusWaitingApproval)
	origin := strings.TrimSuffix(env.MCPURL, mcpserver.EndpointPath)
	inbox := origin + mcpserver.InboxPath
	browse := func(key string) (*http.Client, string) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		if page := read(t, c, http.MethodGet, inbox, nil); !strings.Contains(page, `<label for="api_key">`) {
			t.Fatalf("inbox before sign-in:\n%s", page)
		}
		if page := read(t, c, http.MethodPost, inbox, url.Values{"api_key": {"wrong"}}); !strings.Contains(page, "Sign-in refused") {
			t.Fatalf("a wrong key:\n%s", page)
		}
		return c, read(t, c, http.MethodPost, inbox, url.Values{"api_key": {key}})
	}
	// Bob's link as a reader of a shared channel has it, with no sign-in: it shows the gate
	// and decides nothing.
	bobs, _ := mcpserver.ApprovalLink(testenv.DecisionKeys(), origin, signing.Link{WorkflowID: s.WorkflowID, Step: "approval", Approver: "bob", Expires: time.Now().Add(time.Hour)})
	anon := &http.Client{}
	if page := read(t, anon, http.MethodGet, bobs, nil); !strings.Contains(page, "sign in as bob") || strings.Contains(page, `value="approve"`) {
		t.Errorf("bob's link opened by nobody signed in offers to decide:\n%s", page)
	}
	token, _ := url.ParseQuery(strings.SplitN(bobs, "?", 2)[1])
	forged := url.Values{"t": {token.Get("t")}, "csrf": {testenv.DecisionKeys().FormToken(token.Get("t"))}, "action": {"approve"}}
	if code, body := post(t, env.MCPURL, forged); code != http.StatusForbidden || !strings.Contains(body, "Nothing changed") {
		t.Errorf("bob's link posted by nobody signed in: %d\n%s", code, body)
	}
	if v, _ := testenv.Status(context.Background(), env.Client, s.WorkflowID); v.Status != workflows.StatusWaitingApproval {
		t.Fatalf("a link alone decided: %s", v.Status)
	}
	if _, page := browse("dave-key"); !strings.Contains(page, "waiting on dave") || strings.Contains(page, s.WorkflowID) {
		t.Errorf("the requester's inbox lists their own run:\n%s", page)
	}
	c, page := browse("bob-key")
	m := regexp.MustCompile(`href="(` + regexp.QuoteMeta(mcpserver.ApprovalPath) + `\?t=[^"]+)">` + regexp.QuoteMeta(s.WorkflowID)).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("bob's inbox does not link the run:\n%s", page)
	}
	if !strings.Contains(page, "<strong>Deploy orders 8.2.0 to staging, requested by dave</strong>") {
		t.Errorf("bob's inbox does not say what the run is for:\n%s", page)
	}
	carols, _ := mcpserver.ApprovalLink(testenv.DecisionKeys(), origin, signing.Link{WorkflowID: s.WorkflowID, Step: "approval", Approver: "carol", Expires: time.Now().Add(time.Hour)})
	if page := read(t, c, http.MethodGet, carols, nil); !strings.Contains(page, "sent to carol, and you are signed in as bob") {
		t.Errorf("someone else's link opened by bob:\n%s", page)
	}
	gate := read(t, c, http.MethodGet, origin+html.UnescapeString(m[1]), nil)
	form := url.Values{"action": {"approve"}}
	for _, f := range formField.FindAllStringSubmatch(gate, -1) {
		form.Set(f[1], html.UnescapeString(f[2]))
	}
	if done := read(t, c, http.MethodPost, origin+mcpserver.ApprovalPath, form); !strings.Contains(done, "by bob accepted") {
		t.Fatalf("deciding from the inbox:\n%s", done)
	}
	if st, err := result(t, env.Client, s.WorkflowID); err != nil || stepOf(st, "approval").Actor != "bob" {
		t.Fatalf("after the inbox: %s %v", st.Status, err)
	}
	if page := read(t, c, http.MethodGet, inbox, nil); strings.Contains(page, s.WorkflowID) || !strings.Contains(page, "Nothing waits on you") {
		t.Errorf("the inbox after the decision:\n%s", page)
	}
	// The inbox's link names the run it was made for.
	q, _ := url.ParseQuery(strings.SplitN(html.UnescapeString(m[1]), "?", 2)[1])
	l, err := testenv.DecisionKeys().VerifyLink(q.Get("t"), time.Now())
	desc, derr := env.Client.DescribeWorkflowExecution(t.Context(), s.WorkflowID, "")
	if err != nil || derr != nil || l.RunID != desc.GetWorkflowExecutionInfo().GetFirstRunId() {
		t.Errorf("the inbox's link names run %q, the run is %q (%v, %v)", l.RunID, desc.GetWorkflowExecutionInfo().GetFirstRunId(), err, derr)
	}

	// Signing out ends the session on the server: a copy of the cookie (another tab, a
	// stolen cookie) no longer signs in, on this server or any other.
	u, _ := url.Parse(inbox)
	cookies := c.Jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	copied, _ := cookiejar.New(nil)
	copied.SetCookies(u, cookies)
	other := &http.Client{Jar: copied}
	if page := read(t, other, http.MethodGet, inbox, nil); !strings.Contains(page, "waiting on bob") {
		t.Fatalf("the copied cookie does not sign in before sign-out:\n%s", page)
	}
	if page := read(t, c, http.MethodPost, inbox, url.Values{"sign_out": {"1"}}); !strings.Contains(page, "Signed out: this session is ended on the server") {
		t.Fatalf("sign-out:\n%s", page)
	}
	if page := read(t, other, http.MethodGet, inbox, nil); !strings.Contains(page, "You signed out of this session") || strings.Contains(page, "waiting on bob") {
		t.Errorf("the copied cookie after sign-out:\n%s", page)
	}
	if page := read(t, other, http.MethodGet, bobs, nil); !strings.Contains(page, "sign in as bob") || strings.Contains(page, `value="approve"`) {
		t.Errorf("bob's link with the signed-out cookie offers to decide:\n%s", page)
	}
	desc, err = env.Client.DescribeWorkflowExecution(t.Context(), "inbox-sign-out-"+sessionNonce(t, cookies[0].Value), "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetType().GetName() != mcpserver.SignOutWorkflow {
		t.Errorf("the sign-out record: %v %v", desc, err)
	}
}

// sessionNonce is the nonce of an inbox session cookie.
func sessionNonce(t *testing.T, cookie string) string {
	t.Helper()
	l, err := testenv.DecisionKeys().VerifyLink(cookie, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l.Nonce
}

// TestALinkDecidesOnlyTheRunItWasMadeFor: after a run ends, a new run may take its
// workflow id (an idempotency key after retention). An unexpired link of the first run
// shows that and decides nothing in the new one, even at the same step.
func TestALinkDecidesOnlyTheRunItWasMadeFor(t *testing.T) {
	env := testenv.StartT(t, testenv.Options{})
	ctx := t.Context()
	s, err := app.PrepareStart(workflows.KindDeployment, json.RawMessage(`{"service":"orders","version":"8.3.0","environment":"production"}`), workflows.Request{RequestedBy: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	id := "deployment-" + uuid.NewString()
	first, err := env.Client.ExecuteWorkflow(ctx, s.Options(id), string(workflows.KindDeployment), s.Input)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)
	origin := strings.TrimSuffix(env.MCPURL, mcpserver.EndpointPath)
	link, err := mcpserver.ApprovalLink(testenv.DecisionKeys(), origin, signing.Link{WorkflowID: id, RunID: first.GetRunID(),
		Step: "approval", Approver: "bob", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	_ = first.Get(ctx, &st)
	// As after retention, when Temporal no longer knows the first run and takes the id again.
	again := s.Options(id)
	again.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	second, err := env.Client.ExecuteWorkflow(ctx, again, string(workflows.KindDeployment), s.Input)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitForStatus(t, env.Client, id, workflows.StatusWaitingApproval)

	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "earlier run of "+id) || strings.Contains(string(body), `value="approve"`) {
		t.Errorf("the first run's link on the second run: %d\n%s", resp.StatusCode, body)
	}
	token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	form := url.Values{"t": {token.Get("t")}, "csrf": {testenv.DecisionKeys().FormToken(token.Get("t"))}, "action": {"approve"}}
	if code, body := post(t, env.MCPURL, form); code != http.StatusGone || !strings.Contains(body, "Nothing changed") {
		t.Errorf("the first run's link posted to the second run: %d\n%s", code, body)
	}
	if v, _ := testenv.Status(ctx, env.Client, id); v.Status != workflows.StatusWaitingApproval {
		t.Fatalf("the first run's link decided the second run: %s", v.Status)
	}
	// The second run's own link decides it (no auth here: a link alone decides).
	own, _ := mcpserver.ApprovalLink(testenv.DecisionKeys(), origin, signing.Link{WorkflowID: id, RunID: second.GetRunID(),
		Step: "approval", Approver: "bob", Expires: time.Now().Add(time.Hour)})
	token, _ = url.ParseQuery(strings.SplitN(own, "?", 2)[1])
	form = url.Values{"t": {token.Get("t")}, "csrf": {testenv.DecisionKeys().FormToken(token.Get("t"))}, "action": {"approve"}, "inputs.change_ticket": {"CHG-2042"}}
	if code, body := post(t, env.MCPURL, form); code != http.StatusOK || !strings.Contains(body, "by bob accepted") {
		t.Errorf("the second run's own link: %d\n%s", code, body)
	}
}

func read(t *testing.T, c *http.Client, method, u string, form url.Values) string {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestAReminderComesBeforeAShortDeadline: a gate with a reminder tells the channels when it
// opens, again before its deadline, and once more when the run ends timed out.
func TestAReminderComesBeforeAShortDeadline(t *testing.T) {
	hook := &sink{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	n := &activities.Notifier{Client: http.DefaultClient, Secret: []byte("a webhook secret of the tests, long enough"),
		Channels: []activities.Channel{{Kind: activities.ChannelWebhook, URL: hookSrv.URL}}}
	env := testenv.StartT(t, testenv.Options{Notify: n, NoMCP: true})
	file := filepath.Join(t.TempDir(), "quick_check.yaml")
	os.WriteFile(file, []byte(`name: quick_check
title: Quick check
version: 1
parameters: {type: object}
summary: "A quick check for {{run.requested_by}}"
steps:
  - name: check
    approval: {approvers: [ann], deadline: 3s, reminder: 2s}
`), 0o644)
	id := startProcess(t, env.Client, file, `{}`, workflows.Request{RequestedBy: "rita"})
	_, err := result(t, env.Client, id)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != workflows.ErrTypeApprovalTimeout {
		t.Fatalf("the run ended with %v, want a timeout", err)
	}
	testenv.WaitFor(t, 30*time.Second, "three notices", func() (bool, error) { return len(hook.of(id+"/run_ended")) == 1, nil })
	opened, reminded := hook.of("/check/gate_opened"), hook.of("/check/reminder")
	if len(opened) != 1 || len(reminded) != 1 {
		t.Fatalf("gate_opened %d, reminder %d; want one each", len(opened), len(reminded))
	}
	var first, second activities.Notice
	json.Unmarshal(opened[0].Body, &first)
	json.Unmarshal(reminded[0].Body, &second)
	if first.Who != "ann" || len(first.Approvers) != 1 || !second.Deadline.Equal(first.Deadline) || !strings.Contains(string(reminded[0].Body), "Reminder: A quick check for rita") {
		t.Errorf("notices: %s / %s", opened[0].Body, reminded[0].Body)
	}
	var ended activities.Notice
	json.Unmarshal(hook.of(id + "/run_ended")[0].Body, &ended)
	if ended.Status != string(workflows.StatusTimedOut) {
		t.Errorf("run_ended status %q", ended.Status)
	}
}

// holdingSink answers nothing to the first request it gets until released: a receiver
// slow enough that flowgate dev is killed while the notification is on its way.
type holdingSink struct {
	sink
	first   chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *holdingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	held := false
	h.once.Do(func() { held = true; close(h.first) })
	if held {
		io.Copy(io.Discard, r.Body)
		<-h.release // the sender is killed meanwhile: this delivery never completes
		return
	}
	h.sink.ServeHTTP(w, r)
}

// TestAKilledWorkerStillTellsTheGateOnce: flowgate dev is SIGKILLed while the gate's
// webhook is in flight; after the restart the notification is sent again under the same
// delivery id, so the receiver has the gate exactly once, and the run goes on.
func TestAKilledWorkerStillTellsTheGateOnce(t *testing.T) {
	// Its own flowgate dev processes, ports and data folder: it runs beside the others.
	t.Parallel()
	hook := &holdingSink{first: make(chan struct{}), release: make(chan struct{})}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	t.Cleanup(func() { close(hook.release) })
	dir := t.TempDir()
	secret := filepath.Join(dir, "webhook.secret")
	os.WriteFile(secret, []byte("a webhook secret of the tests, long enough"), 0o600)
	args, mcpAddr, _ := devOnFreePorts(t, filepath.Join(dir, "data"))
	args = append(args, "--notify", "webhook="+hookSrv.URL+"/hook", "--notify-secret-file", secret)
	first := startDev(t, args...)
	first.waitReady(t, mcpAddr)
	var started mcpserver.StartResult
	callTool(t, connectHTTP(t, first.mcpURL), "start_workflow", map[string]any{"workflow_type": "deployment",
		"parameters": map[string]any{"service": "orders", "version": "8.3.0", "environment": "production"}}).decode(t, &started)
	select {
	case <-hook.first:
	case <-time.After(60 * time.Second):
		t.Fatal("the gate's webhook never left")
	}
	first.stop(t, syscall.SIGKILL)

	second := startDev(t, args...)
	second.waitReady(t, mcpAddr)
	id := started.WorkflowID
	// The activity's start-to-close timeout (30 s) passes before it is retried.
	testenv.WaitFor(t, 3*time.Minute, "the gate told after the restart", func() (bool, error) {
		return len(hook.of(id+"/approval/gate_opened")) > 0, nil
	})
	cs := connectHTTP(t, second.mcpURL)
	if r := callTool(t, cs, "advance_workflow", map[string]any{"workflow_id": id, "action": "approve", "step": "approval", "inputs": changeTicket}); r.IsError {
		t.Fatalf("approve: %s", r.Text)
	}
	testenv.WaitFor(t, time.Minute, "the run's end told", func() (bool, error) { return len(hook.of(id+"/run_ended")) == 1, nil })
	if got := hook.of(id + "/approval/gate_opened"); len(got) != 1 {
		t.Errorf("the receiver completed %d deliveries of the gate, want 1 (the one in flight at the kill never completed)", len(got))
	}
}
