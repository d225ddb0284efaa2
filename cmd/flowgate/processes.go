package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/stack"
	"github.com/flowgate/flowgate/workflows"
)

// runProcesses is `flowgate processes validate PATH...`: it checks definition files without
// running anything, for editors and CI.
func runProcesses(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "validate" {
		return usageError{errors.New(`usage: flowgate processes validate [--services name=url,...] FILE_OR_FOLDER...`)}
	}
	fs := flag.NewFlagSet("processes validate", flag.ContinueOnError)
	services := fs.String("services", envOr("FLOWGATE_SERVICES", ""), "the gateway services call steps may name, as given to flowgate worker (env FLOWGATE_SERVICES; default: the demo services)")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return err
		}
		return usageError{fmt.Errorf("%v (run with -h for the flags)", err)}
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
	}
	if err != nil {
		return fmt.Errorf("invalid:\n%s", indent(err.Error()))
	}
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
