package activities

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
)

// Events a notification tells of.
const (
	EventGateOpened = "gate_opened"
	EventReminder   = "reminder"
	EventRunEnded   = "run_ended"
	// EventInputRequired tells that a step failed past its retries and waits for someone
	// to continue it (run it again) or reject it (end the run). It carries no approval
	// links: continue is decided through Flowgate's API (advance_workflow).
	EventInputRequired = "input_required"
	// EventChangesRequested tells that an approver sent a run back to its requester.
	EventChangesRequested = "changes_requested"
)

// Notice is what a notification says: a gate waits on people (opened, or its deadline is
// near), or a run they were asked about ended.
type Notice struct {
	Event      string `json:"event"`
	WorkflowID string `json:"workflow_id"`
	// RunID is the first run of the workflow id (it stays across continue-as-new): the
	// approval links of the notice decide that run only, not a later one reusing the id.
	RunID string `json:"run_id,omitempty"`
	Type  string `json:"type"`
	// Summary says what is asked, for whom and requested by whom.
	Summary     string `json:"summary"`
	Step        string `json:"step,omitempty"`
	RequestedBy string `json:"requested_by"`
	// Who says who may decide, in words; Approvers are the gate's named approvers, and
	// Scope the scope that admits anyone holding it.
	Who       string   `json:"who,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	// SelfApproval is set when the requester may approve (separation of duties off): the
	// requester gets a link too.
	SelfApproval bool      `json:"self_approval,omitempty"`
	Deadline     time.Time `json:"deadline,omitzero"`
	Status       string    `json:"status,omitempty"`
	// Failure is why the step failed, on input_required; Attempt is its attempt count,
	// so each failure of the same step is told once, not once in all.
	Failure string `json:"failure,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	// AskedBy and Asked are who asked for changes and what, on changes_requested; Round
	// is the request's number, so each is told once.
	AskedBy string `json:"asked_by,omitempty"`
	Asked   string `json:"asked,omitempty"`
	Round   int    `json:"round,omitempty"`
	// At, on a gate opened again (escalated, reassigned, revised) or a reminder after the
	// first, is when the run asked: another delivery than the first, with its own id.
	At     time.Time       `json:"at,omitzero"`
	Params json.RawMessage `json:"parameters,omitempty"`
}

// NoticeResult says where a notice went.
type NoticeResult struct {
	// Channels is how many channels are configured; zero means notifications are off.
	Channels  int      `json:"channels"`
	Delivered []string `json:"delivered,omitempty"`
}

// Channel kinds.
const (
	ChannelWebhook = "webhook"
	ChannelSlack   = "slack"
)

// ChannelKinds lists the kinds a channel may have.
var ChannelKinds = []string{ChannelWebhook, ChannelSlack, ChannelEmail}

// Channel is one place notifications go.
type Channel struct {
	Kind string
	URL  string
}

// Name is the channel as the record shows it: its kind and host, never its path (a Slack
// webhook's path is its secret).
func (c Channel) Name() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return c.Kind
	}
	return c.Kind + " " + u.Host
}

// ParseChannel reads KIND=URL (webhook=https://… or slack=https://…).
func ParseChannel(s string) (Channel, error) {
	kind, raw, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok || !slices.Contains(ChannelKinds, kind) {
		return Channel{}, fmt.Errorf("%q is not KIND=URL; allowed kinds: %s", s, strings.Join(ChannelKinds, ", "))
	}
	if kind == ChannelEmail {
		if _, err := parseSMTP(raw); err != nil {
			return Channel{}, err
		}
		return Channel{Kind: kind, URL: raw}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Channel{}, fmt.Errorf("%s: %q is not an http(s) URL", kind, raw)
	}
	return Channel{Kind: kind, URL: raw}, nil
}

// LinkSigner makes the signed approval link of one approver for one gate of one run (its
// workflow id and first run id), valid until expires.
type LinkSigner interface {
	ApprovalLink(workflowID, runID, step, approver string, expires time.Time) (string, error)
}

