package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/flowgate/flowgate/activities"
)

// Secrets the notify tests put into channel URLs; no heartbeat and no error may show them.
const (
	notifySMTPPassword = "smtp-hunter2"
	notifySlackToken   = "T000/B000/slacksecrettoken"
)

// notifyFixture is a notifier with three channels (Slack, email and webhook, in that
// order) on loopback servers that count what they get; the webhook answers 503 while
// webhookDown is set.
type notifyFixture struct {
	n                  *activities.Notifier
	slackHits, webHits atomic.Int32
	webhookDown        atomic.Bool
	mail               *notifyMailbox
	slackURL, smtpURL  string
}

func newNotifyFixture(t *testing.T) *notifyFixture {
	t.Helper()
	f := &notifyFixture{mail: startNotifyMailbox(t, "flowgate", notifySMTPPassword)}
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.slackHits.Add(1)
	}))
	t.Cleanup(slack.Close)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.webHits.Add(1)
		if f.webhookDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(web.Close)
	f.slackURL = slack.URL + "/services/" + notifySlackToken
	f.smtpURL = "smtp://flowgate:" + notifySMTPPassword + "@" + f.mail.addr + "?from=flowgate@example.test&tls=none"
	f.n = &activities.Notifier{
		Channels: []activities.Channel{
			{Kind: activities.ChannelSlack, URL: f.slackURL},
			{Kind: activities.ChannelEmail, URL: f.smtpURL},
			{Kind: activities.ChannelWebhook, URL: web.URL + "/hook"},
		},
		Secret:    []byte("a webhook secret of the tests, long enough"),
		Addresses: map[string]string{"bob": "bob@example.test", "carol": "carol@example.test"},
		Links:     notifyLinks{},
	}
	return f
}

// notice is a gate that bob and carol may approve.
func (f *notifyFixture) notice() activities.Notice {
	return activities.Notice{Event: activities.EventGateOpened, WorkflowID: "deployment-1", Type: "deployment",
		Summary: "deploy orders 6.1", Step: "approve", RequestedBy: "alice", Approvers: []string{"bob", "carol"},
		Deadline: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

type notifyLinks struct{}

func (notifyLinks) ApprovalLink(workflowID, _, step, approver string, _ time.Time) (string, error) {
	return "https://flowgate.example.test/approve?run=" + workflowID + "&step=" + step + "&who=" + approver, nil
}

// heartbeats records, as JSON, every heartbeat an activity records (the interceptor sees
// each call, the SDK's throttling aside) and every one that would go to the server.
type heartbeats struct {
	interceptor.WorkerInterceptorBase
	mu             sync.Mutex
	recorded, sent []string
}

func (h *heartbeats) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &heartbeatInbound{h: h}
	i.Next = next
	return i
}

func (h *heartbeats) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append(slices.Clone(h.recorded), h.sent...)
}

func (h *heartbeats) listen(_ *activity.Info, details converter.EncodedValues) {
	var raw json.RawMessage
	err := details.Get(&raw)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.sent = append(h.sent, "undecodable: "+err.Error())
		return
	}
	h.sent = append(h.sent, string(raw))
}

type heartbeatInbound struct {
	interceptor.ActivityInboundInterceptorBase
	h *heartbeats
}

func (i *heartbeatInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	o := &heartbeatOutbound{h: i.h}
	o.Next = outbound
	return i.Next.Init(o)
}

type heartbeatOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	h *heartbeats
}

func (o *heartbeatOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	b, err := json.Marshal(details)
	o.h.mu.Lock()
	if err != nil {
		o.h.recorded = append(o.h.recorded, "unencodable: "+err.Error())
	} else {
		o.h.recorded = append(o.h.recorded, string(b))
	}
	o.h.mu.Unlock()
	o.Next.RecordHeartbeat(ctx, details...)
}

// runNotify runs n.Notify as an activity, after an attempt that heartbeated last (nil: the
// first attempt).
func runNotify(t *testing.T, n *activities.Notifier, in activities.Notice, last any) (activities.NoticeResult, *heartbeats, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	hb := &heartbeats{}
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{hb}})
	env.SetOnActivityHeartbeatListener(hb.listen)
	env.RegisterActivity(n.Notify)
	if last != nil {
		env.SetHeartbeatDetails(last)
	}
	val, err := env.ExecuteActivity(n.Notify, in)
	var res activities.NoticeResult
	if err == nil {
		if err := val.Get(&res); err != nil {
			t.Fatal(err)
		}
	}
	return res, hb, err
}

