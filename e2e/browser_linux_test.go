//go:build linux

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testenv"
)

// ownGroup makes the browser the leader of a process group of its own, so that endGroup
// can wait for every helper it starts; like chromedp's default, the browser is killed
// with the test binary.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// endGroup kills the browser's process group and waits until none of its processes runs.
// A zombie counts as ended: it writes nothing, and reaping it is its new parent's
// business (a container's first process may take seconds).
func endGroup(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	testenv.WaitFor(t, 10*time.Second, "the browser's processes to end", func() (bool, error) { return !groupRuns(pgid), nil })
}

// groupRuns says whether a process of group pgid runs, zombies aside.
func groupRuns(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}
