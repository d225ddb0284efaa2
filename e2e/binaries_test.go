package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The process tests run cmd/flowgate as its own process: this build's, and the previous
// release's (upgrade_test.go). Linking the binary takes about 15 s of a two-core machine,
// so each is built once per test binary, and with go run, whose executables Go keeps in
// its build cache: a run on unchanged code only copies it (about 2 s).

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDirs []string // removed by TestMain
	binaryMu   sync.Mutex
)

// flowgateBinary returns this build of cmd/flowgate, built once per test binary.
func flowgateBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() { binaryPath, binaryErr = buildFlowgate(context.Background(), "..") })
	if binaryErr != nil {
		t.Fatalf("build flowgate: %v", binaryErr)
	}
	return binaryPath
}

// buildFlowgate builds ./cmd/flowgate of the module in dir into a new temp folder, which
// TestMain removes, and returns its path. go run -exec cp copies the executable, fresh or
// from the build cache, to that folder. Without the VCS stamp (nothing reads it), a new
// commit of the same code finds it in the cache too.
func buildFlowgate(ctx context.Context, dir string) (string, error) {
	out, err := os.MkdirTemp("", "flowgate-bin-")
	if err != nil {
		return "", err
	}
	binaryMu.Lock()
	binaryDirs = append(binaryDirs, out)
	binaryMu.Unlock()
	bin := filepath.Join(out, "flowgate")
	cmd := exec.CommandContext(ctx, "go", "run", "-buildvcs=false", "-exec", "cp", "./cmd/flowgate", bin)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go run -exec cp ./cmd/flowgate in %s: %w\n%s", dir, err, msg)
	}
	return bin, nil
}

// removeBinaries removes the folders of the binaries built by this test binary.
func removeBinaries() {
	binaryMu.Lock()
	defer binaryMu.Unlock()
	for _, d := range binaryDirs {
		os.RemoveAll(d)
	}
}
