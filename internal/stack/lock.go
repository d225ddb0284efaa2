package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrLocked is returned by Lock when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// FileLock is an exclusive lock on a file that the operating system releases when the
// process ends, however it ends (kill -9 included), so a stale lock never blocks a start.
type FileLock struct {
	f *os.File
}

// Lock takes the exclusive lock on path without waiting, creating the file when missing,
// and writes the process id into it. When another process holds it, the error wraps
// ErrLocked and names that process's id.
func Lock(path string) (*FileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(f); err != nil {
		raw, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(raw))
		if _, perr := strconv.Atoi(holder); perr != nil {
			holder = "unknown"
		}
		return nil, fmt.Errorf("%w (pid %s)", ErrLocked, holder)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &FileLock{f: f}, nil
}

// Unlock releases the lock.
func (l *FileLock) Unlock() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// LockDataDir takes the lock that makes one process the only owner of a data folder
// (flowgate.lock inside it), and of Temporal's database file when it lives elsewhere. A
// second `flowgate dev` on the same folder stops with one line: the folder, the pid that
// holds it, and the flags that choose another.
func LockDataDir(dataDir, temporalDB string) (release func(), err error) {
	dirLock, err := Lock(filepath.Join(dataDir, "flowgate.lock"))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("data folder %s is in use by another flowgate (%s): stop it, or choose another folder with --data-dir", dataDir, pidOf(err))
		}
		return nil, err
	}
	if temporalDB == "" || isInside(temporalDB, dataDir) {
		return dirLock.Unlock, nil
	}
	dbLock, err := Lock(temporalDB + ".lock")
	if err != nil {
		dirLock.Unlock()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("Temporal database %s is in use by another flowgate (%s): stop it, or choose another file with --db (or --memory)", temporalDB, pidOf(err))
		}
		return nil, err
	}
	return func() { dbLock.Unlock(); dirLock.Unlock() }, nil
}

func pidOf(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "(pid "); i >= 0 {
		return strings.TrimSuffix(msg[i+1:], ")")
	}
	return "pid unknown"
}

// isInside reports whether path lies in dir.
func isInside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
