package stack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowgate/flowgate/activities"
)

// TestNotifyFlagsAreChecked: a notification config that cannot work is refused at start,
// naming the flag and what is allowed.
func TestNotifyFlagsAreChecked(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123"), 0o600)
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tiny"), 0o600)
	for _, c := range []struct {
		flags NotifyFlags
		want  string
	}{
		{NotifyFlags{Channels: "pager=https://x"}, "--notify: \"pager=https://x\" is not KIND=URL; allowed kinds: webhook, slack, email"},
		{NotifyFlags{Channels: "slack=ftp://x"}, "--notify: slack: \"ftp://x\" is not an http(s) URL"},
		{NotifyFlags{Channels: "webhook=https://hooks.example.com/x"}, "give --notify-secret-file"},
		{NotifyFlags{Channels: "webhook=https://hooks.example.com/x", SecretFile: short}, "the secret is 4 bytes; allowed: at least 16"},
		{NotifyFlags{Channels: "email=smtp://mail.example.com:587"}, "needs ?from=ADDRESS"},
		{NotifyFlags{Channels: "email=smtp://mail.example.com:587?from=f@example.com&tls=maybe"}, "tls=\"maybe\"; allowed: starttls, none"},
		{NotifyFlags{Channels: "email=smtp://mail.example.com:587?from=f@example.com", Approvers: "bob"}, "give the approvers' addresses with --notify-approvers NAME=ADDRESS"},
		{NotifyFlags{Channels: "slack=https://hooks.slack.com/x", Approvers: "bob=not-an-address"}, "--notify-approvers: bob=\"not-an-address\" is not an email address"},
	} {
		if _, err := c.flags.Notifier(nil, ""); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.flags, err, c.want)
		}
	}
	n, err := NotifyFlags{Channels: "webhook=https://hooks.example.com/x,email=smtp://u:p@mail.example.com?from=f@example.com", SecretFile: secret, Approvers: "bob=bob@example.com, ann"}.Notifier(nil, "")
	if err != nil || len(n.Channels) != 2 || strings.Join(n.Approvers, ",") != "bob,ann" || n.Addresses["bob"] != "bob@example.com" || n.Links != nil {
		t.Fatalf("notifier %+v, %v", n, err)
	}
	if off, err := (NotifyFlags{}).Notifier(nil, ""); off != nil || err != nil {
		t.Errorf("no --notify: %+v %v", off, err)
	}
}

// TestNotifierFollowsNoRedirect: the notifier's client follows no redirect (a 307 would
// re-send the notice to wherever it points): it returns the 3xx answer itself, and a
// notice to a channel that redirects fails, naming the redirect, while the redirect's
// target gets nothing.
func TestNotifierFollowsNoRedirect(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	n, err := NotifyFlags{Channels: "slack=" + redirector.URL + "/services/T/B/token"}.Notifier(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if n.Client == nil || n.Client.CheckRedirect == nil {
		t.Fatalf("client %+v: no redirect policy", n.Client)
	}
	resp, err := n.Client.Post(redirector.URL+"/services/T/B/token", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("the client answered %d, want the 307 itself", resp.StatusCode)
	}
	_, err = n.Notify(context.Background(), activities.Notice{Event: activities.EventRunEnded, WorkflowID: "w", Status: "completed"})
	if err == nil || !strings.Contains(err.Error(), "answered 307 redirect to "+strings.TrimPrefix(target.URL, "http://")+"; Flowgate follows no redirect") ||
		strings.Contains(err.Error(), "token") {
		t.Errorf("notify: %v, want the redirect named, without the webhook's path", err)
	}
	if h := hits.Load(); h != 0 {
		t.Errorf("the redirect's target got %d requests, want none", h)
	}
}