// progress mirrors what Notify heartbeats, to read it in the tests.
type progress struct {
	Kinds    []string         `json:"kinds"`
	Channels []int            `json:"channels"`
	Messages int              `json:"messages"`
	Mails    map[string][]int `json:"mails"`
}

// TestNotifyHeartbeatsIndexesOnly: while one channel fails, the heartbeat details (shown
// in the Temporal UI and DescribeWorkflowExecution, and written into the history on a
// timeout) say which channels and messages went by index, and hold no URL, no SMTP
// password, no Slack webhook path and no address; the retry with them tells no channel
// twice.
func TestNotifyHeartbeatsIndexesOnly(t *testing.T) {
	f := newNotifyFixture(t)
	f.webhookDown.Store(true)
	_, hb, err := runNotify(t, f.n, f.notice(), nil)
	if err == nil || !strings.Contains(err.Error(), "answered 503") {
		t.Fatalf("first attempt: %v, want the webhook's 503", err)
	}
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.NonRetryable() {
		t.Errorf("a 503 is retryable: %v", err)
	}
	for _, s := range []string{notifySMTPPassword, "slacksecrettoken"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows %q: %v", s, err)
		}
	}
	all := hb.all()
	if len(hb.sent) == 0 || len(hb.recorded) < 3 {
		t.Fatalf("heartbeats recorded %q, sent %q; want one per delivery (Slack, two mails), and some sent", hb.recorded, hb.sent)
	}
	for _, d := range all {
		for _, secret := range []string{notifySMTPPassword, "slacksecrettoken", "services", "smtp:", "http:", "127.0.0.1", "@", "bob", "carol"} {
			if strings.Contains(d, secret) {
				t.Errorf("heartbeat details %s show %q", d, secret)
			}
		}
	}
	last := p0(t, hb.recorded[len(hb.recorded)-1])
	if sent := hb.sent[len(hb.sent)-1]; sent != string(last) {
		t.Errorf("last heartbeat sent %s, recorded %s", sent, last)
	}
	var p progress
	if err := json.Unmarshal(last, &p); err != nil {
		t.Fatalf("last heartbeat %s: %v", last, err)
	}
	if !slices.Equal(p.Kinds, []string{"slack", "email", "webhook"}) || !slices.Equal(p.Channels, []int{0}) ||
		p.Messages != 2 || !slices.Equal(p.Mails["1"], []int{0, 1}) {
		t.Errorf("last heartbeat %s, want Slack (0) and both mails of the email channel (1) delivered", last)
	}
	if f.slackHits.Load() != 1 || f.webHits.Load() != 1 || len(f.mail.to("bob@example.test")) != 1 || len(f.mail.to("carol@example.test")) != 1 {
		t.Fatalf("first attempt: slack %d, webhook %d, bob %d, carol %d", f.slackHits.Load(), f.webHits.Load(), len(f.mail.to("bob@example.test")), len(f.mail.to("carol@example.test")))
	}

	// The retry, given the last heartbeat, reaches the webhook only.
	f.webhookDown.Store(false)
	res, hb, err := runNotify(t, f.n, f.notice(), json.RawMessage(last))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if f.slackHits.Load() != 1 || f.webHits.Load() != 2 || len(f.mail.to("bob@example.test")) != 1 || len(f.mail.to("carol@example.test")) != 1 {
		t.Errorf("after the retry: slack %d (want 1), webhook %d (want 2), bob %d, carol %d (want 1 each)",
			f.slackHits.Load(), f.webHits.Load(), len(f.mail.to("bob@example.test")), len(f.mail.to("carol@example.test")))
	}
	if res.Channels != 3 || len(res.Delivered) != 3 || !strings.HasPrefix(res.Delivered[1], "email 127.0.0.1:") || !strings.HasSuffix(res.Delivered[1], "(2)") {
		t.Errorf("retry result %+v", res)
	}
	for _, d := range hb.all() {
		if strings.Contains(d, notifySMTPPassword) || strings.Contains(d, "slacksecrettoken") || strings.Contains(d, "http") {
			t.Errorf("retry heartbeat %s shows a URL", d)
		}
	}
}

