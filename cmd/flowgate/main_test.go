package main

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUsageShowsValueNamesOnlyForFlagsWithValues: `flowgate dev -h` must not show a switch
// such as -no-mcp as if it took a value (the flag package reads a back-quoted word in a
// usage string as the value's name).
func TestUsageShowsValueNamesOnlyForFlagsWithValues(t *testing.T) {
	valueNames := map[string]bool{"string": true, "int": true, "duration": true, "float": true, "uint": true, "int64": true, "uint64": true, "value": true}
	cmds := [][]string{{"dev"}, {"worker"}, {"mcp"}, {"demo-backends"}, {"approvals"}}
	for _, sub := range runsCommands {
		cmds = append(cmds, []string{"runs", sub})
	}
	for _, cmd := range cmds {
		var stdout, stderr bytes.Buffer
		if code := run(append(cmd, "-h"), &stdout, &stderr); code != 0 {
			t.Fatalf("%s -h exit %d: %s", cmd, code, stderr.String())
		}
		n := 0
		for _, line := range strings.Split(stderr.String(), "\n") {
			if !strings.HasPrefix(line, "  -") {
				continue
			}
			n++
			fields := strings.Fields(line)
			if len(fields) > 1 && !valueNames[fields[1]] {
				t.Errorf("flowgate %s -h: %q shows %q as a value name", cmd, line, strings.Join(fields[1:], " "))
			}
		}
		if n == 0 {
			t.Errorf("flowgate %s -h printed no flags: %s", cmd, stderr.String())
		}
	}
}

// TestBannerStdioConfigNamesAnAbsoluteBinary: the stdio config a newcomer pastes into
// Claude Desktop (which has no working-directory setting) names a binary by its absolute
// path, never `go run ./cmd/flowgate`; under go run it says how to install one.
func TestBannerStdioConfigNamesAnAbsoluteBinary(t *testing.T) {
	base := banner{Ready: time.Second, Temporal: "127.0.0.1:7233", UI: "http://127.0.0.1:8233", MCP: "http://127.0.0.1:8080/mcp", PID: 4242}
	for _, tc := range []struct {
		name    string
		binary  binaryPath
		install bool
	}{
		{"installed", binaryPath{Path: "/home/ada/go/bin/flowgate"}, false},
		{"go run", binaryPath{Path: "/home/ada/go/bin/flowgate", Temporary: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			b.Binary = tc.binary
			var out bytes.Buffer
			printBanner(&out, b)
			text := out.String()
			if strings.Contains(text, `"go"`) || strings.Contains(text, "./cmd/flowgate\", \"mcp") {
				t.Errorf("banner still configures go run:\n%s", text)
			}
			var cfg struct {
				MCPServers map[string]struct {
					Command string            `json:"command"`
					Args    []string          `json:"args"`
					Env     map[string]string `json:"env"`
				} `json:"mcpServers"`
			}
			found := false
			for _, line := range strings.Split(text, "\n") {
				line = strings.TrimSpace(line)
				if strings.HasPrefix(line, `{"mcpServers":{"flowgate":{"command"`) {
					found = json.Unmarshal([]byte(line), &cfg) == nil
				}
			}
			fg := cfg.MCPServers["flowgate"]
			if !found || fg.Command != "/home/ada/go/bin/flowgate" || strings.Join(fg.Args, " ") != "mcp --transport stdio --ui-url http://127.0.0.1:8233" || fg.Env["TEMPORAL_ADDRESS"] != "127.0.0.1:7233" {
				t.Errorf("stdio config not found or wrong (%+v) in:\n%s", fg, text)
			}
			if got := strings.Contains(text, "go install ./cmd/flowgate"); got != tc.install {
				t.Errorf("install hint shown = %t, want %t:\n%s", got, tc.install, text)
			}
			if !strings.Contains(text, "kill 4242") {
				t.Errorf("banner does not give the pid to stop:\n%s", text)
			}
		})
	}
	if !isGoRunBuild("/tmp/go-build3141/b001/exe/flowgate") || isGoRunBuild("/usr/local/bin/flowgate") {
		t.Error("isGoRunBuild misjudges go run's temporary binary")
	}
}

