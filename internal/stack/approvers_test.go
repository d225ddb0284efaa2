package stack

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestApproversNoKeyHasAreWarnedOf: with API keys, a gate naming an approver no key has
// (approvers: [zed-does-not-exist]) loads, but with a warning naming the process, the
// step and the name; known, revoked-free names and token auth are not warned of.
func TestApproversNoKeyHasAreWarnedOf(t *testing.T) {
	data, err := os.ReadFile("../../examples/processes/access_request.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "access.yaml"), []byte(strings.Replace(string(data), "platform-cid]", "zed-does-not-exist]", 1)), 0o644)
	cat, err := processes.NewCatalog([]string{dir}, workflows.DefinitionRules{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	keys := []mcpserver.APIKey{{Name: "platform-ann"}, {Name: "platform-bob"}, {Name: "zed-does-not-exist", Revoked: true}}
	for _, tc := range []struct {
		auth *mcpserver.AuthConfig
		want bool
	}{
		{&mcpserver.AuthConfig{APIKeys: keys}, true},
		{&mcpserver.AuthConfig{APIKeys: keys, OAuth: &mcpserver.OAuthConfig{Issuer: "https://id.example"}}, false},
		{nil, false},
	} {
		var log bytes.Buffer
		if names, ok := keyNames(tc.auth); ok {
			WarnUnknownApprovers(cat, names, slog.New(slog.NewTextHandler(&log, nil)))
		}
		got := log.String()
		if warned := strings.Contains(got, "admin_approval: zed-does-not-exist"); warned != tc.want || strings.Contains(got, "platform-ann") {
			t.Errorf("auth %+v: warned %t, want %t:\n%s", tc.auth, warned, tc.want, got)
		}
	}
}
