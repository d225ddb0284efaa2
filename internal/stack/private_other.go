//go:build !unix

package stack

// PrivateFiles does nothing where there is no umask; the data folder's permissions
// are the system's.
func PrivateFiles() {}
