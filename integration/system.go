package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"shoal/internal/testenv"
)

// RequireRoot skips a test that needs root (containerd, network
// namespaces, cgroups) on a developer's machine and fails it under CI,
// where a skip would let a broken runtime pass unseen; it also requires
// the commands the harness and the agent run.
func RequireRoot(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	for _, c := range []string{"containerd", "runc", "ip", "iptables", "go"} {
		testenv.RequireBinary(t, c)
	}
}

// killShimsUnder stops the containerd shims whose containerd lived under
// dir, with the containers they run, by PID. Shims outlive containerd and
// the agent by design (that is how an agent adopts its pods after a
// restart), so once a test's agent is gone for good they are the only
// thing left running; their children are the containers' init processes.
func killShimsUnder(t testing.TB, dir string) {
	dir, _ = filepath.Abs(dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") ||
			!slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, dir+"/") }) {
			continue
		}
		t.Logf("cleanup: stopping leftover shim %d and its containers", pid)
		for _, child := range children(pid) {
			syscall.Kill(child, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// children lists the direct children of pid.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(s); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