// TestProcessesValidate: `flowgate processes validate` passes a good folder, and names the
// file, line and rule of a bad file with exit code 1.
func TestProcessesValidate(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"processes", "validate", "../../examples/processes"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "ok  ../../examples/processes/access_request.yaml: access_request v1") {
		t.Fatalf("good folder: exit %d, %s %s", code, stdout.String(), stderr.String())
	}
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("name: p\ntitle: P\nversion: 1\nsummary: s\nparameters: {type: object}\nsteps:\n  - name: a\n    call: {service: payments, method: GET, endpoint: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/same.yml", []byte("name: p\ntitle: P\nversion: 1\nsummary: s\nparameters: {type: object}\nsteps:\n  - name: a\n    approval: {scope: approve}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	code := run([]string{"processes", "validate", "--services", "users=http://x,payments=http://y", dir, bad}, &stdout, &stderr)
	// With payments configured the file is valid, but it declares p twice (folder and file).
	if code != 1 || !strings.Contains(stderr.String(), `process "p" is already declared`) {
		t.Errorf("duplicate process: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	code = run([]string{"processes", "validate", bad}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), bad+`:8: service "payments" is not configured`) {
		t.Errorf("bad file: exit %d, %s", code, stderr.String())
	}
}

// TestProcessesShowTheirSchedules: `processes validate` and `processes list` print each
// schedule a definition declares, so an operator sees what will start runs by itself
// before a server loads the folder: its name, cron and time zone (UTC when none is
// given) or interval, who requests the runs, and whether it is declared paused.
func TestProcessesShowTheirSchedules(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/nightly.yaml"
	def := `name: nightly
title: Nightly
summary: nightly sign-off
version: 1
parameters: {type: object}
schedules:
  - name: late
    cron: "30 2 * * *"
    timezone: America/New_York
    as: night-bot
  - name: often
    every: 90m
    paused: true
  - name: utc
    cron: "@daily"
steps:
  - name: sign_off
    approval: {scope: approve}
`
	if err := os.WriteFile(file, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		`schedule late: cron "30 2 * * *" in America/New_York, as night-bot, active`,
		`schedule often: every 90m, as schedule:often, paused`,
		`schedule utc: cron "@daily" in UTC, as schedule:utc, active`,
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"processes", "validate", file}, &stdout, &stderr); code != 0 {
		t.Fatalf("validate: exit %d, %s", code, stderr.String())
	}
	want := "ok  " + file + ": nightly v1, 1 steps (Nightly)\n    " + strings.Join(lines, "\n    ") + "\n"
	if stdout.String() != want {
		t.Errorf("validate printed\n%s\nwant\n%s", stdout.String(), want)
	}
	stdout.Reset()
	if code := run([]string{"processes", "list", "--processes", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("list: exit %d, %s", code, stderr.String())
	}
	_, after, _ := strings.Cut(stdout.String(), file+"  (Nightly)\n")
	pad := strings.Repeat(" ", 24)
	if want := pad + strings.Join(lines, "\n"+pad) + "\n"; !strings.HasPrefix(after, want) {
		t.Errorf("list printed\n%s\nwant after nightly's line\n%s", stdout.String(), want)
	}
	if strings.Count(stdout.String(), "schedule ") != len(lines) {
		t.Errorf("list prints schedules of definitions that declare none:\n%s", stdout.String())
	}
}

// TestCacheFlagsOutOfRangeAreRefused: a cache bound or a retention of 0 or less is refused
// before anything starts, naming the flag and the range allowed.
func TestCacheFlagsOutOfRangeAreRefused(t *testing.T) {
	for _, c := range []struct{ cmd, flag, value, want string }{
		{"dev", "--history-cache", "0", "--history-cache 0: allowed is 1 to 1000000"},
		{"dev", "--history-cache", "-5", "--history-cache -5: allowed is 1 to 1000000"},
		{"dev", "--workflow-cache", "0", "--workflow-cache 0: allowed is 1 to"},
		{"worker", "--workflow-cache", "-1", "--workflow-cache -1: allowed is 1 to"},
		{"dev", "--debug-addr", "0.0.0.0:6060", "--debug-addr 0.0.0.0:6060 is not a loopback address"},
		{"dev", "--retention", "0s", "--retention 0s: allowed is 1s to"},
		{"dev", "--memory-limit", "10MiB", "--memory-limit 10MiB: allowed is at least 64MiB"},
		{"dev", "--processes-reload", "-1s", "--processes-reload -1s: allowed is 0 (only on SIGHUP) or a positive duration"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{c.cmd, "--data-dir", t.TempDir(), c.flag, c.value}, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("flowgate %s %s %s: exit %d, %q; want a refusal saying %q", c.cmd, c.flag, c.value, code, stderr.String(), c.want)
		}
	}
}

// TestGroupsClaimNeedsAnIssuer: --oauth-groups-claim names a claim of OAuth tokens, so
// without --oauth-issuer it is refused before anything starts, naming both flags.
func TestGroupsClaimNeedsAnIssuer(t *testing.T) {
	for _, cmd := range [][]string{{"dev", "--data-dir", t.TempDir()}, {"mcp", "--transport", "http"}} {
		var stdout, stderr bytes.Buffer
		code := run(append(cmd, "--oauth-groups-claim", "groups"), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--oauth-groups-claim groups: it names a claim of OAuth tokens, and no --oauth-issuer is given") {
			t.Errorf("%s: exit %d, %q", cmd[0], code, stderr.String())
		}
	}
}

// TestDevOnEveryInterfaceNeedsAuth: `dev --ip 0.0.0.0` would serve Temporal's frontend and
// the web UI, which decide gates without authentication, to the network; without auth it
// is refused before anything listens, naming the flag and what is allowed.
func TestDevOnEveryInterfaceNeedsAuth(t *testing.T) {
	for _, ip := range []string{"0.0.0.0", "::", "192.0.2.10"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"dev", "--ip", ip, "--data-dir", t.TempDir()}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--ip "+ip) || !strings.Contains(stderr.String(), "loopback address") {
			t.Errorf("dev --ip %s without auth: exit %d, %s", ip, code, stderr.String())
		}
	}
}