// Notifier sends notices to the configured channels. Each delivery carries an id
// (run / step / event) that stays the same across retries, so a receiver can drop a
// repeat; a retry skips the channels an earlier attempt reached.
type Notifier struct {
	// Client posts to webhook and Slack channels; nil is http.DefaultClient. Whatever its
	// CheckRedirect, the notifier follows no redirect: a 3xx answer is a failed delivery.
	Client   *http.Client
	Channels []Channel
	// Secret signs webhook bodies (X-Flowgate-Signature).
	Secret []byte
	// Approvers are told of every gate, besides the gate's own named approvers.
	Approvers []string
	// Addresses are the approvers' email addresses, by name, for email channels.
	Addresses map[string]string
	// Links makes approval links; nil sends notices without links.
	Links LinkSigner
	// Scopes, when known (the API keys' file), are each person's scopes: a gate that
	// admits a scope links its holders, and people of Approvers get links only for the
	// gates that admit them. Nil: everyone in Approvers is linked to every gate.
	Scopes map[string][]string
}

// SignatureHeader carries a webhook body's signature: "t=UNIX,v1=HEX", where HEX is the
// HMAC-SHA256 of "UNIX.BODY" with the shared secret.
const SignatureHeader = "X-Flowgate-Signature"

// DeliveryHeader carries a delivery's id, the same on every retry.
const DeliveryHeader = "X-Flowgate-Delivery"

// Sign returns the signature header value of body at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts + "."))
	h.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(h.Sum(nil))
}

// VerifySignature checks a signature header against body, allowing skew either way.
func VerifySignature(secret, body []byte, header string, now time.Time, skew time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("signature header is not t=UNIX,v1=HEX")
	}
	if d := now.Sub(time.Unix(unix, 0)); d > skew || d < -skew {
		return fmt.Errorf("signature is %s old; allowed: within %s", d.Round(time.Second), skew)
	}
	want := Sign(secret, body, time.Unix(unix, 0))
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return errors.New("signature does not match the body")
	}
	return nil
}

// linkPair is one approver's two links.
type linkPair struct {
	Approver string `json:"approver"`
	Approve  string `json:"approve"`
	Reject   string `json:"reject"`
}

// Notify sends the notice to every channel not reached by an earlier attempt. It fails
// (and is retried) while some channel cannot be reached; when every channel that failed
// failed for good (it answered with a redirect, which no retry fixes), the error is
// non-retryable (ErrTypeRemoteRejected).
func (n *Notifier) Notify(ctx context.Context, in Notice) (NoticeResult, error) {
	res := NoticeResult{Channels: len(n.Channels)}
	if len(n.Channels) == 0 {
		return res, nil
	}
	links, err := n.links(in)
	if err != nil {
		return res, err
	}
	var msgs []email
	var msgErr error
	if slices.ContainsFunc(n.Channels, func(c Channel) bool { return c.Kind == ChannelEmail }) {
		msgs, msgErr = n.emails(in, links)
	}
	var beat progressBeat
	p := n.resume(ctx, msgs, &beat)
	// Between deliveries (a channel that is slow to answer, an SMTP dialogue) the last
	// progress is sent again, so a lost worker is noticed within the heartbeat timeout.
	defer keepAliveWith(ctx, beat.details)()
	id := in.WorkflowID + "/" + in.Step + "/" + in.Event
	switch in.Event {
	case EventRunEnded:
		id = in.WorkflowID + "/" + in.Event
	case EventInputRequired:
		id += "/" + strconv.Itoa(in.Attempt)
	case EventChangesRequested:
		id += "/" + strconv.Itoa(in.Round)
	case EventGateOpened, EventReminder:
		if !in.At.IsZero() {
			id += "/" + strconv.FormatInt(in.At.Unix(), 10)
		}
	}
	var failures []error
	for i, c := range n.Channels {
		name := c.Name()
		if slices.Contains(p.Channels, i) {
			res.Delivered = append(res.Delivered, name)
			continue
		}
		if c.Kind == ChannelEmail {
			if msgErr != nil {
				failures = append(failures, fmt.Errorf("%s: %w", name, msgErr))
				continue
			}
			sent, err := n.mail(ctx, i, c, id, msgs, &p, &beat)
			if err != nil {
				failures = append(failures, fmt.Errorf("%s: %w", name, err))
				continue
			}
			res.Delivered = append(res.Delivered, fmt.Sprintf("%s (%d)", name, sent))
			continue
		}
		body, err := n.body(c, in, links)
		if err != nil {
			return res, err
		}
		if err := n.post(ctx, c, id, body); err != nil {
			// The error names the channel by kind and host only: its URL may be a secret.
			failures = append(failures, fmt.Errorf("%s: %w", name, err))
			continue
		}
		p.Channels = append(p.Channels, i)
		beat.record(ctx, p)
		res.Delivered = append(res.Delivered, name)
	}
	if len(failures) == 0 {
		return res, nil
	}
	joined := errors.Join(failures...)
	for _, f := range failures {
		var refused *refusedError
		if !errors.As(f, &refused) {
			return res, joined // some channel may answer on a retry
		}
	}
	return res, expected(ErrTypeRemoteRejected, joined.Error())
}

