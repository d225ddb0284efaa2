//go:build !linux

package e2e

import (
	"os/exec"
	"testing"
)

// ownGroup leaves the browser's command as it is: waiting for its helpers is Linux only.
func ownGroup(*exec.Cmd) {}

// endGroup does nothing: the browser's main process has ended (cancelAlloc waits for it).
func endGroup(*testing.T, *exec.Cmd) {}
