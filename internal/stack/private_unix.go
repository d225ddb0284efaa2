//go:build unix

package stack

import "syscall"

// PrivateFiles makes every file and folder this process creates from now on readable
// by its own user only (umask 077): the databases, their journals, the lock, the
// sandbox's reports and the demo backends' state hold data and decisions.
func PrivateFiles() { syscall.Umask(0o077) }
