//go:build unix

package stack

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestLockDataDirOneOwner: a second owner of a data folder (or of a Temporal database
// file kept elsewhere) is refused with the folder, the holder's pid and the flag to use.
func TestLockDataDirOneOwner(t *testing.T) {
	dir := t.TempDir()
	release, err := LockDataDir(dir, filepath.Join(dir, "temporal.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDataDir(dir, filepath.Join(dir, "temporal.db"))
	want := "data folder " + dir + " is in use by another flowgate (pid " + strconv.Itoa(os.Getpid()) + "): stop it, or choose another folder with --data-dir"
	if err == nil || err.Error() != want {
		t.Fatalf("second lock: %v\nwant %s", err, want)
	}
	release()
	release, err = LockDataDir(dir, "")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	defer release()

	// A --db file outside the folder is locked on its own.
	db := filepath.Join(t.TempDir(), "shared.db")
	r1, err := LockDataDir(t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer r1()
	_, err = LockDataDir(t.TempDir(), db)
	if err == nil || !strings.Contains(err.Error(), "Temporal database "+db+" is in use") || !strings.Contains(err.Error(), "--db") {
		t.Fatalf("second owner of --db: %v", err)
	}
}

// TestLockDoesNotOutliveKilledProcess: SIGKILL the holder and the lock is free at once.
func TestLockDoesNotOutliveKilledProcess(t *testing.T) {
	if os.Getenv("FLOWGATE_LOCK_HOLDER") != "" {
		if _, err := Lock(os.Getenv("FLOWGATE_LOCK_HOLDER")); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		select {} // hold the lock until the test kills this process

	}
	path := filepath.Join(t.TempDir(), "flowgate.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDoesNotOutliveKilledProcess$")
	cmd.Env = append(os.Environ(), "FLOWGATE_LOCK_HOLDER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("holder did not lock: %q %v", buf, err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("while held: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	l, err := Lock(path)
	if err != nil {
		t.Fatalf("after SIGKILL of the holder: %v", err)
	}
	l.Unlock()
}

// TestDataFolderIsItsUsersAlone: the data folder (made new, or made before with wider
// permissions) is narrowed to its user, and what the process writes after PrivateFiles
// (databases, journals, reports) is readable by nobody else.
func TestDataFolderIsItsUsersAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(dir, "--data-dir"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode %v %v, want 0700", fi.Mode().Perm(), err)
	}
	PrivateFiles()
	f, err := os.Create(filepath.Join(dir, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(f.Name()); fi.Mode().Perm() != 0o600 {
		t.Errorf("a file made after PrivateFiles has mode %v, want 0600", fi.Mode().Perm())
	}
}
