package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// TestInputsAreTypedByTheGatesSchema: --input approved_cents=1500 reaches the server as
// the integer 1500 when the gate's schema says integer, and a value that is not of the
// field's type, or a field the gate does not ask for, is refused before anything is sent.
func TestInputsAreTypedByTheGatesSchema(t *testing.T) {
	schema := map[string]any{"type": "object", "properties": map[string]any{
		"approved_cents": map[string]any{"type": "integer"},
		"rate":           map[string]any{"type": "number"},
		"urgent":         map[string]any{"type": "boolean"},
		"ticket":         map[string]any{"type": "string"},
		"note":           map[string]any{"type": []any{"null", "string"}},
		"tags":           map[string]any{"type": "array"},
		"free":           map[string]any{},
	}}
	got, err := typedValues("--input", []string{"approved_cents=1500", "rate=0.25", "urgent=true", "ticket=1500", "note=a=b", `tags=["x"]`, "free=7"}, schema)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"approved_cents": int64(1500), "rate": 0.25, "urgent": true, "ticket": "1500", "note": "a=b", "tags": []any{"x"}, "free": "7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("typed = %#v, want %#v", got, want)
	}
	for _, c := range []struct{ given, says string }{
		{"approved_cents=15.5", `--input approved_cents=15.5: "15.5" is not a whole number`},
		{"rate=much", `"much" is not a number`},
		{"urgent=maybe", `"maybe" is not true or false`},
		{"tags=x", `"x" is not a JSON array`},
		{"amount=1", `no field "amount"; allowed are approved_cents, free, note, rate, tags, ticket, urgent`},
	} {
		if _, err := typedValues("--input", []string{c.given}, schema); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one saying %s", c.given, err, c.says)
		}
	}
	if _, err := typedValues("--input", []string{"ticket=a", "ticket=b"}, schema); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a field given twice: %v", err)
	}
}

// TestFlagsMayFollowTheRunID: `runs approve ID --comment ok` reads the flag after the id
// (the flag package alone would stop at the id and take --comment as an argument).
func TestFlagsMayFollowTheRunID(t *testing.T) {
	for _, c := range []struct {
		args    []string
		pos     []string
		comment string
		inputs  pairs
	}{
		{[]string{"run-1", "--comment", "ok"}, []string{"run-1"}, "ok", nil},
		{[]string{"--comment=ok", "run-1", "--input", "a=1", "--input", "b=2"}, []string{"run-1"}, "ok", pairs{"a=1", "b=2"}},
		{[]string{"--comment", "ok", "--", "--odd-id"}, []string{"--odd-id"}, "ok", nil},
		{[]string{"a", "b"}, []string{"a", "b"}, "", nil},
	} {
		fs, c2 := runsFlags("approve")
		pos, err := parseInterspersed(fs, c.args, &bytes.Buffer{})
		if err != nil || !reflect.DeepEqual(pos, c.pos) || c2.comment != c.comment || !reflect.DeepEqual(c2.inputs, c.inputs) {
			t.Errorf("%q: args %q, comment %q, inputs %q, err %v", c.args, pos, c2.comment, c2.inputs, err)
		}
	}
	fs, _ := runsFlags("approve")
	if _, err := parseInterspersed(fs, []string{"run-1", "--input", "novalue"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `"novalue" is not name=value`) {
		t.Errorf("--input without =: %v", err)
	}
	if _, err := parseInterspersed(fs, []string{"-h"}, &bytes.Buffer{}); err != flag.ErrHelp {
		t.Errorf("-h: %v", err)
	}
}

// TestUsageMistakesExitTwo: a missing comment, reason, id or value is refused with exit
// code 2 and a sentence saying what to give, before any server is asked.
func TestUsageMistakesExitTwo(t *testing.T) {
	t.Setenv("FLOWGATE_SERVER", "http://127.0.0.1:1/mcp") // nothing is asked of it
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"runs"}, "usage: flowgate runs list"},
		{[]string{"runs", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"runs", "approve", "run-1"}, "--comment is required: say why you approve"},
		{[]string{"runs", "reject", "run-1", "--comment", " "}, "--comment is required: say why you reject"},
		{[]string{"runs", "approve", "--comment", "ok"}, "give one run id: flowgate runs approve ID"},
		{[]string{"runs", "cancel", "run-1"}, "--reason is required"},
		{[]string{"runs", "revise", "run-1"}, "--param name=value is required"},
		{[]string{"runs", "reassign", "run-1", "--reason", "on leave"}, "--to PERSON or --to-scope SCOPE is required"},
		{[]string{"runs", "reassign", "run-1", "--to", "fin-ann"}, "--reason is required: say why the gate changes hands"},
		{[]string{"runs", "reassign", "run-1", "--to", " ", "--reason", "x"}, `invalid value " " for flag -to: give a name`},
		{[]string{"runs", "reassign", "--to", "fin-ann", "--reason", "x"}, "give one run id: flowgate runs reassign ID"},
		{[]string{"runs", "list", "--status", "done"}, `--status "done": allowed are pending,`},
		{[]string{"runs", "list", "--limit", "0"}, "--limit 0: allowed is 1 to"},
		{[]string{"runs", "list", "extra"}, `unexpected argument "extra"`},
		{[]string{"runs", "show", "run-1", "--server", "127.0.0.1:8080"}, `--server "127.0.0.1:8080": give the MCP endpoint's URL`},
		{[]string{"runs", "show", "run-1", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"approvals", "extra"}, `unexpected argument "extra"`},
		{[]string{"completion", "fish"}, "usage: flowgate completion bash|zsh"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, stderr.String(), c.says)
		}
	}
}