// p0 is the first (only) detail of a heartbeat recorded as a JSON array.
func p0(t *testing.T, heartbeat string) []byte {
	t.Helper()
	var d []json.RawMessage
	if err := json.Unmarshal([]byte(heartbeat), &d); err != nil || len(d) != 1 {
		t.Fatalf("heartbeat %s: %v", heartbeat, err)
	}
	return d[0]
}

// TestNotifyResumesAfterUpgrade: a retry on an upgraded worker may get the details an
// older one heartbeated (the URLs it reached, URL#ADDRESS per mail). They are mapped to
// the channels and messages they name, so the upgrade tells nobody twice, and the new
// heartbeats drop the URLs; details of any other shape, or of other channels, do not
// panic and count as nothing delivered.
func TestNotifyResumesAfterUpgrade(t *testing.T) {
	f := newNotifyFixture(t)
	res, hb, err := runNotify(t, f.n, f.notice(), []string{f.slackURL, f.smtpURL + "#bob@example.test"})
	if err != nil || len(res.Delivered) != 3 {
		t.Fatalf("retry with old details: %+v %v", res, err)
	}
	if f.slackHits.Load() != 0 || f.webHits.Load() != 1 || len(f.mail.to("bob@example.test")) != 0 || len(f.mail.to("carol@example.test")) != 1 {
		t.Errorf("old details: slack %d (want 0), webhook %d (want 1), bob %d (want 0), carol %d (want 1)",
			f.slackHits.Load(), f.webHits.Load(), len(f.mail.to("bob@example.test")), len(f.mail.to("carol@example.test")))
	}
	for _, d := range hb.all() {
		if strings.Contains(d, notifySMTPPassword) || strings.Contains(d, "slacksecrettoken") || strings.Contains(d, "@") {
			t.Errorf("heartbeat after old details %s shows a URL or address", d)
		}
	}
	// The old details are replaced at once, before any delivery, by what they say in
	// indexes: gone from the activity's record even if this attempt delivered nothing.
	var first progress
	if len(hb.recorded) == 0 || json.Unmarshal(p0(t, hb.recorded[0]), &first) != nil ||
		!slices.Equal(first.Channels, []int{0}) || !slices.Equal(first.Mails["1"], []int{0}) {
		t.Errorf("heartbeats after old details %q, want first Slack (0) and bob's mail (1: 0)", hb.recorded)
	}

	for _, last := range []any{
		42,
		map[string]any{"channels": "all"},
		[]int{0, 1, 2},
		progress{Kinds: []string{"webhook"}, Channels: []int{0}},                                               // other channels
		progress{Kinds: []string{"slack", "email", "webhook"}, Channels: []int{7, -1, 1}},                      // no such channel; 1 is email
		progress{Kinds: []string{"slack", "email", "webhook"}, Messages: 5, Mails: map[string][]int{"1": {0}}}, // other addresses
	} {
		f := newNotifyFixture(t)
		res, _, err := runNotify(t, f.n, f.notice(), last)
		if err != nil || len(res.Delivered) != 3 {
			t.Errorf("details %+v: %+v %v", last, res, err)
		}
		if f.slackHits.Load() != 1 || f.webHits.Load() != 1 || len(f.mail.to("bob@example.test")) != 1 || len(f.mail.to("carol@example.test")) != 1 {
			t.Errorf("details %+v count as nothing delivered: slack %d, webhook %d, bob %d, carol %d, want 1 each",
				last, f.slackHits.Load(), f.webHits.Load(), len(f.mail.to("bob@example.test")), len(f.mail.to("carol@example.test")))
		}
	}
}

