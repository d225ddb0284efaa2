package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/proctest"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/workflows"
)

const processesUsage = `usage: flowgate processes validate [--services name=url,...] FILE_OR_FOLDER...
       flowgate processes list [--processes FOLDER,...] [--services name=url,...]
       flowgate processes test [--run REGEX] [--junit FILE] [--cover] FILE_OR_FOLDER...
       flowgate processes test --init NAME [FOLDER...]
       flowgate processes test --replay DIR_OR_FILE
       flowgate processes history [--temporal-address H:P] [--namespace NS] [--run-id R] RUN_ID > FILE.json`

// runProcesses is `flowgate processes validate PATH...` (checks definition files without
// running anything, for editors and CI) and `flowgate processes list` (what a worker or MCP
// server given the same flags would offer).
func runProcesses(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"validate", "list", "test", "history"}, args[0]) {
		return usageError{errors.New(processesUsage)}
	}
	switch args[0] {
	case "history":
		return processHistory(ctx, args[1:], stdout, stderr)
	case "list":
		return listProcesses(args[1:], stdout, stderr)
	case "test":
		return testProcesses(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("processes validate", flag.ContinueOnError)
	services := fs.String("services", envOr("FLOWGATE_SERVICES", ""), "the gateway services call steps may name, as given to flowgate worker (env FLOWGATE_SERVICES; default: the demo services)")
	if err := parseArgs(fs, args[1:], stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("name the definition files or folders to validate")}
	}
	names, err := stack.ServiceNames(*services)
	if err != nil {
		return usageError{fmt.Errorf("--services: %w", err)}
	}
	files, err := processes.Read(fs.Args(), workflows.DefinitionRules{Services: names})
	for _, f := range files {
		fmt.Fprintf(stdout, "ok  %s: %s v%d, %d steps (%s)\n", f.Path, f.Definition.Name, f.Definition.Version, len(f.Definition.Steps), f.Definition.Title)
		printSchedules(stdout, "    ", f.Definition.Schedules)
	}
	if err != nil {
		return fmt.Errorf("invalid:\n%s", indent(err.Error()))
	}
	return nil
}

func listProcesses(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("processes list", flag.ContinueOnError)
	var pf stack.ProcessFlags
	pf.Register(fs, "the definitions to list besides the built-in processes")
	services := fs.String("services", envOr("FLOWGATE_SERVICES", ""), "the gateway services call steps may name (env FLOWGATE_SERVICES; default: the demo services)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q; give folders with --processes", fs.Arg(0))}
	}
	names, err := stack.ServiceNames(*services)
	if err != nil {
		return usageError{fmt.Errorf("--services: %w", err)}
	}
	for _, k := range workflows.Kinds {
		if !slices.Contains(workflows.DefinedKinds, k) {
			fmt.Fprintf(stdout, "%-24s built in (Go)\n", k)
		}
	}
	cat, err := processes.NewCatalog(pf.List(), workflows.DefinitionRules{Services: names}, slog.New(slog.DiscardHandler))
	for _, p := range cat.List() {
		from := p.Path
		if p.Builtin() {
			from = "shipped in the binary"
		} else if slices.Contains(workflows.DefinedKinds, workflows.Kind(p.Definition.Name)) {
			from += ", in place of the shipped definition"
		}
		fmt.Fprintf(stdout, "%-24s v%d  %s  %s  (%s)\n", p.Definition.Name, p.Definition.Version, p.Source.Hash[:12], from, p.Definition.Title)
		printSchedules(stdout, strings.Repeat(" ", 24), p.Definition.Schedules)
		if len(p.SameVersion) > 0 {
			short := make([]string, len(p.SameVersion))
			for i, h := range p.SameVersion {
				short[i] = h[:12]
			}
			fmt.Fprintf(stdout, "%-24s warning: v%d also names other content (%s); raise version when the content changes\n", "", p.Definition.Version, strings.Join(short, ", "))
		}
	}
	if err != nil {
		return fmt.Errorf("refused:\n%s", indent(err.Error()))
	}
	return nil
}

// printSchedules says, one line each, when the schedules of a definition start runs: the
// Temporal Schedules a server loading it keeps (docs/processes.md "Schedules"). Paused is
// the state the definition declares; an operator's pause_schedule is on the server.
func printSchedules(w io.Writer, indent string, schedules []workflows.ScheduleDef) {
	for _, s := range schedules {
		when := "every " + s.Every
		if s.Cron != "" {
			when = fmt.Sprintf("cron %q in %s", s.Cron, cmpOr(s.Timezone, "UTC"))
		}
		state := "active"
		if s.Paused {
			state = "paused"
		}
		fmt.Fprintf(w, "%sschedule %s: %s, as %s, %s\n", indent, s.Name, when, s.ScheduleRequester(), state)
	}
}

