package processes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// Process is one loaded definition, ready to start: the file it came from, the definition,
// the source a run carries and the compiled parameter schema.
type Process struct {
	Path       string
	Definition workflows.Definition
	Source     workflows.ProcessSource
	Params     *workflows.ParamSchema
	// SameVersion are the hashes of other contents this catalog has had under this name
	// and version: the shipped definition a file overrides, or an earlier load of the
	// file. An edit that keeps its version leaves runs and the UI unable to tell the two
	// contents apart but by hash, so it is warned of and listed.
	SameVersion []string
}

// Catalog holds the definitions of a set of folders and files and reloads them when they
// change. A file that becomes invalid keeps its last good version active; a file that is
// deleted takes its process away from new starts (runs in flight carry their definition).
// It is safe for concurrent use.
type Catalog struct {
	paths  []string
	rules  workflows.DefinitionRules
	logger *slog.Logger

	mu       sync.RWMutex
	byPath   map[string]*Process
	byName   map[string]*Process
	stamp    string
	onChange []func()
}

// reserved are the workflow types only Flowgate's Go code runs; a definition cannot take
// them. The built-in kinds that are definitions (deployment) may be overridden by a file.
func reserved(name string) bool {
	k := workflows.Kind(name)
	return (slices.Contains(workflows.Kinds, k) && !slices.Contains(workflows.DefinedKinds, k)) || name == workflows.ToolCallWorkflow
}

// builtins loads the definitions shipped in the binary.
func builtins(rules workflows.DefinitionRules) ([]*Process, error) {
	var out []*Process
	var problems []error
	for _, f := range workflows.BuiltinDefinitions() {
		p, err := parse(f.Path, f.Data, rules)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(problems...)
}

// NewCatalog loads the definitions in paths (files, or folders of *.yaml and *.yml). The
// catalog is usable even when some files are invalid: their problems are returned, each
// as file:line: what is wrong; allowed: what is.
func NewCatalog(paths []string, rules workflows.DefinitionRules, logger *slog.Logger) (*Catalog, error) {
	if logger == nil {
		logger = slog.Default()
	}
	c := &Catalog{paths: paths, rules: rules, logger: logger, byPath: map[string]*Process{}, byName: map[string]*Process{}}
	_, err := c.Reload()
	return c, err
}

// OnChange registers fn to be called after a reload changed the set of processes.
func (c *Catalog) OnChange(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChange = append(c.onChange, fn)
}

// Get returns the loaded process of that name.
func (c *Catalog) Get(name string) (*Process, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.byName[name]
	return p, ok
}

// List returns the loaded processes sorted by name.
func (c *Catalog) List() []*Process {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Process, 0, len(c.byName))
	for _, p := range c.byName {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Process) int { return strings.Compare(a.Definition.Name, b.Definition.Name) })
	return out
}

// Builtin reports whether the process is the definition shipped in the binary.
func (p *Process) Builtin() bool { return strings.HasPrefix(p.Path, "builtin:") }

// FileNames returns the names of the processes loaded from files, sorted.
func (c *Catalog) FileNames() []string {
	var out []string
	for _, p := range c.List() {
		if !p.Builtin() {
			out = append(out, p.Definition.Name)
		}
	}
	return out
}

// Names returns the loaded process names, sorted.
func (c *Catalog) Names() []string {
	var out []string
	for _, p := range c.List() {
		out = append(out, p.Definition.Name)
	}
	return out
}

// Reload reads every file again. It reports whether the set of processes (names and
// contents) changed, and the problems of files it refused.
func (c *Catalog) Reload() (bool, error) {
	files, problems := list(c.paths)
	shipped, err := builtins(c.rules)
	if err != nil {
		problems = append(problems, err)
	}
	c.mu.Lock()
	byPath := map[string]*Process{}
	byName := map[string]*Process{}
	for _, f := range files {
		p, err := load(f, c.rules)
		if err == nil && reserved(p.Definition.Name) {
			err = fmt.Errorf("%s:1: process name %q is a built-in process written in Go; allowed: another name", f, p.Definition.Name)
		}
		if err != nil {
			problems = append(problems, err)
			if old, ok := c.byPath[f]; ok {
				c.logger.Warn("process definition refused; its last good version stays active", "file", f, "process", old.Definition.Name, "hash", old.Source.Hash[:12], "error", err)
				p = old
			} else {
				c.logger.Warn("process definition refused", "file", f, "error", err)
				continue
			}
		}
		c.sameVersion(f, p, c.byName[p.Definition.Name], shipped)
		if other, ok := byName[p.Definition.Name]; ok {
			err := fmt.Errorf("%s: process %q is already declared in %s; allowed: one file per process name", f, p.Definition.Name, other.Path)
			problems = append(problems, err)
			c.logger.Warn("process definition refused", "file", f, "error", err)
			continue
		}
		byPath[f], byName[p.Definition.Name] = p, p
	}
	// A file overrides the shipped definition of its name.
	for _, p := range shipped {
		if _, ok := byName[p.Definition.Name]; !ok {
			byPath[p.Path], byName[p.Definition.Name] = p, p
		}
	}
	changed := !sameSet(c.byName, byName)
	c.byPath, c.byName = byPath, byName
	c.stamp = stamp(c.paths)
	callbacks := slices.Clone(c.onChange)
	c.mu.Unlock()
	if changed {
		c.logger.Info("process definitions loaded", "processes", strings.Join(c.Names(), ", "))
		for _, fn := range callbacks {
			fn()
		}
	}
	return changed, errors.Join(problems...)
}

