//go:build !unix

package stack

import "os"

// flock is a no-op where flock(2) does not exist: there the data folder is not guarded.
func flock(*os.File) error { return nil }