// notifyProgress is what Notify heartbeats: the channels an attempt reached, by index in
// Notifier.Channels, so that a retry skips them and no channel is told twice. It holds
// indexes, counts and kinds only, never a URL, an address or anything derived from them:
// heartbeat details show in the Temporal UI and DescribeWorkflowExecution while a retry
// waits, and a timeout writes them into the history, and channel URLs hold secrets (an
// email channel's SMTP password, a Slack webhook's path).
type notifyProgress struct {
	// Kinds are the channels' kinds, in order, when this was recorded. A retry on a
	// worker whose channels differ in number or kind starts over rather than skip by an
	// index that now names another channel: a repeat is better than a channel never told,
	// and receivers drop a repeat by its delivery id (an email by its Message-ID). Two
	// channels of one kind swapped are not detected.
	Kinds []string `json:"kinds"`
	// Channels are the webhook and Slack channels delivered.
	Channels []int `json:"channels,omitempty"`
	// Messages is how many messages an email channel sends (Notifier.emails); Mails are,
	// by email channel, the indexes of the messages sent. A retry whose count differs (the
	// approvers' addresses changed) sends every message again.
	Messages int           `json:"messages,omitempty"`
	Mails    map[int][]int `json:"mails,omitempty"`
}

// clone is a copy of p that shares nothing with it.
func (p notifyProgress) clone() notifyProgress {
	c := notifyProgress{Kinds: slices.Clone(p.Kinds), Channels: slices.Clone(p.Channels), Messages: p.Messages}
	if p.Mails != nil {
		c.Mails = make(map[int][]int, len(p.Mails))
		for i, sent := range p.Mails {
			c.Mails[i] = slices.Clone(sent)
		}
	}
	return c
}

// progressBeat holds the progress an attempt recorded last, for keepAliveWith to send
// again between records.
type progressBeat struct {
	last atomic.Pointer[notifyProgress]
}

// keep holds a copy of p without heartbeating it.
func (b *progressBeat) keep(p notifyProgress) {
	c := p.clone()
	b.last.Store(&c)
}

// record holds p and heartbeats it; outside an activity (a direct call) it only holds it.
func (b *progressBeat) record(ctx context.Context, p notifyProgress) {
	b.keep(p)
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, *b.last.Load())
	}
}

// details is what keepAliveWith heartbeats: the progress held last.
func (b *progressBeat) details() []any {
	if p := b.last.Load(); p != nil {
		return []any{*p}
	}
	return nil
}

