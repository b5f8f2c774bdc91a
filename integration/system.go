package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// processesUnder lists the processes started from dir, by PID: every
// process with an argument that is dir or a path below it (an agent's
// --data-dir, its containerd's --config, the shims' -address), and all
// their descendants (the agent's containerd, the containers under the
// shims).
func processesUnder(dir string) []int {
	dir, _ = filepath.Abs(dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var roots []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if slices.ContainsFunc(strings.Split(string(cmdline), "\x00"), func(a string) bool {
			return a == dir || strings.HasPrefix(a, dir+"/")
		}) {
			roots = append(roots, pid)
		}
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		out = append(out, pid)
		for _, c := range children(pid) {
			walk(c)
		}
	}
	for _, p := range roots {
		walk(p)
	}
	return out
}

// killTree is a power cut for everything started from dir (see
// processesUnder), plus extra PIDs: all are stopped first (SIGSTOP), so
// none of them sees another die and reacts (an agent restarting its
// containerd, a shim reporting an exit), then killed with SIGKILL.
func killTree(t testing.TB, dir string, extra ...int) {
	pids := append(processesUnder(dir), extra...)
	for _, pid := range pids {
		if pid > 1 {
			syscall.Kill(pid, syscall.SIGSTOP)
		}
	}
	for _, pid := range pids {
		if pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if len(pids) > 0 {
		t.Logf("killed %d processes running from %s: %v", len(pids), dir, pids)
	}
	// Wait until they are gone (zombies of our own children are reaped
	// by their Wait; others by init).
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); err != nil || isZombie(b) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func isZombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// removePodNetNS unmounts and removes the pod network namespaces an agent
// created: the runtime names them /run/netns/shoal-<pod UID>, and the
// agent keeps each pod's files under <data dir>/pods/<pod UID>.
func removePodNetNS(t testing.TB, dataDir string) {
	dirs, _ := filepath.Glob(filepath.Join(dataDir, "pods", "*"))
	for _, d := range dirs {
		p := filepath.Join("/run/netns", "shoal-"+filepath.Base(d))
		if _, err := os.Stat(p); err != nil {
			continue
		}
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
		if err := os.Remove(p); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
}