// TestAllowedOriginsAreChecked: --allowed-origins takes origins only, and a typo is named
// before anything listens.
func TestAllowedOriginsAreChecked(t *testing.T) {
	for _, bad := range []string{"flowgate.example.com", "ftp://x.example", "https://x.example/mcp", "https://user@x.example"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"dev", "--allowed-origins", bad, "--data-dir", t.TempDir()}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--allowed-origins") || !strings.Contains(stderr.String(), bad) {
			t.Errorf("dev --allowed-origins %q: exit %d, %s", bad, code, stderr.String())
		}
	}
}

// TestBannerHTTPConfigCarriesTheKeyWhenAuthIsOn: with authentication on, the HTTP client
// configs the banner prints send an API key (a placeholder to replace), so one pasted as
// printed is not answered 401; without auth they carry no header.
func TestBannerHTTPConfigCarriesTheKeyWhenAuthIsOn(t *testing.T) {
	for _, auth := range []bool{true, false} {
		var out bytes.Buffer
		printBanner(&out, banner{Ready: time.Second, Temporal: "127.0.0.1:7233", MCP: "http://127.0.0.1:8080/mcp", PID: 4242, Auth: auth})
		configs := 0
		for _, line := range strings.Split(out.String(), "\n") {
			_, cfg, ok := strings.Cut(line, ":  ")
			if !ok || !strings.Contains(line, `"type": "http"`) {
				continue
			}
			var v map[string]map[string]struct {
				Headers map[string]string `json:"headers"`
			}
			if err := json.Unmarshal([]byte(strings.TrimSpace(cfg)), &v); err != nil {
				t.Fatalf("auth %v: %q is not JSON: %v", auth, cfg, err)
			}
			for _, servers := range v {
				configs++
				if got := servers["flowgate"].Headers["X-API-Key"]; (got != "") != auth {
					t.Errorf("auth %v: config %s has X-API-Key %q", auth, cfg, got)
				}
			}
		}
		if configs != 2 {
			t.Errorf("auth %v: %d HTTP client configs in the banner, want 2:\n%s", auth, configs, out.String())
		}
	}
}

// TestProcessesTestExitsOneOnAFailedCase: `flowgate processes test` says each case, closes
// with the counts and exits 1 when a case fails, so CI stops; --run picks cases by name
// and --junit writes the same results for CI.
func TestProcessesTestExitsOneOnAFailedCase(t *testing.T) {
	dir := t.TempDir()
	def, err := os.ReadFile("../../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/refund.yaml", def, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := `cases:
  - name: guard stops a refunded order
    params: {order_id: ORD-01001, amount_cents: 100, reason: twice}
    mocks:
      find_order: [{output: {rows_returned: 1, row: {status: refunded}}}]
    expect: {status: failed}
  - name: wrong expectation
    params: {order_id: ORD-01001, amount_cents: 100, reason: twice}
    mocks:
      find_order: [{output: {rows_returned: 1, row: {status: refunded}}}]
    expect: {status: completed}
`
	if err := os.WriteFile(dir+"/refund.test.yaml", []byte(cases), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"processes", "test", "--junit", dir + "/junit.xml", dir}, &stdout, &stderr)
	out := stdout.String()
	if code != 1 || !strings.Contains(out, "ok   "+dir+"/refund.test.yaml: guard stops a refunded order") ||
		!strings.Contains(out, "FAIL "+dir+"/refund.test.yaml:7: wrong expectation") ||
		!strings.Contains(out, "     status: (- expected, + actual)\n         - completed\n         + failed\n") ||
		!strings.Contains(out, "1 passed, 1 failed") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	if x, err := os.ReadFile(dir + "/junit.xml"); err != nil || !strings.Contains(string(x), `tests="2" failures="1"`) {
		t.Errorf("junit %s, %v", x, err)
	}
	stdout.Reset()
	if code := run([]string{"processes", "test", "--run", "guard", dir}, &stdout, &stderr); code != 0 || !strings.HasPrefix(strings.Split(stdout.String(), "\n")[1], "1 passed, 0 failed") {
		t.Errorf("--run guard: exit %d, stdout:\n%s", code, stdout.String())
	}
}