// sameVersion records on p (loaded from file f) the other contents this catalog has had
// under its name and version (before, the process as loaded until now), and warns when
// it finds one it had not: the content changed, the version did not.
func (c *Catalog) sameVersion(f string, p, before *Process, shipped []*Process) {
	if p == before {
		return // the last good version, kept: already recorded
	}
	var earlier []string
	if before != nil && before.Definition.Version == p.Definition.Version {
		earlier = append(earlier, before.SameVersion...)
		earlier = append(earlier, before.Source.Hash)
	}
	for _, b := range shipped {
		if b.Definition.Name == p.Definition.Name && b.Definition.Version == p.Definition.Version {
			earlier = append(earlier, b.Source.Hash)
		}
	}
	var known []string
	if before != nil {
		known = before.SameVersion
	}
	for _, h := range earlier {
		if h == p.Source.Hash || slices.Contains(p.SameVersion, h) {
			continue
		}
		p.SameVersion = append(p.SameVersion, h)
		if !slices.Contains(known, h) {
			c.logger.Warn("process definition changed but kept its version; raise version: so runs and the web UI tell the contents apart",
				"file", f, "process", p.Definition.Name, "version", p.Definition.Version, "hash", p.Source.Hash[:12], "same_version_as", h[:12])
		}
	}
}

func sameSet(a, b map[string]*Process) bool {
	if len(a) != len(b) {
		return false
	}
	for name, p := range a {
		if q, ok := b[name]; !ok || q.Source.Hash != p.Source.Hash || q.Path != p.Path {
			return false
		}
	}
	return true
}

// Watch reloads the catalog whenever its files change (checked every interval) until ctx
// ends.
func (c *Catalog) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.RLock()
		old := c.stamp
		c.mu.RUnlock()
		if stamp(c.paths) != old {
			_, _ = c.Reload() // problems are logged by Reload
		}
	}
}

// stamp summarizes the files' names, sizes and modification times.
func stamp(paths []string) string {
	files, _ := list(paths)
	var b strings.Builder
	for _, f := range files {
		if info, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", f, info.Size(), info.ModTime().UnixNano())
		}
	}
	return b.String()
}

func load(file string, rules workflows.DefinitionRules) (*Process, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return parse(file, data, rules)
}

func parse(file string, data []byte, rules workflows.DefinitionRules) (*Process, error) {
	d, err := workflows.ParseDefinition(file, data, rules)
	if err != nil {
		return nil, err
	}
	schema, err := workflows.CompileParams(d)
	if err != nil {
		return nil, fmt.Errorf("%s: parameters: %v", file, err)
	}
	return &Process{Path: file, Definition: d, Source: workflows.NewProcessSource(d, data), Params: schema}, nil
}

// Parse checks a definition's text as a catalog does when it loads the file, without
// loading it: for tools that prove a definition before an operator adds it.
func Parse(file string, data []byte, rules workflows.DefinitionRules) (*Process, error) {
	p, err := parse(file, data, rules)
	if err != nil {
		return nil, err
	}
	if err := p.Source.Check(); err != nil {
		return nil, err
	}
	if _, err := p.Source.Plan(); err != nil {
		return nil, err
	}
	return p, nil
}

// UnknownApprovers are the approvers the process's gates (and their escalations) name
// that are not among known, as "step: name", in order. With API keys, such a gate waits
// for somebody who can never sign in.
func (p *Process) UnknownApprovers(known []string) []string {
	var out []string
	for _, s := range p.Definition.Steps {
		a := s.Approval
		if a == nil {
			continue
		}
		names := slices.Clone(a.Approvers)
		if a.Escalate != nil {
			names = append(names, a.Escalate.Approvers...)
		}
		for _, n := range names {
			if !slices.Contains(known, n) && !slices.Contains(out, s.Name+": "+n) {
				out = append(out, s.Name+": "+n)
			}
		}
	}
	return out
}