// resume returns what an earlier attempt delivered, as its heartbeat says, for the
// channels and messages (msgs, Notifier.emails) of this attempt, and holds it in b.
func (n *Notifier) resume(ctx context.Context, msgs []email, b *progressBeat) notifyProgress {
	p := notifyProgress{Messages: len(msgs), Mails: map[int][]int{}}
	for _, c := range n.Channels {
		p.Kinds = append(p.Kinds, c.Kind)
	}
	defer func() { b.keep(p) }()
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return p
	}
	var last notifyProgress
	if err := activity.GetHeartbeatDetails(ctx, &last); err == nil {
		if !slices.Equal(last.Kinds, p.Kinds) {
			return p
		}
		for _, i := range last.Channels {
			if i >= 0 && i < len(n.Channels) && n.Channels[i].Kind != ChannelEmail {
				p.Channels = append(p.Channels, i)
			}
		}
		if last.Messages == p.Messages {
			for i, sent := range last.Mails {
				if i >= 0 && i < len(n.Channels) && n.Channels[i].Kind == ChannelEmail {
					p.Mails[i] = slices.Clone(sent)
				}
			}
		}
		return p
	}
	// A worker before notifyProgress heartbeated the URLs it reached: a webhook or Slack
	// channel's URL, and URL#ADDRESS for each email sent. Such details, present on the
	// first retry after an upgrade, are mapped here, in memory, to this attempt's indexes
	// by exact match, so the upgrade tells no channel twice. Details of any other shape
	// (they do not decode) count as nothing delivered: every channel is told again, and
	// receivers drop the repeat by its delivery id. Either way the details are replaced at
	// once by indexes, so that the URLs leave the activity's record even if this attempt
	// delivers nothing. (A worker before notifyProgress that gets these details fails to
	// read them and tells every channel again: it does not panic.)
	defer func() { b.record(ctx, p) }()
	var old []string
	if err := activity.GetHeartbeatDetails(ctx, &old); err != nil {
		return p
	}
	for i, c := range n.Channels {
		if c.Kind != ChannelEmail {
			if slices.Contains(old, c.URL) {
				p.Channels = append(p.Channels, i)
			}
			continue
		}
		for j, m := range msgs {
			if slices.Contains(old, c.URL+"#"+m.to) {
				p.Mails[i] = append(p.Mails[i], j)
			}
		}
	}
	return p
}

// mail sends the messages of email channel i (one per approver with an address),
// skipping the ones an earlier attempt sent; it returns how many the channel sends.
func (n *Notifier) mail(ctx context.Context, i int, c Channel, id string, msgs []email, p *notifyProgress, b *progressBeat) (int, error) {
	for j, m := range msgs {
		if slices.Contains(p.Mails[i], j) {
			continue
		}
		if err := sendMail(ctx, c.URL, id+"/"+m.to, m); err != nil {
			return 0, err
		}
		p.Mails[i] = append(p.Mails[i], j)
		b.record(ctx, *p)
	}
	return len(msgs), nil
}

func (n *Notifier) links(in Notice) ([]linkPair, error) {
	if n.Links == nil || in.Event == EventRunEnded || in.Event == EventInputRequired || in.Event == EventChangesRequested {
		return nil, nil
	}
	var names []string
	for _, a := range append(append(slices.Clone(in.Approvers), n.Approvers...), n.holders(in.Scope)...) {
		if a != "" && (a != in.RequestedBy || in.SelfApproval) && !slices.Contains(names, a) && n.admitted(in, a) {
			names = append(names, a)
		}
	}
	var out []linkPair
	for _, a := range names {
		link, err := n.Links.ApprovalLink(in.WorkflowID, in.RunID, in.Step, a, in.Deadline)
		if err != nil {
			return nil, fmt.Errorf("approval link for %s: %w", a, err)
		}
		out = append(out, linkPair{Approver: a, Approve: link + "&action=approve", Reject: link + "&action=reject"})
	}
	return out, nil
}

// text says in words what the notice is about.
func (in Notice) text() string {
	switch in.Event {
	case EventRunEnded:
		return fmt.Sprintf("%s ended %s: %s", in.WorkflowID, in.Status, in.Summary)
	case EventReminder:
		return fmt.Sprintf("Reminder: %s still waits at %s for %s until %s", in.Summary, in.Step, in.Who, in.Deadline.Format(time.RFC3339))
	case EventInputRequired:
		return fmt.Sprintf("Input needed: %s. Step %s of %s failed: %s. Continue it (run it again) or reject it (end the run, undoing what was done) until %s, with advance_workflow", in.Summary, in.Step, in.WorkflowID, in.Failure, in.Deadline.Format(time.RFC3339))
	case EventChangesRequested:
		return fmt.Sprintf("Changes requested: %s. At step %s of %s, %s asked %s: %s. Revise the parameters it names or withdraw the run until %s, with advance_workflow", in.Summary, in.Step, in.WorkflowID, in.AskedBy, in.RequestedBy, in.Asked, in.Deadline.Format(time.RFC3339))
	}
	return fmt.Sprintf("Approval needed: %s. %s waits at %s for %s until %s", in.Summary, in.WorkflowID, in.Step, in.Who, in.Deadline.Format(time.RFC3339))
}

