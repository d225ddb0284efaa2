package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