// TestTestingDocsListTheFlagsOfProcessesTest keeps docs/testing.md's table of flags equal
// to what `flowgate processes test -h` prints.
func TestTestingDocsListTheFlagsOfProcessesTest(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"processes", "test", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var help []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(line, "  -") {
			help = append(help, strings.Fields(line)[0][1:])
		}
	}
	doc, err := os.ReadFile("../../docs/testing.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `--") {
			documented = append(documented, strings.Trim(strings.Fields(strings.Trim(line, "| "))[0], "`")[2:])
		}
	}
	slices.Sort(documented)
	if !slices.Equal(help, documented) || len(help) == 0 {
		t.Errorf("--help lists %v, docs/testing.md %v", help, documented)
	}
}

// TestProcessesTestInitWritesAFileThatPasses: `--init NAME FOLDER` finds the definition by
// name, writes NAME.test.yaml beside it, and that file passes as written; a second
// --init refuses to overwrite it.
func TestProcessesTestInitWritesAFileThatPasses(t *testing.T) {
	dir := t.TempDir()
	def, err := os.ReadFile("../../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/refund.yaml", def, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"processes", "test", "--init", "refund_approval", dir}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "wrote "+dir+"/refund.test.yaml: 6 cases") {
		t.Fatalf("--init: exit %d, stdout %s, stderr %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"processes", "test", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "6 passed, 0 failed") {
		t.Errorf("the starter: exit %d, stdout:\n%s", code, stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"processes", "test", "--init", dir + "/refund.yaml"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "refund.test.yaml exists; --init does not overwrite it") {
		t.Errorf("a second --init: exit %d, stderr %s", code, stderr.String())
	}
}

// TestProcessesTestReplayFailsOnATamperedHistory: --replay replays every recorded history
// of workflows/testdata on this build (all pass), and a history whose workflow code it
// does not match (an activity renamed) fails with the nondeterminism error and exit 1.
func TestProcessesTestReplayFailsOnATamperedHistory(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"processes", "test", "--replay", "../../workflows/testdata"}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 || !strings.Contains(out, "ok   ../../workflows/testdata/refund_approval_approved.json") || !strings.Contains(out, " replayed, 0 failed") {
		t.Fatalf("recorded histories: exit %d, stdout:\n%s\nstderr: %s", code, out, stderr.String())
	}
	good, err := os.ReadFile("../../workflows/testdata/refund_approval_approved.json")
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(good), `"name":  "RunStatement"`, `"name":  "RunStatementV2"`, 1)
	if tampered == string(good) {
		t.Fatal("no RunStatement activity to rename in the history")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/good.json", good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/tampered.json", []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	code = run([]string{"processes", "test", "--replay", dir}, &stdout, &stderr)
	out = stdout.String()
	if code != 1 || !strings.Contains(out, "ok   "+dir+"/good.json") || !strings.Contains(out, "FAIL "+dir+"/tampered.json") ||
		!strings.Contains(out, "nondeterministic") || !strings.Contains(out, "1 replayed, 1 failed") {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %s", code, out, stderr.String())
	}
}

// TestBannerStdioConfigCarriesTheUIURL: the stdio client config the banner prints passes
// the web UI this server serves, so the links a stdio server puts in its results follow
// --ui-port instead of mcp's default 8233; with no UI served, links are off.
func TestBannerStdioConfigCarriesTheUIURL(t *testing.T) {
	for _, ui := range []string{"http://127.0.0.1:9333", ""} {
		var out bytes.Buffer
		printBanner(&out, banner{Ready: time.Second, Temporal: "127.0.0.1:7233", UI: ui, MCP: "http://127.0.0.1:8080/mcp", PID: 4242, Binary: binaryPath{Path: "/usr/local/bin/flowgate"}})
		var args []string
		for _, line := range strings.Split(out.String(), "\n") {
			var v map[string]map[string]struct {
				Args []string `json:"args"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(line)), &v) == nil && len(v["mcpServers"]["flowgate"].Args) > 0 {
				args = v["mcpServers"]["flowgate"].Args
			}
		}
		i := slices.Index(args, "--ui-url")
		if i < 0 || i+1 >= len(args) || args[i+1] != ui {
			t.Errorf("UI %q: stdio args %q, want --ui-url %q:\n%s", ui, args, ui, out.String())
		}
	}
}