func (n *Notifier) body(c Channel, in Notice, links []linkPair) ([]byte, error) {
	if c.Kind == ChannelSlack {
		return json.Marshal(slackMessage(in, links))
	}
	return json.Marshal(struct {
		Notice
		Text  string     `json:"text"`
		Links []linkPair `json:"links,omitempty"`
	}{in, in.text(), links})
}

// slackMessage is a Slack incoming-webhook message: the summary, the facts, and a pair of
// buttons per approver that open their approval page.
func slackMessage(in Notice, links []linkPair) map[string]any {
	fields := []map[string]string{
		{"type": "mrkdwn", "text": "*Run*\n" + in.WorkflowID},
		{"type": "mrkdwn", "text": "*Requested by*\n" + in.RequestedBy},
	}
	if in.Step != "" {
		fields = append(fields, map[string]string{"type": "mrkdwn", "text": "*Step*\n" + in.Step})
	}
	if !in.Deadline.IsZero() && in.Event != EventRunEnded {
		fields = append(fields, map[string]string{"type": "mrkdwn", "text": "*Deadline*\n" + in.Deadline.Format(time.RFC3339)})
	}
	if in.Params != nil {
		fields = append(fields, map[string]string{"type": "mrkdwn", "text": "*Parameters*\n`" + string(in.Params) + "`"})
	}
	blocks := []map[string]any{
		{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": in.text()}},
		{"type": "section", "fields": fields},
	}
	for _, l := range links {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{
			{"type": "button", "style": "primary", "url": l.Approve, "text": map[string]string{"type": "plain_text", "text": "Approve as " + l.Approver}},
			{"type": "button", "style": "danger", "url": l.Reject, "text": map[string]string{"type": "plain_text", "text": "Reject as " + l.Approver}},
		}})
	}
	return map[string]any{"text": in.text(), "blocks": blocks}
}

// refusedError is a delivery that failed for good: no retry can fix it.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// noRedirect returns a copy of client (http.DefaultClient when nil) that follows no
// redirect: a 3xx answer comes back as it is. Following one would send the notice, and
// its signature, to wherever the answer points (a 307 or 308 re-sends the POST body).
func noRedirect(client *http.Client) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	c := *client // shares the Transport, so its connections
	c.CheckRedirect = NoRedirect
	return &c
}

// NoRedirect is an http.Client CheckRedirect that follows no redirect: the client returns
// the 3xx answer itself. The notifier's client follows none whatever its own setting.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (n *Notifier) post(ctx context.Context, c Channel, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(DeliveryHeader, id)
	if c.Kind == ChannelWebhook && len(n.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(n.Secret, body, time.Now()))
	}
	resp, err := noRedirect(n.Client).Do(req)
	if err != nil {
		// Not the URL: url.Error quotes it whole.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not reached: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 3 {
		// The target's host only: its path and query may hold a token, its user info a
		// password.
		to := " (no Location)"
		if loc, err := resp.Location(); err == nil && loc.Host != "" {
			to = " to " + loc.Host
		}
		return &refusedError{fmt.Sprintf("answered %d redirect%s; Flowgate follows no redirect (check the channel's URL)", resp.StatusCode, to)}
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// holders are the people the directory says hold scope, sorted; none without a directory.
func (n *Notifier) holders(scope string) []string {
	if scope == "" || n.Scopes == nil {
		return nil
	}
	var out []string
	for name, scopes := range n.Scopes {
		if slices.Contains(scopes, scope) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// admitted tells whether the gate of in admits name, as far as the notifier knows: a gate
// that names nobody and no scope (a built-in kind's) admits anyone; without a directory
// of scopes every configured approver is taken as admitted.
func (n *Notifier) admitted(in Notice, name string) bool {
	switch {
	case slices.Contains(in.Approvers, name), len(in.Approvers) == 0 && in.Scope == "", n.Scopes == nil:
		return true
	}
	return in.Scope != "" && slices.Contains(n.Scopes[name], in.Scope)
}
