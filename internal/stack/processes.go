package stack

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

// ProcessFlags is --processes: the folders or files of process definitions to load.
type ProcessFlags struct {
	Paths string
	// Reload is how often the files are checked for changes; 0 checks them on SIGHUP only.
	Reload time.Duration
}

// RegisterReload adds --processes-reload, for the commands that keep their files current.
func (f *ProcessFlags) RegisterReload(fs *flag.FlagSet) {
	fs.DurationVar(&f.Reload, "processes-reload", ReloadInterval, "how often --processes files are checked for changes (0: only on SIGHUP)")
}

// Check refuses a reload interval that cannot work.
func (f ProcessFlags) Check() error {
	if f.Reload < 0 {
		return fmt.Errorf("--processes-reload %s: allowed is 0 (only on SIGHUP) or a positive duration such as 2s", f.Reload)
	}
	return nil
}

// Register adds --processes (env FLOWGATE_PROCESSES_DIR).
func (f *ProcessFlags) Register(fs *flag.FlagSet, role string) {
	def := os.Getenv("FLOWGATE_PROCESSES_DIR")
	fs.StringVar(&f.Paths, "processes", def, "folders (or files) of process definitions, comma-separated: "+role+" (env FLOWGATE_PROCESSES_DIR)")
}

// List returns the paths given, or nil.
func (f ProcessFlags) List() []string {
	var out []string
	for _, p := range strings.Split(f.Paths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ReloadInterval is how often a catalog checks its files for changes by default.
const ReloadInterval = 2 * time.Second

// LoadProcesses loads the definitions shipped in the binary and those --processes names,
// and keeps the files current until ctx ends: they are checked every f.Reload (unless 0)
// and reloaded on SIGHUP. A folder that does not exist is an error; an invalid file is logged
// and left out (or keeps its last good version), so one bad file never takes the others
// down.
func LoadProcesses(ctx context.Context, f ProcessFlags, services []string, logger *slog.Logger) (*processes.Catalog, error) {
	paths := f.List()
	if len(paths) == 0 {
		c, err := processes.NewCatalog(nil, workflows.DefinitionRules{Services: services}, logger.With("component", "processes"))
		if err != nil {
			return nil, fmt.Errorf("built-in process definitions: %w", err)
		}
		return c, nil
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("--processes %s: %w", p, err)
		}
	}
	c, err := processes.NewCatalog(paths, workflows.DefinitionRules{Services: services}, logger.With("component", "processes"))
	if err != nil {
		logger.Error("some process definitions were refused; run flowgate processes validate for the details", "error", err)
	}
	if f.Reload > 0 {
		go c.Watch(ctx, f.Reload)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if _, err := c.Reload(); err != nil {
					logger.Error("reload on SIGHUP: some process definitions were refused", "error", err)
				}
			}
		}
	}()
	return c, nil
}

// DecisionKeyFlag is --decision-keys: the file of keys that sign and verify decisions.
type DecisionKeyFlag struct {
	Path string
}

// Register adds --decision-keys (env FLOWGATE_DECISION_KEYS_FILE).
func (f *DecisionKeyFlag) Register(fs *flag.FlagSet, role string) {
	fs.StringVar(&f.Path, "decision-keys", os.Getenv("FLOWGATE_DECISION_KEYS_FILE"), "file of the keys that sign decisions, created when missing; give every worker and MCP server the same file: "+role+" (env FLOWGATE_DECISION_KEYS_FILE)")
}

// Load reads (or creates) the file, or returns nil when no path is given.
func (f DecisionKeyFlag) Load() (*signing.Keys, error) {
	if f.Path == "" {
		return nil, nil
	}
	k, err := signing.LoadOrCreate(f.Path)
	if err != nil {
		return nil, fmt.Errorf("--decision-keys: %w", err)
	}
	return k, nil
}
