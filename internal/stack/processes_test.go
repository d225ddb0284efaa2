package stack

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestProcessFilesAreCheckedOnlyAsConfigured: an edited definition file is seen
// within the reload interval, and with --processes-reload 0 it stays unseen however long
// no SIGHUP comes (the e2e test TestDefinitionsReloadOnSIGHUP sends one). Fake time: ten
// intervals pass at once.
func TestProcessFilesAreCheckedOnlyAsConfigured(t *testing.T) {
	// LoadProcesses listens for SIGHUP: the signal package's goroutine must start outside
	// the bubbles, or it would be one of theirs, never durably blocked.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Stop(hup)
	src, err := os.ReadFile("../../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		reload time.Duration
		want   int
	}{
		{"every interval", ReloadInterval, 4},
		{"only on SIGHUP", 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "refund_approval.yaml")
				if err := os.WriteFile(file, src, 0o644); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				catalog, err := LoadProcesses(ctx, ProcessFlags{Paths: dir, Reload: c.reload}, nil, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				version := func() int {
					p, ok := catalog.Get("refund_approval")
					if !ok {
						t.Fatal("refund_approval is not loaded")
					}
					return p.Definition.Version
				}
				if v := version(); v != 3 {
					t.Fatalf("loaded version %d, want 3", v)
				}
				// A comment changes the size too: the edit is seen even within the
				// file system's timestamp granularity.
				edited := strings.Replace(string(src), "version: 3", "version: 4", 1) + "# edited\n"
				if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * ReloadInterval)
				synctest.Wait()
				if v := version(); v != c.want {
					t.Errorf("after %s, version %d; want %d", 10*ReloadInterval, v, c.want)
				}
			})
		})
	}
}
