package stack

import (
	"strings"
	"testing"
)

// TestParseMemoryLimit: sizes in binary and decimal units, off, and refusals that name the
// flag and what is allowed.
func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "800MB": 800e6, "off": 0, "0": 0, " 2GiB ": 2 << 30} {
		if got, err := ParseMemoryLimit(in); err != nil || got != want {
			t.Errorf("ParseMemoryLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"lots": "a size such as 512MiB", "1TB": "a size such as", "10MiB": "at least 64MiB", "-1GiB": "a size such as", "1.5GiB": "a size such as"} {
		if _, err := ParseMemoryLimit(in); err == nil || !strings.Contains(err.Error(), "--memory-limit") || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMemoryLimit(%q) = %v; want a refusal saying %q", in, err, want)
		}
	}
}