// TestUnreachableServerExitsThree: a server that does not answer is exit code 3, naming
// the address tried and how to set another.
func TestUnreachableServerExitsThree(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"runs", "list", "--server", "http://127.0.0.1:1/mcp"}, &stdout, &stderr)
	if code != 3 || !strings.Contains(stderr.String(), "cannot reach the Flowgate server at http://127.0.0.1:1/mcp") || !strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("exit %d, %s", code, stderr.String())
	}
}

// TestServerAndKeyComeFromFlagsEnvOrProfile: a flag wins over the environment, which
// wins over the profile, which wins over the default; a profile asked for by name must
// exist, and a mistake in the file names its line.
func TestServerAndKeyComeFromFlagsEnvOrProfile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cli.toml")
	os.WriteFile(file, []byte(`# Flowgate CLI profiles
[profile.default]
server = "http://default.example/mcp"
api_key = "default-key"

[profile.prod]
server = "https://flowgate.example/mcp"
api_key = "prod-key"
`), 0o600)
	t.Setenv("FLOWGATE_CONFIG_FILE", file)
	t.Setenv("FLOWGATE_SERVER", "")
	t.Setenv("FLOWGATE_API_KEY", "")
	t.Setenv("FLOWGATE_PROFILE", "")
	resolve := func(c clientFlags) clientFlags {
		t.Helper()
		if err := c.resolve(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := resolve(clientFlags{}); c.server != "http://default.example/mcp" || c.apiKey != "default-key" {
		t.Errorf("default profile: %+v", c)
	}
	if c := resolve(clientFlags{profile: "prod"}); c.server != "https://flowgate.example/mcp" || c.apiKey != "prod-key" {
		t.Errorf("--profile prod: %+v", c)
	}
	t.Setenv("FLOWGATE_API_KEY", "env-key")
	if c := resolve(clientFlags{profile: "prod"}); c.server != "https://flowgate.example/mcp" || c.apiKey != "env-key" {
		t.Errorf("env over profile: %+v", c)
	}
	if c := resolve(clientFlags{profile: "prod", apiKey: "flag-key", server: "http://x/mcp"}); c.server != "http://x/mcp" || c.apiKey != "flag-key" {
		t.Errorf("flags over env: %+v", c)
	}
	if err := (&clientFlags{profile: "staging"}).resolve(); err == nil || !strings.Contains(err.Error(), "has no [profile.staging]") {
		t.Errorf("a missing profile: %v", err)
	}
	os.WriteFile(file, []byte("[profile.default]\nserver = http://unquoted\n"), 0o600)
	if err := (&clientFlags{}).resolve(); err == nil || !strings.Contains(err.Error(), file+":2: the value of server must be a quoted string") {
		t.Errorf("a bad line: %v", err)
	}
	t.Setenv("FLOWGATE_CONFIG_FILE", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no file there: the default server
	t.Setenv("FLOWGATE_API_KEY", "")
	if c := resolve(clientFlags{}); c.server != defaultServer || c.apiKey != "" {
		t.Errorf("no file: %+v", c)
	}
}

// TestTokenOrKeyNeverBoth: an OAuth token comes from --token, FLOWGATE_TOKEN or a
// profile's token like a key does; the first of flags, environment and profile that gives
// a credential gives it, so --token outdoes a profile's api_key; and a key and a token
// given at the same level are refused, naming both, since the server would read only one.
func TestTokenOrKeyNeverBoth(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cli.toml")
	os.WriteFile(file, []byte("[profile.default]\napi_key = \"profile-key\"\n\n[profile.sso]\ntoken = \"profile-token\"\n\n[profile.both]\napi_key = \"k\"\ntoken = \"t\"\n"), 0o600)
	t.Setenv("FLOWGATE_CONFIG_FILE", file)
	for _, v := range []string{"FLOWGATE_SERVER", "FLOWGATE_API_KEY", "FLOWGATE_TOKEN", "FLOWGATE_PROFILE"} {
		t.Setenv(v, "")
	}
	for _, c := range []struct {
		name       string
		flags      clientFlags
		env        map[string]string
		key, token string
		refused    string
	}{
		{name: "profile key", key: "profile-key"},
		{name: "profile token", flags: clientFlags{profile: "sso"}, token: "profile-token"},
		{name: "env token over profile key", env: map[string]string{"FLOWGATE_TOKEN": "env-token"}, token: "env-token"},
		{name: "flag token over env key", flags: clientFlags{token: "flag-token"}, env: map[string]string{"FLOWGATE_API_KEY": "env-key"}, token: "flag-token"},
		{name: "flag key over env token", flags: clientFlags{apiKey: "flag-key"}, env: map[string]string{"FLOWGATE_TOKEN": "env-token"}, key: "flag-key"},
		{name: "both flags", flags: clientFlags{apiKey: "k", token: "t"}, refused: "--api-key and --token are both set: give one credential, an API key or an OAuth token, not both"},
		{name: "both in env", env: map[string]string{"FLOWGATE_API_KEY": "k", "FLOWGATE_TOKEN": "t"}, refused: "FLOWGATE_API_KEY and FLOWGATE_TOKEN are both set"},
		{name: "both in a profile", flags: clientFlags{profile: "both"}, refused: "profile both's api_key and token are both set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			f := c.flags
			err := f.resolve()
			switch {
			case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
				t.Errorf("error %v, want one saying %q", err, c.refused)
			case c.refused == "" && err != nil:
				t.Fatal(err)
			case c.refused == "" && (f.apiKey != c.key || f.token != c.token):
				t.Errorf("key %q token %q, want key %q token %q", f.apiKey, f.token, c.key, c.token)
			}
		})
	}
	os.WriteFile(file, []byte("[profile.default]\npassword = \"x\"\n"), 0o600)
	if err := (&clientFlags{}).resolve(); err == nil || !strings.Contains(err.Error(), `unknown key "password"; allowed are server, api_key, token`) {
		t.Errorf("an unknown profile key: %v", err)
	}
}

// TestTheTokenIsSentAsABearer: with --token every request carries Authorization: Bearer
// and no X-API-Key (with --api-key, the reverse), and the server's explanation of a
// refused token is what the person reads, exit 1.
func TestTheTokenIsSentAsABearer(t *testing.T) {
	t.Setenv("FLOWGATE_CONFIG_FILE", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, v := range []string{"FLOWGATE_SERVER", "FLOWGATE_API_KEY", "FLOWGATE_TOKEN", "FLOWGATE_PROFILE"} {
		t.Setenv(v, "")
	}
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_token","error_description":"access token has expired"}`))
	}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		flag, value, authz, key string
	}{
		{"--token", "eyJ.a.b", "Bearer eyJ.a.b", ""},
		{"--api-key", "bob-key", "", "bob-key"},
	} {
		seen = nil
		var stdout, stderr bytes.Buffer
		code := run([]string{"approvals", "--server", srv.URL + "/mcp", c.flag, c.value}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "refused: access token has expired") {
			t.Errorf("%s: exit %d, %s", c.flag, code, stderr.String())
		}
		mu.Lock()
		if len(seen) == 0 {
			t.Errorf("%s: no request reached the server", c.flag)
		}
		for _, h := range seen {
			if h.Get("Authorization") != c.authz || h.Get("X-API-Key") != c.key {
				t.Errorf("%s: sent Authorization %q, X-API-Key %q; want %q, %q", c.flag, h.Get("Authorization"), h.Get("X-API-Key"), c.authz, c.key)
			}
		}
		mu.Unlock()
	}
}

