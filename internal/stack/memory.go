package stack

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the soft memory limit `flowgate dev` gives the Go runtime: the
// garbage collector works harder as the process nears it, instead of letting the heap
// grow to twice what is live. Measured (BENCHMARKS.md): with 2 000 runs waiting, 445 MiB
// of RSS under a 320 MiB limit against 584 MiB without one.
const DefaultMemoryLimit = "1GiB"

// MinMemoryLimit is the smallest limit accepted: below it the runtime would collect
// garbage without pause.
const MinMemoryLimit = 64 << 20

// ParseMemoryLimit reads a size such as 512MiB, 1GiB or 800MB ("off" or "0" for none).
func ParseMemoryLimit(s string) (int64, error) {
	v := strings.TrimSpace(s)
	if v == "off" || v == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		size   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				break
			}
			if n*u.size < MinMemoryLimit {
				return 0, fmt.Errorf("--memory-limit %s: allowed is at least 64MiB, or off", s)
			}
			return n * u.size, nil
		}
	}
	return 0, fmt.Errorf("--memory-limit %q: allowed is a size such as 512MiB or 1GiB, or off", s)
}

// ApplyMemoryLimit sets the Go runtime's soft memory limit, unless GOMEMLIMIT is set in
// the environment (the operator's choice wins). It returns the limit in force, 0 for none.
func ApplyMemoryLimit(limit int64) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit
}