// testProcesses is `flowgate processes test PATH...`: it runs the cases of the test files
// (NAME.test.yaml) on mocks in Temporal's time-skipping test environment (docs/testing.md).
func testProcesses(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("processes test", flag.ContinueOnError)
	run := fs.String("run", "", "run only the cases whose name matches this regular expression")
	junit := fs.String("junit", "", "also write the results as JUnit XML to this file, for CI")
	cover := fs.Bool("cover", false, "list per definition the steps, when branches, gates and compensations no case reached")
	replay := fs.String("replay", "", "replay every history JSON in this folder (or this file) against this build, as `flowgate processes history` or the web UI downloads them, and say which would break")
	initName := fs.String("init", "", "write a starter NAME.test.yaml beside the definition NAME (a file, or a name in the folders given): a case per gate to approve, reject and time out")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if *initName != "" {
		return initTest(*initName, fs.Args(), stdout)
	}
	if *replay != "" {
		results, err := proctest.Replay(append([]string{*replay}, fs.Args()...))
		if err != nil {
			return fmt.Errorf("--replay: %w", err)
		}
		if proctest.WriteReplay(stdout, results) > 0 {
			return errReplayFailed
		}
		return nil
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("name the test files (NAME.test.yaml) or folders to run")}
	}
	var match *regexp.Regexp
	if *run != "" {
		var err error
		if match, err = regexp.Compile(*run); err != nil {
			return usageError{fmt.Errorf("--run: %w", err)}
		}
	}
	rep, err := proctest.RunFiles(fs.Args(), match)
	if err != nil {
		return err
	}
	rep.Write(stdout)
	if *cover {
		rep.Cover(stdout)
	}
	if *junit != "" {
		var buf bytes.Buffer
		if err := rep.WriteJUnit(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(*junit, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if rep.Failed() > 0 {
		return proctest.ErrFailed
	}
	return nil
}

// errReplayFailed is returned when a history does not replay on this build.
var errReplayFailed = errors.New("some histories do not replay on this build: runs in flight like them would fail after the upgrade")

// processHistory is `flowgate processes history RUN_ID`: it writes a run's history as JSON
// to stdout, in the form --replay reads, through the Temporal client (TEMPORAL_ADDRESS and
// the other TEMPORAL_* variables, as flowgate worker).
func processHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("processes history", flag.ContinueOnError)
	address := fs.String("temporal-address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS, the profile file, or 127.0.0.1:7233)")
	namespace := fs.String("namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE or default)")
	runID := fs.String("run-id", "", "the Temporal run of the workflow (default: its latest, after any continue-as-new)")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("name one run: flowgate processes history RUN_ID > FILE.json")}
	}
	c, err := stack.DialTemporal(ctx, *address, *namespace, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	raw, err := proctest.History(ctx, c, fs.Arg(0), *runID)
	if err != nil {
		return err
	}
	_, err = stdout.Write(raw)
	return err
}

// initTest is `flowgate processes test --init NAME [FOLDER...]`: it writes the starter
// test file of the definition NAME, a file or the definition of that name (or file name)
// in the folders (default the current one).
func initTest(name string, folders []string, stdout io.Writer) error {
	path, err := findDefinition(name, folders)
	if err != nil {
		return err
	}
	out, err := proctest.WriteStarter(path)
	if err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	f, err := proctest.Load(out)
	if err != nil {
		return fmt.Errorf("--init wrote %s, which does not load: %w", out, err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d cases; run it with flowgate processes test %s\n", out, len(f.Cases), out)
	return nil
}

// findDefinition is the definition file NAME names: the file itself, or in one of the
// folders the file NAME.yaml or the definition whose name is NAME.
func findDefinition(name string, folders []string) (string, error) {
	if info, err := os.Stat(name); err == nil && !info.IsDir() {
		return name, nil
	}
	if len(folders) == 0 {
		folders = []string{"."}
	}
	for _, dir := range folders {
		for _, ext := range []string{".yaml", ".yml"} {
			p := filepath.Join(dir, name+ext)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		files, _ := processes.Read([]string{dir}, workflows.DefinitionRules{AnyService: true})
		for _, f := range files {
			if f.Definition.Name == name {
				return f.Path, nil
			}
		}
	}
	return "", usageError{fmt.Errorf("--init %s: no such definition file, nor a definition of that name in %s", name, strings.Join(folders, ", "))}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
