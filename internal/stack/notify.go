package stack

import (
	"flag"
	"fmt"
	"net/http"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/mcpserver"
)

// NotifyFlags configure who is told when a gate waits: --notify channels, the webhook
// secret, the approvers who get links, and the public URL links point at.
type NotifyFlags struct {
	Channels    string
	SecretFile  string
	Approvers   string
	ApprovalURL string
}

// Register adds --notify, --notify-secret-file, --notify-approvers and --approval-url.
func (f *NotifyFlags) Register(fs *flag.FlagSet, role string) {
	fs.StringVar(&f.Channels, "notify", os.Getenv("FLOWGATE_NOTIFY"), "where to tell people that a gate waits, comma-separated KIND=URL: webhook=https://… (JSON, signed), slack=https://hooks.slack.com/…, email=smtp://USER:PASSWORD@HOST:587?from=ADDRESS (STARTTLS; &tls=none on a trusted network); put secrets in env FLOWGATE_NOTIFY rather than on the command line")
	fs.StringVar(&f.SecretFile, "notify-secret-file", os.Getenv("FLOWGATE_NOTIFY_SECRET_FILE"), "file holding the secret that signs webhook bodies (X-Flowgate-Signature); needed with a webhook channel (env FLOWGATE_NOTIFY_SECRET_FILE)")
	fs.StringVar(&f.Approvers, "notify-approvers", os.Getenv("FLOWGATE_NOTIFY_APPROVERS"), "comma-separated NAME or NAME=EMAIL (API-key names or token subjects) who get approval links for every gate, besides a gate's named approvers; email channels write to the addresses (env FLOWGATE_NOTIFY_APPROVERS)")
	fs.StringVar(&f.ApprovalURL, "approval-url", os.Getenv("FLOWGATE_APPROVAL_URL"), "public origin of the MCP server's HTTP listener that approval links point at, e.g. https://flowgate.example.com: "+role+" (env FLOWGATE_APPROVAL_URL)")
}

// On reports whether any channel is configured.
func (f NotifyFlags) On() bool { return strings.TrimSpace(f.Channels) != "" }

// Notifier builds the notification activity's receiver: channels checked, the webhook
// secret read, and links signed with keys under the approval URL (or defaultURL). Nil
// when no channel is configured.
func (f NotifyFlags) Notifier(keys *signing.Keys, defaultURL string) (*activities.Notifier, error) {
	if !f.On() {
		return nil, nil
	}
	// No redirect: a 307 or 308 would re-send the notice, signed, to wherever it points;
	// the notifier reports a redirect as a failed delivery (and enforces this on any client).
	n := &activities.Notifier{Client: &http.Client{Timeout: 20 * time.Second, CheckRedirect: activities.NoRedirect}}
	webhook := false
	for _, part := range strings.Split(f.Channels, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		c, err := activities.ParseChannel(part)
		if err != nil {
			return nil, fmt.Errorf("--notify: %w", err)
		}
		webhook = webhook || c.Kind == activities.ChannelWebhook
		n.Channels = append(n.Channels, c)
	}
	if webhook {
		if f.SecretFile == "" {
			return nil, fmt.Errorf("--notify has a webhook channel: give --notify-secret-file, the file of the secret that signs its bodies (receivers verify X-Flowgate-Signature with it)")
		}
		raw, err := os.ReadFile(f.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("--notify-secret-file: %w", err)
		}
		if n.Secret = []byte(strings.TrimSpace(string(raw))); len(n.Secret) < 16 {
			return nil, fmt.Errorf("--notify-secret-file %s: the secret is %d bytes; allowed: at least 16", f.SecretFile, len(n.Secret))
		}
	}
	email := false
	for _, c := range n.Channels {
		email = email || c.Kind == activities.ChannelEmail
	}
	for _, a := range strings.Split(f.Approvers, ",") {
		name, addr, hasAddr := strings.Cut(strings.TrimSpace(a), "=")
		if name == "" {
			continue
		}
		n.Approvers = append(n.Approvers, name)
		if hasAddr {
			if _, err := mail.ParseAddress(addr); err != nil {
				return nil, fmt.Errorf("--notify-approvers: %s=%q is not an email address; allowed: NAME or NAME=ADDRESS", name, addr)
			}
			if n.Addresses == nil {
				n.Addresses = map[string]string{}
			}
			n.Addresses[name] = addr
		}
	}
	if email && len(n.Addresses) == 0 {
		return nil, fmt.Errorf("--notify has an email channel: give the approvers' addresses with --notify-approvers NAME=ADDRESS,…")
	}
	base := f.ApprovalURL
	if base == "" {
		base = defaultURL
	}
	if base != "" && keys != nil {
		n.Links = NewLinkSigner(keys, base)
	}
	return n, nil
}

// NewLinkSigner makes approval links under base (the MCP server's public origin) that its
// approval page accepts when it holds the same keys.
func NewLinkSigner(keys *signing.Keys, base string) activities.LinkSigner {
	return linkSigner{keys: keys, base: base}
}

// NewCallbackSigner makes the callback URLs of event waits under base (the MCP server's
// public origin), which its callback endpoint accepts when it holds the same keys.
func NewCallbackSigner(keys *signing.Keys, base string) activities.CallbackSigner {
	return linkSigner{keys: keys, base: base}
}

func (l linkSigner) CallbackURL(workflowID, runID, step string) (string, string, error) {
	return mcpserver.CallbackURL(l.keys, l.base, signing.Callback{WorkflowID: workflowID, RunID: runID, Step: step}, time.Now())
}

// linkSigner makes approval links that the MCP server's approval page accepts.
type linkSigner struct {
	keys *signing.Keys
	base string
}

func (l linkSigner) ApprovalLink(workflowID, runID, step, approver string, expires time.Time) (string, error) {
	return mcpserver.ApprovalLink(l.keys, l.base, signing.Link{WorkflowID: workflowID, RunID: runID, Step: step, Approver: approver, Expires: expires})
}