// TestNotifyFollowsNoRedirect: a webhook that answers 307 to another server is a failed
// delivery that no retry fixes: the other server never gets the notice (nor its
// signature), whatever client the notifier has, and the error names the redirect's host,
// never a URL's path or user info.
func TestNotifyFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect/othersecret?key=querysecret", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	otherHost := strings.TrimPrefix(other.URL, "http://")
	hook := "http://user:pwsecret@" + strings.TrimPrefix(redirector.URL, "http://") + "/hook/pathsecret?token=querysecret"

	for _, c := range []struct {
		name   string
		client *http.Client
	}{
		{"nil client", nil},
		{"http.DefaultClient", http.DefaultClient},
		{"a client that follows redirects", &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}},
	} {
		for _, kind := range []string{activities.ChannelWebhook, activities.ChannelSlack} {
			n := &activities.Notifier{Client: c.client, Secret: []byte("a webhook secret of the tests, long enough"),
				Channels: []activities.Channel{{Kind: kind, URL: hook}}}
			_, _, err := runNotify(t, n, activities.Notice{Event: activities.EventRunEnded, WorkflowID: "deployment-2", Status: "completed"}, nil)
			want := kind + " " + strings.TrimPrefix(redirector.URL, "http://") + ": answered 307 redirect to " + otherHost + "; Flowgate follows no redirect"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s, %s: %v, want %q", c.name, kind, err, want)
				continue
			}
			for _, secret := range []string{"pwsecret", "pathsecret", "othersecret", "querysecret", "user:"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s, %s: the error shows %q: %v", c.name, kind, secret, err)
				}
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != activities.ErrTypeRemoteRejected {
				t.Errorf("%s, %s: a redirect is not retryable (RemoteRejected): %v", c.name, kind, err)
			}
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests, want none", n)
	}

	// Beside a channel that is down, the activity stays retryable: the other may answer
	// on a retry.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer down.Close()
	n := &activities.Notifier{Secret: []byte("a webhook secret of the tests, long enough"), Channels: []activities.Channel{
		{Kind: activities.ChannelWebhook, URL: hook}, {Kind: activities.ChannelWebhook, URL: down.URL}}}
	_, _, err := runNotify(t, n, activities.Notice{Event: activities.EventRunEnded, WorkflowID: "deployment-3", Status: "completed"}, nil)
	var app *temporal.ApplicationError
	if err == nil || !strings.Contains(err.Error(), "follows no redirect") || !strings.Contains(err.Error(), "answered 502") ||
		!errors.As(err, &app) || app.NonRetryable() {
		t.Errorf("redirect and 502: %v, want both, retryable", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests, want none", n)
	}
}

// notifyMailbox is an SMTP server on loopback (github.com/emersion/go-smtp) that takes
// mail from one user and keeps every message.
type notifyMailbox struct {
	addr string
	mu   sync.Mutex
	rcpt []string
}

func startNotifyMailbox(t *testing.T, user, password string) *notifyMailbox {
	t.Helper()
	mb := &notifyMailbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &notifySession{mb: mb, user: user, password: password}, nil
	}))
	s.Domain = "mail.test"
	s.AllowInsecureAuth = true // loopback, for the test only
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return mb
}

// to returns the messages' recipients that are rcpt.
func (mb *notifyMailbox) to(rcpt string) []string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []string
	for _, r := range mb.rcpt {
		if r == rcpt {
			out = append(out, r)
		}
	}
	return out
}

type notifySession struct {
	mb             *notifyMailbox
	user, password string
	authed         bool
	to             []string
}

func (s *notifySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *notifySession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.user || password != s.password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *notifySession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	return nil
}

func (s *notifySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *notifySession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.rcpt = append(s.mb.rcpt, s.to...)
	s.mb.mu.Unlock()
	return nil
}

func (s *notifySession) Reset()        { s.to = nil }
func (s *notifySession) Logout() error { return nil }

