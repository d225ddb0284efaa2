package activities

import (
	"context"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// ChannelEmail sends mail over SMTP: email=smtp://USER:PASSWORD@HOST:PORT?from=ADDRESS
// (&tls=starttls, the default, which requires STARTTLS; or tls=none on a trusted network;
// &auth=plain, the default, login, cram-md5 or auto).
const ChannelEmail = "email"

// smtpConfig is an email channel's URL, read.
type smtpConfig struct {
	host, user, password, from string
	port                       int
	tls                        mail.TLSPolicy
	auth                       mail.SMTPAuthType
}

func parseSMTP(raw string) (smtpConfig, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return smtpConfig{}, fmt.Errorf("email: want smtp://USER:PASSWORD@HOST:PORT?from=ADDRESS")
	}
	c := smtpConfig{host: u.Hostname(), port: 587, from: u.Query().Get("from"), tls: mail.TLSMandatory, auth: mail.SMTPAuthPlain}
	switch a := u.Query().Get("auth"); a {
	case "", "plain":
	case "login":
		c.auth = mail.SMTPAuthLogin
	case "cram-md5":
		c.auth = mail.SMTPAuthCramMD5
	case "auto":
		c.auth = mail.SMTPAuthAutoDiscover
	default:
		return smtpConfig{}, fmt.Errorf("email: auth=%q; allowed: plain (default), login, cram-md5, auto", a)
	}
	if p := u.Port(); p != "" {
		if c.port, err = strconv.Atoi(p); err != nil {
			return smtpConfig{}, fmt.Errorf("email: port %q is not a number", p)
		}
	}
	if u.User != nil {
		c.user = u.User.Username()
		c.password, _ = u.User.Password()
	}
	switch u.Query().Get("tls") {
	case "", "starttls":
	case "none":
		c.tls = mail.NoTLS
	default:
		return smtpConfig{}, fmt.Errorf("email: tls=%q; allowed: starttls, none", u.Query().Get("tls"))
	}
	if c.from == "" {
		return smtpConfig{}, fmt.Errorf("email: the URL needs ?from=ADDRESS, the sender")
	}
	return c, nil
}

// email is one message of a notice: to one approver, with their links.
type email struct {
	to, subject, text, html string
}

var emailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="en"><body style="font-family:system-ui,sans-serif;color:#111">
<p>{{.Text}}</p>
<table>{{range .Facts}}<tr><th align="left">{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
{{with .Link}}<p><a href="{{.Approve}}" style="background:#1b5e20;color:#fff;padding:10px 18px;text-decoration:none">Approve</a>
&nbsp; <a href="{{.Reject}}" style="background:#b71c1c;color:#fff;padding:10px 18px;text-decoration:none">Reject</a></p>
<p>Each button opens a page where you confirm; the link is yours and works once.</p>{{end}}
</body></html>`))

// emails are the messages of a notice: one per approver who has an address.
func (n *Notifier) emails(in Notice, links []linkPair) ([]email, error) {
	facts := [][2]string{{"Run", in.WorkflowID}, {"Requested by", in.RequestedBy}}
	if in.Step != "" {
		facts = append(facts, [2]string{"Step", in.Step})
	}
	if !in.Deadline.IsZero() && in.Event != EventRunEnded {
		facts = append(facts, [2]string{"Deadline", in.Deadline.Format(time.RFC3339)})
	}
	if in.Params != nil {
		facts = append(facts, [2]string{"Parameters", string(in.Params)})
	}
	byName := map[string]linkPair{}
	for _, l := range links {
		byName[l.Approver] = l
	}
	var out []email
	for _, name := range n.addressed() {
		l, ok := byName[name]
		if in.Event == EventChangesRequested && name != in.RequestedBy {
			continue // the requester revises; the approvers wait for that
		}
		if in.Event != EventRunEnded && in.Event != EventInputRequired && in.Event != EventChangesRequested && !ok {
			continue // not asked at this gate (the requester, say)
		}
		var text strings.Builder
		text.WriteString(in.text() + "\n\n")
		for _, f := range facts {
			fmt.Fprintf(&text, "%s: %s\n", f[0], f[1])
		}
		data := struct {
			Text  string
			Facts [][2]string
			Link  *linkPair
		}{Text: in.text(), Facts: facts}
		if ok {
			fmt.Fprintf(&text, "\nApprove: %s\nReject: %s\n(Each opens a page where you confirm; the link is yours and works once.)\n", l.Approve, l.Reject)
			data.Link = &l
		}
		var html strings.Builder
		if err := emailHTML.Execute(&html, data); err != nil {
			return nil, err
		}
		subject := "Approval needed: " + in.Summary
		switch in.Event {
		case EventReminder:
			subject = "Reminder: " + in.Summary
		case EventRunEnded:
			subject = "Ended " + in.Status + ": " + in.Summary
		case EventInputRequired:
			subject = "Input needed: " + in.Summary
		case EventChangesRequested:
			subject = "Changes requested: " + in.Summary
		}
		out = append(out, email{to: n.Addresses[name], subject: subject, text: text.String(), html: html.String()})
	}
	return out, nil
}

// addressed are the approvers with an email address, in a stable order: Approvers' order,
// then the other names sorted. The order must not change between attempts: a retry skips
// the messages an earlier attempt sent by their index in it (notifyProgress).
func (n *Notifier) addressed() []string {
	var out []string
	for _, a := range n.Approvers {
		if n.Addresses[a] != "" && !contains(out, a) {
			out = append(out, a)
		}
	}
	var rest []string
	for name := range n.Addresses {
		if n.Addresses[name] != "" && !contains(out, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sendMail sends one message; id becomes its Message-ID, the same on every retry.
func sendMail(ctx context.Context, raw string, id string, e email) error {
	cfg, err := parseSMTP(raw)
	if err != nil {
		return err
	}
	m := mail.NewMsg()
	if err := m.From(cfg.from); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := m.To(e.to); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	m.Subject(e.subject)
	m.SetMessageIDWithValue(strings.NewReplacer("/", ".", " ", "").Replace(id) + "@flowgate")
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, e.text)
	m.AddAlternativeString(mail.TypeTextHTML, e.html)
	opts := []mail.Option{mail.WithPort(cfg.port), mail.WithTLSPolicy(cfg.tls), mail.WithTimeout(15 * time.Second)}
	if cfg.user != "" {
		opts = append(opts, mail.WithSMTPAuth(cfg.auth), mail.WithUsername(cfg.user), mail.WithPassword(cfg.password))
	}
	c, err := mail.NewClient(cfg.host, opts...)
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("not sent: %v", err)
	}
	return nil
}
