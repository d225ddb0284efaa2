//go:build unix

package stack

import (
	"os"
	"syscall"
)

// flock takes an exclusive advisory lock without waiting.
func flock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
