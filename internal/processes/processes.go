// Package processes reads process definition files from a folder and checks them, for
// `flowgate processes validate` now and for loading them into workers and MCP servers.
package processes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowgate/flowgate/workflows"
)

// File is one definition with the file it came from.
type File struct {
	Path       string
	Definition workflows.Definition
}

// Read reads the definitions in paths: files, or folders whose *.yaml and *.yml files are
// read (not recursively). Every problem of every file is reported, joined in one error;
// two files declaring one process name is a problem too.
func Read(paths []string, rules workflows.DefinitionRules) ([]File, error) {
	files, problems := list(paths)
	var out []File
	byName := map[string]string{}
	for _, f := range files {
		p, err := load(f, rules)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		d := p.Definition
		if reserved(d.Name) {
			problems = append(problems, fmt.Errorf("%s:1: process name %q is a built-in process written in Go; allowed: another name", f, d.Name))
			continue
		}
		if other, ok := byName[d.Name]; ok {
			problems = append(problems, fmt.Errorf("%s: process %q is already declared in %s; allowed: one file per process name", f, d.Name, other))
			continue
		}
		byName[d.Name] = f
		out = append(out, File{Path: f, Definition: d})
	}
	if len(problems) > 0 {
		return out, errors.Join(problems...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no process definitions (*.yaml, *.yml) found", strings.Join(paths, ", "))
	}
	return out, nil
}

// list returns the definition files paths name, sorted: files as given, and the *.yaml and
// *.yml files of folders (not recursively), but for test files (NAME.test.yaml, which
// `flowgate processes test` reads) that sit beside the definitions they test.
func list(paths []string) ([]string, []error) {
	var files []string
	var problems []error
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", p, errors.Unwrap(err)))
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %v", p, err))
			continue
		}
		for _, e := range entries {
			name := strings.ToLower(e.Name())
			test := strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
			if ext := filepath.Ext(name); !e.IsDir() && !test && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	slices.Sort(files)
	return files, problems
}