// TestCLIDocsNameEveryFlag: the Flags table of docs/cli.md names, for each client
// command, exactly the flags its -h shows: a flag added or renamed without the docs, or
// documented and gone, fails here.
func TestCLIDocsNameEveryFlag(t *testing.T) {
	raw, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(raw), "\n## Flags\n")
	cmds := []string{"approvals"}
	for _, sub := range runsCommands {
		cmds = append(cmds, "runs "+sub)
	}
	documented := map[string][]string{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		for _, cmd := range strings.Split(cells[2], ",") {
			if cmd = strings.TrimSpace(cmd); cmd == "all" {
				for _, c := range cmds {
					documented[c] = append(documented[c], name)
				}
			} else {
				documented[cmd] = append(documented[cmd], name)
			}
		}
	}
	for _, cmd := range cmds {
		got := helpFlags(strings.Fields(cmd)...)
		want := documented[cmd]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("flowgate %s -h shows %q; docs/cli.md documents %q", cmd, got, want)
		}
	}
	for cmd := range documented {
		if !slices.Contains(cmds, cmd) {
			t.Errorf("docs/cli.md documents flags of %q, which is no command", cmd)
		}
	}
}

// TestReassignFlagsBecomeReassignTo: `runs reassign ID --to a --to b --to-scope S --reason R`
// is advance_workflow's reassign with reassign_to {approvers [a b], scope S} and the reason
// as its comment, so the server's checks of a reassign apply unchanged.
func TestReassignFlagsBecomeReassignTo(t *testing.T) {
	fs, c := runsFlags("reassign")
	pos, err := parseInterspersed(fs, []string{"run-1", "--to", "fin-ann", "--to", "fin-cy", "--to-scope", "group:finance", "--reason", "on leave", "--step", "finance_approval"}, &bytes.Buffer{})
	if err != nil || !reflect.DeepEqual(pos, []string{"run-1"}) {
		t.Fatalf("args %q, err %v", pos, err)
	}
	if err := c.check("reassign"); err != nil {
		t.Fatal(err)
	}
	if decisions["reassign"] != workflows.ActionReassign {
		t.Fatalf("reassign maps to %q", decisions["reassign"])
	}
	got := c.advanceArgs(decisions["reassign"], "run-1")
	want := mcpserver.AdvanceArgs{WorkflowID: "run-1", Action: "reassign", Step: "finance_approval", Comment: "on leave",
		ReassignTo: &workflows.Reassignment{Approvers: []string{"fin-ann", "fin-cy"}, Scope: "group:finance"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("advance args = %+v, want %+v", got, want)
	}
}

// TestApprovalsShowEachRunsSummary: `flowgate approvals` says what each gate is about, the
// run's summary, on its own row: a summary that holds an escape sequence or a line break
// (its parameters are the requester's) cannot write to the terminal or break the table.
func TestApprovalsShowEachRunsSummary(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	printPending(&out, app.PendingResult{For: "bob", Items: []app.Pending{
		{WorkflowID: "refund-1", Type: "refund_approval", Step: "approval", RequestedBy: "rita", Deadline: now.Add(72 * time.Hour), Needs: 1,
			Summary: "Refund 2500 cents on ORD-01003,\nrequested by rita\x1b[2J"},
	}}, now)
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 3 || !strings.HasSuffix(strings.TrimSpace(lines[1]), "SUMMARY") ||
		!strings.HasSuffix(lines[2], "Refund 2500 cents on ORD-01003, requested by rita[2J") {
		t.Errorf("approvals printed:\n%s\nwant the summary on the run's row, without the escape or the line break", out.String())
	}
	if strings.ContainsRune(out.String(), '\x1b') {
		t.Errorf("approvals wrote an escape character: %q", out.String())
	}
}