// TestAFailedStepIsToldWithWhyAndNoApprovalLinks: input_required says which step failed
// and why, carries no approval links (a failed step is continued, not approved), reaches
// every approver with an address, and each failure of a step is a delivery of its own.
func TestAFailedStepIsToldWithWhyAndNoApprovalLinks(t *testing.T) {
	f := newNotifyFixture(t)
	var mu sync.Mutex
	var bodies []map[string]any
	var ids []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		defer mu.Unlock()
		bodies, ids = append(bodies, b), append(ids, r.Header.Get(activities.DeliveryHeader))
	}))
	t.Cleanup(web.Close)
	f.n.Channels = []activities.Channel{{Kind: activities.ChannelEmail, URL: f.smtpURL}, {Kind: activities.ChannelWebhook, URL: web.URL}}
	in := f.notice()
	in.Event, in.Step, in.Approvers = activities.EventInputRequired, "notify_customer", nil
	in.Failure, in.Attempt = "the output of step find_order has no field row", 1
	if _, _, err := runNotify(t, f.n, in, nil); err != nil {
		t.Fatal(err)
	}
	in.Attempt = 2
	if _, _, err := runNotify(t, f.n, in, nil); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || ids[0] == ids[1] {
		t.Fatalf("webhook got %d deliveries with ids %q; want two, each its own", len(bodies), ids)
	}
	text, _ := bodies[0]["text"].(string)
	if !strings.Contains(text, "Step notify_customer of deployment-1 failed: the output of step find_order has no field row") || bodies[0]["links"] != nil {
		t.Errorf("webhook body %v; want the failure in its text and no links", bodies[0])
	}
	if n := len(f.mail.to("bob@example.test")); n != 2 {
		t.Errorf("bob got %d mails; want one per failure, though no link is his", n)
	}
}

// TestAGateOpenedAgainIsADeliveryOfItsOwn: an escalation, a reassignment or a new round
// opens the same gate again, and a second reminder follows the first; a receiver that
// drops repeats by X-Flowgate-Delivery, as the docs say to, still hears each, while a
// retry of one delivery keeps its id.
func TestAGateOpenedAgainIsADeliveryOfItsOwn(t *testing.T) {
	f := newNotifyFixture(t)
	var mu sync.Mutex
	var ids []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get(activities.DeliveryHeader))
	}))
	t.Cleanup(web.Close)
	f.n.Channels = []activities.Channel{{Kind: activities.ChannelWebhook, URL: web.URL}}
	in := f.notice()
	for _, ev := range []string{activities.EventGateOpened, activities.EventReminder} {
		in.Event = ev
		in.At = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		for range 2 { // the same notice twice: a retry
			if _, _, err := runNotify(t, f.n, in, nil); err != nil {
				t.Fatal(err)
			}
		}
		in.At = in.At.Add(72 * time.Hour) // escalated, or the next reminder
		if _, _, err := runNotify(t, f.n, in, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 6 || ids[0] != ids[1] || ids[1] == ids[2] || ids[3] != ids[4] || ids[4] == ids[5] {
		t.Fatalf("delivery ids %q; want a retry to keep its id and a new opening or reminder to have its own", ids)
	}
}

// TestLinksGoOnlyToPeopleTheGateAdmits: with a directory of scopes (the API keys' file), a
// gate that admits group:finance links its members, though --notify-approvers does not
// name them, and links none of the configured approvers it does not admit; a gate naming
// people links them; without a directory every configured approver is linked, as before.
func TestLinksGoOnlyToPeopleTheGateAdmits(t *testing.T) {
	f := newNotifyFixture(t)
	f.n.Approvers = []string{"ops-olga", "fin-ann"}
	f.n.Scopes = map[string][]string{"fin-ann": {"approve", "group:finance"}, "fin-bob": {"approve", "group:finance"}, "ops-olga": {"approve"}, "rita": {"group:finance"}}
	linked := func(in activities.Notice) []string {
		links, err := f.n.LinksFor(in)
		if err != nil {
			t.Fatal(err)
		}
		return links
	}
	in := f.notice()
	in.RequestedBy, in.Approvers, in.Scope = "rita", nil, "group:finance"
	if got := linked(in); !slices.Equal(got, []string{"fin-ann", "fin-bob"}) {
		t.Errorf("a group:finance gate links %v; want its members but the requester, not ops-olga", got)
	}
	in.Approvers, in.Scope = []string{"cfo"}, ""
	if got := linked(in); !slices.Equal(got, []string{"cfo"}) {
		t.Errorf("a gate naming cfo links %v; want cfo alone", got)
	}
	f.n.Scopes = nil
	in.Approvers, in.Scope = nil, "group:finance"
	if got := linked(in); !slices.Equal(got, []string{"ops-olga", "fin-ann"}) {
		t.Errorf("without a directory the gate links %v; want every configured approver", got)
	}
}
